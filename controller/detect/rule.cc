#include "controller/detect/rule.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/utf8.h"
#include "controller/detect/detections.h"
#include "policies/loader.h"
#include "policies/rules.h"

namespace kc::audit::detect {

bool RuleContext::trusted(std::string_view rule, std::string_view user) const {
  for (std::string_view key : {rule, std::string_view("*")}) {
    auto it = options_.trustedIdentities.find(std::string(key));
    if (it == options_.trustedIdentities.end()) continue;
    for (const auto& g : it->second) {
      if (policy::wildcardMatch(g, user)) return true;  // the policies' identity globs
    }
  }
  return false;
}

Finding RuleContext::finding(const Event& e, std::string_view rule) const {
  Finding f;
  f.rule = std::string(rule);
  if (const RuleInfo* r = findRule(rule)) {
    f.technique = std::string(r->technique);
    f.techniqueName = std::string(r->techniqueName);
  }
  f.auditID = std::string(e.auditID);
  f.stage = std::string(e.stage);
  f.verb = std::string(e.verb);
  if (e.hasObjectRef) {
    f.resource = std::string(e.objectRef.resource);
    f.subresource = std::string(e.objectRef.subresource);
    f.namespace_ = std::string(e.objectRef.namespace_);
    f.name = std::string(e.objectRef.name);
    f.kind = std::string(kindForResource(e.objectRef.resource));
    if (f.kind.empty()) f.kind = f.resource;
  }
  f.user = std::string(e.user.username);
  if (e.hasImpersonatedUser) f.impersonatedUser = std::string(e.impersonatedUser.username);
  f.userAgent = std::string(utf8::prefix(e.userAgent, 256));
  if (!e.sourceIPs.empty()) f.sourceIP = std::string(e.sourceIPs[0]);
  f.responseCode = e.responseCode;
  f.timeMicros = e.timeMicros;
  return f;
}

bool RuleContext::systemNamespace(std::string_view ns) const {
  if (ns.empty()) return false;
  for (const auto& g : options_.system.namespaces) {
    if (policy::wildcardMatch(g, ns)) return true;
  }
  return false;
}

bool RuleContext::systemIdentity(std::string_view user) const {
  if (user.empty() || user == "system:anonymous") return false;
  for (const auto& g : options_.system.usernames) {
    if (policy::wildcardMatch(g, user)) return true;
  }
  // system:serviceaccount:<namespace>:<name>
  constexpr std::string_view kSa = "system:serviceaccount:";
  if (!startsWith(user, kSa)) return false;
  const std::string_view rest = user.substr(kSa.size());
  const size_t colon = rest.find(':');
  return colon != std::string_view::npos && systemNamespace(rest.substr(0, colon));
}

bool boundToken(const UserInfo& user) {
  return !user.extraValue("authentication.kubernetes.io/pod-name").empty() ||
         !user.extraValue("authentication.kubernetes.io/node-name").empty();
}

element judgedObject(const Event& e) {
  if (e.truncated) return policy::nullElement();
  if (e.hasResponseObject && e.responseObject.is_object()) return e.responseObject;
  if (e.verb != "patch" && e.hasRequestObject && e.requestObject.is_object())
    return e.requestObject;
  return policy::nullElement();
}

std::string_view str(element e, std::string_view key) {
  std::string_view v;
  if (e.is_object() && e[key].get_string().get(v) == simdjson::SUCCESS) return v;
  return {};
}

std::string_view kindForResource(std::string_view resource) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kKinds = {{
      {"pods", "Pod"},
      {"deployments", "Deployment"},
      {"replicasets", "ReplicaSet"},
      {"statefulsets", "StatefulSet"},
      {"daemonsets", "DaemonSet"},
      {"jobs", "Job"},
      {"cronjobs", "CronJob"},
      {"replicationcontrollers", "ReplicationController"},
      {"podtemplates", "PodTemplate"},
  }};
  for (const auto& [r, k] : kKinds) {
    if (r == resource) return k;
  }
  return {};
}

std::string joinList(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out.append(sep);
    out.append(s);
  }
  return out;
}

void addUnique(std::vector<std::string>& v, std::string s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(std::move(s));
}

