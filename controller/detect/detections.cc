#include "controller/detect/detections.h"

#include <algorithm>

#include "common/utf8.h"
#include "policies/pod_spec.h"

namespace kc::audit {

using detect::kindForResource;
using detect::success;

Detector::Detector(DetectorOptions options)
    : options_(std::move(options)),
      objects_(options_.maxTrackedObjects),
      context_(options_, objects_),
      decided_(options_.maxTrackedRequests) {
  for (const detect::UnitInfo& unit : detect::ruleUnits()) {
    units_.push_back(unit.make(context_));
    EventClasses classes;
    for (std::string_view id : unit.rules) {
      const RuleInfo* r = findRule(id);
      if (r) classes.bits |= r->classes.bits;
    }
    for (size_t c = 0; c < byClass_.size(); ++c) {
      if (classes.has(static_cast<EventClass>(c))) byClass_[c].push_back(units_.back().get());
    }
  }
}

Detector::~Detector() = default;

Detector::Plan Detector::plan(const Event& e) {
  Plan p;
  const bool started = e.stage == "ResponseStarted";
  const bool complete = e.stage == "ResponseComplete";
  if (!started && !complete) return p;
  const std::string_view res = e.hasObjectRef ? e.objectRef.resource : std::string_view();
  const std::string_view sub = e.hasObjectRef ? e.objectRef.subresource : std::string_view();
  p.started = started;
  p.session = res == "pods" && (sub == "exec" || sub == "attach" || sub == "portforward") &&
              (e.verb == "create" || e.verb == "get");
  p.nodeProxy = res == "nodes" && sub == "proxy";
  p.anonymous = e.user.username == "system:anonymous";
  p.impersonation = e.hasImpersonatedUser;
  if (complete) {
    p.credential = (!e.sourceIPs.empty() && (detect::startsWith(e.user.username, "system:") ||
                                             detect::boundToken(e.user))) ||
                   ((res == "pods" || res == "nodes") && sub == "status");
  }
  if (!complete || !success(e.responseCode) || !e.hasObjectRef) return p;

  const std::string_view verb = e.verb;
  const bool write = verb == "create" || verb == "update" || verb == "patch";
  const bool del = verb == "delete" || verb == "deletecollection";
  if (!write && !del) return p;
  if (e.objectRef.apiGroup == "admissionregistration.k8s.io") {
    p.object = ObjectRule::kAdmissionConfig;
  } else if (e.objectRef.apiGroup == "rbac.authorization.k8s.io") {
    if (sub.empty() && (res == "roles" || res == "clusterroles" || res == "rolebindings" ||
                        res == "clusterrolebindings"))
      p.object = ObjectRule::kRbac;
  } else if (e.objectRef.apiGroup == "certificates.k8s.io") {
    if (res == "certificatesigningrequests" &&
        ((verb == "create" && sub.empty()) || (write && sub == "approval")))
      p.object = ObjectRule::kCsr;
  } else if (res == "namespaces" && sub.empty() && e.objectRef.apiGroup.empty()) {
    if (verb == "create") p.object = ObjectRule::kNamespace;
  } else if (del) {
    if (res == "events" &&
        (e.objectRef.apiGroup.empty() || e.objectRef.apiGroup == "events.k8s.io")) {
      p.object = ObjectRule::kEventDeletion;
    }
  } else if (res == "pods" && sub == "ephemeralcontainers") {
    p.object = ObjectRule::kEphemeral;
  } else if (res == "services" && sub.empty() && e.objectRef.apiGroup.empty()) {
    if (write && !e.truncated) p.object = ObjectRule::kService;
  } else if (res == "serviceaccounts" && e.objectRef.apiGroup.empty()) {
    if (verb == "create" && (sub.empty() || sub == "token")) p.object = ObjectRule::kServiceAccount;
  } else if (sub.empty() && !kindForResource(res).empty()) {
    // If the judged object is of a pod-carrying kind; a write whose event lost its bodies
    // (truncated) cannot be judged, which is a finding of its own.
    p.object = e.truncated ? (write ? ObjectRule::kUnjudged : ObjectRule::kNone)
                           : ObjectRule::kPodCarrying;
  }
  return p;
}

Detector::Plan Detector::planFor(const Event& e) const {
  Plan p = plan(e);
  // Without cluster networks only bound tokens are judged, and the nodes' and pods' addresses
  // learned from their status writes (a kubelet's other requests, most of its traffic, stay
  // off the rule's path).
  if (p.credential && options_.clusterNetworks.empty() && !detect::boundToken(e.user) &&
      e.objectRef.subresource != "status")
    p.credential = false;
  return p;
}

void Detector::onEvent(const Event& e, std::vector<Finding>& out) { onEvent(e, planFor(e), out); }

std::vector<DedupeKey> Detector::reportedRequests() const {
  std::vector<DedupeKey> keys;
  keys.reserve(decided_.size());
  decided_.forEachOldestFirst([&](const DedupeKey& k, int64_t) { keys.push_back(k); });
  return keys;
}

void Detector::restoreReportedRequests(const std::vector<DedupeKey>& keys) {
  for (const auto& k : keys) decided_.insert(k, 0);
}

void Detector::onEvent(const Event& e, const Plan& p, std::vector<Finding>& out) {
  // Long-running requests (exec, attach, portforward, watches, proxied upgrades) log
  // ResponseStarted then ResponseComplete; the others only ResponseComplete. Request-level
  // rules report a request once: on ResponseStarted, or on ResponseComplete when nothing was
  // reported on its ResponseStarted. Only the ids of requests reported on ResponseStarted are
  // remembered (as 128-bit hashes): the many long-running requests no rule reports (watches
  // through an impersonating proxy, trusted identities) must not push those out of the set.
  if (p.requestLevel()) {
    const DedupeKey id = requestKey(secret_, e.request());
    if (!decided_.contains(id)) {
      const size_t before = out.size();
      if (p.session) dispatchSession(e, out);
      if (p.nodeProxy) dispatch(EventClass::kNodeProxy, e, out);
      if (p.anonymous) dispatch(EventClass::kAnonymous, e, out);
      if (p.impersonation) dispatch(EventClass::kImpersonation, e, out);
      if (p.started && out.size() > before && decided_.insert(id, 0) && decidedHook_)
        decidedHook_(id);
    }
  }
  if (p.credential) dispatch(EventClass::kCredentialUse, e, out);
  switch (p.object) {
    case ObjectRule::kNone:
      return;
    case ObjectRule::kAdmissionConfig:
      return dispatch(EventClass::kAdmissionConfigWrite, e, out);
    case ObjectRule::kEventDeletion:
      return dispatch(EventClass::kEventDeletion, e, out);
    case ObjectRule::kUnjudged:
      return dispatch(EventClass::kUnjudgedWrite, e, out);
    case ObjectRule::kService:
      return dispatchService(e, out);
    case ObjectRule::kRbac:
      return dispatch(EventClass::kRbacWrite, e, out);
    case ObjectRule::kServiceAccount:
      return dispatch(EventClass::kServiceAccountWrite, e, out);
    case ObjectRule::kCsr:
      return dispatch(EventClass::kCsrWrite, e, out);
    case ObjectRule::kNamespace:
      return dispatch(EventClass::kNamespaceCreate, e, out);
    case ObjectRule::kEphemeral: {
      const simdjson::dom::element obj = detect::judgedObject(e);
      if (!obj.is_object()) return dispatch(EventClass::kEphemeralUnrecorded, e, out);
      return dispatchPod(e, obj, "Pod", out);
    }
    case ObjectRule::kPodCarrying: {
      const simdjson::dom::element obj = detect::judgedObject(e);
      if (!obj.is_object()) {
        // Logged without its body (audit level Metadata): a creation is still told from the
        // request line and the identity.
        if (e.verb == "create") dispatch(EventClass::kPodCreateUnrecorded, e, out);
        return;
      }
      std::string_view kind = detect::str(obj, "kind");
      if (kind.empty()) kind = kindForResource(e.objectRef.resource);
      if (!policy::isPodCarryingKind(kind)) return;
      return dispatchPod(e, obj, kind, out);
    }
  }
}

void Detector::reportAuditIdReuse(const Event& e, std::vector<Finding>& out) {
  dispatch(EventClass::kAuditIdReuse, e, out);
}

void Detector::dispatch(EventClass c, const Event& e, std::vector<Finding>& out) {
  for (detect::RuleUnit* u : byClass_[static_cast<size_t>(c)]) u->onEvent(c, e, out);
}

namespace {

// The options of an exec or attach as the request body holds them (PodExecOptions,
// PodAttachOptions: logged at Request level and above), for a requestURI that does not carry
// them: the command, the container and the streams the URI left out.
void readSessionBody(const Event& e, ExecRequest& r) {
  if (!e.hasRequestObject || !e.requestObject.is_object()) return;
  const simdjson::dom::element body = e.requestObject;
  if (r.command.empty()) {
    simdjson::dom::array argv;
    std::string_view one;
    if (body["command"].get_array().get(argv) == simdjson::SUCCESS) {
      for (simdjson::dom::element arg : argv) {
        if (r.command.size() >= 256) break;
        if (arg.get_string().get(one) == simdjson::SUCCESS)
          r.command.emplace_back(utf8::prefix(one, 4096));
      }
    } else if (body["command"].get_string().get(one) == simdjson::SUCCESS) {
      r.command.emplace_back(utf8::prefix(one, 4096));
    }
  }
  if (r.container.empty())
    r.container = std::string(utf8::prefix(detect::str(body, "container"), 253));
  bool flag = false;
  if (!r.stdin && body["stdin"].get_bool().get(flag) == simdjson::SUCCESS) r.stdin = flag;
  if (!r.tty && body["tty"].get_bool().get(flag) == simdjson::SUCCESS) r.tty = flag;
}

}  // namespace

void Detector::dispatchSession(const Event& e, std::vector<Finding>& out) {
  if (!detect::sessionOk(e.responseCode)) return;
  detect::Session s{e, e.objectRef.subresource, e.objectRef.namespace_, e.objectRef.name,
                    parseExecRequestUri(e.requestURI)};
  // The URI without the options (a client that sends them in the body): from the body.
  if (!s.request && e.hasRequestObject && (s.subresource == "exec" || s.subresource == "attach")) {
    s.request = ExecRequest{};
    s.request->namespace_ = std::string(utf8::prefix(s.ns, 253));
    s.request->pod = std::string(utf8::prefix(s.pod, 253));
    s.request->subresource = std::string(s.subresource);
  }
  if (s.request && s.subresource != "portforward") readSessionBody(e, *s.request);
  if (s.request && s.ns.empty()) s.ns = s.request->namespace_;
  if (s.request && s.pod.empty()) s.pod = s.request->pod;
  for (detect::RuleUnit* u : byClass_[static_cast<size_t>(EventClass::kSession)])
    u->onSession(s, out);
}

void Detector::dispatchPod(const Event& e, simdjson::dom::element obj, std::string_view kind,
                           std::vector<Finding>& out) {
  detect::PodWrite w(context_, e, obj, kind, objects_);
  if (!w.valid()) return;
  for (detect::RuleUnit* u : byClass_[static_cast<size_t>(EventClass::kPodWrite)]) u->onPod(w, out);
}

void Detector::dispatchService(const Event& e, std::vector<Finding>& out) {
  const std::optional<detect::ServiceWrite> w = services_.observe(e);
  if (!w) return;
  for (detect::RuleUnit* u : byClass_[static_cast<size_t>(EventClass::kServiceWrite)])
    u->onService(*w, out);
}

}  // namespace kc::audit