std::string objectPath(std::string_view ns, std::string_view name) {
  if (ns.empty()) return std::string(name);
  return std::string(ns) + "/" + std::string(name);
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> failedOpenWebhooks(const Event& e) {
  std::vector<std::string> names;
  for (const auto& [k, val] : e.annotations) {
    if (startsWith(k, "failed-open.")) addUnique(names, std::string(utf8::prefix(val, 253)));
  }
  return names;
}

namespace {

struct Meta {
  std::string_view uid, name, namespace_, ownerUid;
};

Meta readMeta(element obj) {
  Meta m;
  element md;
  if (obj["metadata"].get(md) != simdjson::SUCCESS || !md.is_object()) return m;
  m.uid = str(md, "uid");
  m.name = str(md, "name");
  m.namespace_ = str(md, "namespace");
  simdjson::dom::array refs;
  if (md["ownerReferences"].get_array().get(refs) == simdjson::SUCCESS) {
    for (element r : refs) {
      bool controller = false;
      if (r["controller"].get_bool().get(controller) != simdjson::SUCCESS || !controller) continue;
      m.ownerUid = str(r, "uid");
      break;
    }
  }
  return m;
}

}  // namespace

PodWrite::PodWrite(const RuleContext& ctx, const Event& event, element object,
                   std::string_view objectKind, ObjectTracker& objects)
    : e(event), obj(object), kind(objectKind), ctx_(ctx) {
  ephemeralSub = e.objectRef.subresource == "ephemeralcontainers";
  if (policy::extractPod(obj, kind, pod) != policy::ExtractStatus::kOk) return;
  const Meta meta = readMeta(obj);
  // Views into the event: valid while it is.
  ns = !meta.namespace_.empty() ? meta.namespace_ : e.objectRef.namespace_;
  name = !meta.name.empty() ? meta.name : e.objectRef.name;
  uid = !meta.uid.empty() ? meta.uid : e.objectRef.uid;
  requestUser = std::string(e.user.username);
  create = e.verb == "create" && !ephemeralSub;
  controller = isWorkloadController(requestUser);

  // What is known of the object itself. The record is updated in place below; what this event
  // compares against is its state before: the keys it had (the first prevKeys_ of them), its
  // actor, changers and containers (read before they are changed).
  TrackedObject* existing = objects.find(uid);
  if (!existing) {
    TrackedObject* byName = objects.findByName(kind, ns, name);
    if (byName && (byName->uid.empty() || uid.empty())) existing = byName;
  }
  seenBefore = existing != nullptr && !create;
  // upsert resets a record known by name only once it gets a uid: keep a copy of it then.
  const bool resets = seenBefore && !uid.empty() && existing->uid != uid;
  if (resets) resetCopy_ = *existing;

  // The owner is marked recently used first, so that upsert does not evict it.
  if (!meta.ownerUid.empty()) objects.find(meta.ownerUid);
  rec_ = &objects.upsert(uid, kind, ns, name);
  static const TrackedObject kNone;
  prev_ = !seenBefore ? &kNone : resets ? &resetCopy_ : rec_;
  prevKeys_ = prev_->findingKeys.size();
  // And of the owner (looked up again: upsert may move records). Its keys are compared the same
  // way, in case the owner is this very object (hostile input).
  owner_ = meta.ownerUid.empty() ? nullptr : objects.find(meta.ownerUid);
  ownerKeys_ = owner_ ? owner_->findingKeys.size() : 0;
  if (controller && owner_ && !owner_->actor.empty()) {
    actor = owner_->actor;
    actorUserAgent = owner_->actorUserAgent;
  } else if (controller && seenBefore && !prev_->actor.empty()) {
    actor = prev_->actor;
    actorUserAgent = prev_->actorUserAgent;
  } else {
    actor = requestUser;
    actorUserAgent = std::string(utf8::prefix(e.userAgent, 256));
  }
  TrackedObject& r = *rec_;
  if (create) {
    r.findingKeys.clear();
    r.changers.clear();
    r.hasContainers = false;
  }
  // Attribution moves to whoever changes the object, except to system identities (controllers,
  // the garbage collector adopting or orphaning): they act for someone else.
  if (create || !ctx_.systemIdentity(requestUser) || r.actor.empty()) {
    r.actor = actor;
    r.actorUserAgent = actorUserAgent;
  }
  r.ownerUid = std::string(meta.ownerUid);

  for (const auto& c : pod.containers) {
    if (c.image.set && !c.image.value.empty() && images.size() < kMaxListed) {
      addUnique(images, std::string(utf8::prefix(c.image.value, 512)));
    }
    if (c.kind == policy::ContainerKind::kEphemeral) ephemeralNames_.emplace_back(c.name);
  }
}

bool PodWrite::isEphemeral(std::string_view container) const {
  return std::find(ephemeralNames_.begin(), ephemeralNames_.end(), container) !=
         ephemeralNames_.end();
}

std::string PodWrite::what() const { return std::string(kind) + " " + objectPath(ns, name); }

Finding PodWrite::finding(std::string_view rule) const {
  Finding f = ctx_.finding(e, rule);
  f.kind = std::string(kind);
  f.namespace_ = ns;
  f.name = name;
  f.user = actor;
  if (actor != requestUser) f.requestUser = requestUser;
  f.images = images;
  return f;
}

bool PodWrite::foundBefore(std::string_view key) const {
  return (owner_ && owner_->hasKey(key, ownerKeys_)) || prev_->hasKey(key, prevKeys_);
}

std::vector<Hit> PodWrite::fresh(std::vector<Hit> hits) {
  std::vector<Hit> kept;
  for (auto& h : hits) {
    const bool old = foundBefore(h.key);
    rec_->addKey(h.key);
    if (!old) kept.push_back(std::move(h));
  }
  return kept;
}

void PodWrite::report(std::string_view rule, const std::vector<Hit>& hits, const std::string& lead,
                      Findings& out) const {
  Finding f = finding(rule);
  f.severity = Severity::kLow;
  std::vector<std::string> detail;
  for (const auto& h : hits) {
    f.severity = maxSeverity(f.severity, h.severity);
    if (!h.container.empty()) addUnique(f.containers, h.container);
    if (!h.detail.empty()) addUnique(detail, h.detail);
  }
  if (detail.size() > kMaxListed) {
    const size_t more = detail.size() - kMaxListed;
    detail.resize(kMaxListed);
    detail.push_back("... (" + std::to_string(more) + " more)");
  }
  if (f.containers.size() > kMaxListed) f.containers.resize(kMaxListed);
  if (!detail.empty()) f.details["what"] = joinList(detail);
  f.summary = lead + (detail.empty() ? "" : ": " + joinList(detail));
  out.push_back(std::move(f));
}

const std::vector<std::string>& PodWrite::hostPaths() {
  if (!hostPaths_) {
    hostPaths_.emplace();
    for (const auto& v : pod.volumes) {
      if (v.type == "hostPath") hostPaths_->push_back(normalizeHostPath(v.hostPath));
    }
  }
  return *hostPaths_;
}

bool PodWrite::mountsHostRoot() {
  const std::vector<std::string>& paths = hostPaths();
  return std::find(paths.begin(), paths.end(), "/") != paths.end();
}

std::optional<ServiceWrite> ServiceMemory::observe(const Event& e) {
  const element obj = judgedObject(e);
  if (!obj.is_object()) return std::nullopt;
  ServiceWrite w{e, obj, policy::nullElement(), {}, {}};
  if (obj["spec"].get(w.spec) != simdjson::SUCCESS || !w.spec.is_object())
    w.spec = policy::nullElement();
  const std::string_view type = str(w.spec, "type");
  ServiceExposure& now = w.now;
  now.type = std::string(type.empty() ? std::string_view("ClusterIP") : utf8::prefix(type, 32));
  now.outside = type == "NodePort" || type == "LoadBalancer";
  simdjson::dom::array ips;
  if (w.spec.is_object() && w.spec["externalIPs"].get_array().get(ips) == simdjson::SUCCESS) {
    for (element v : ips) {
      std::string_view ip;
      if (v.get_string().get(ip) != simdjson::SUCCESS || ip.empty()) continue;
      if (now.externalIPs.size() >= kMaxListed) break;
      now.externalIPs.emplace_back(utf8::prefix(ip, 64));
    }
    std::sort(now.externalIPs.begin(), now.externalIPs.end());
    now.externalIPs.erase(std::unique(now.externalIPs.begin(), now.externalIPs.end()),
                          now.externalIPs.end());
  }
  {
    const policy::ServiceExposureModel judged = policy::readServiceExposure(obj);
    std::string text(utf8::prefix(judged.externalName, 253));
    for (const auto& [port, nodePort] : judged.ports)
      text += "," + std::to_string(port) + ":" + std::to_string(nodePort);
    if (judged.invalidPorts) text += ",?";
    now.judgedHash = std::hash<std::string>{}(text);
  }

  // Against the last state seen. A create starts from nothing. A change of a Service not seen
  // before (created before this process, or forgotten) is judged on what the request touched:
  // a patch that sets none of type, ports and externalIPs changes no exposure; a full update
  // cannot tell and is judged as new.
  const std::string key = std::string(utf8::prefix(e.objectRef.namespace_, 253)) + "/" +
                          std::string(utf8::prefix(e.objectRef.name, 253));
  const ServiceExposure* seen = services_.find(key);
  if (e.verb != "create" && seen != nullptr) {
    w.was = *seen;
  } else if (e.verb == "patch") {
    const element patch = e.hasRequestObject ? e.requestObject : policy::nullElement();
    element ps;
    if (!patch.is_object() || patch["spec"].get(ps) != simdjson::SUCCESS)
      ps = policy::nullElement();
    const bool touched =
        ps.is_object() && (!ps["type"].error() || !ps["ports"].error() ||
                           !ps["externalName"].error() || !ps["externalIPs"].error());
    // A JSON patch ([{"op":..,"path":"/spec/type"}]) is an array: judged as touching.
    if (!touched && !patch.is_array()) w.was = now;
  }
  services_.put(key, now);
  return w;
}

}  // namespace kc::audit::detect
