#include "controller/detections.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <functional>
#include <iterator>
#include <span>

#include "common/json_writer.h"
#include "common/utf8.h"
#include "policies/loader.h"
#include "policies/pod_spec.h"
#include "policies/rules.h"

namespace kc::audit {
namespace {

// The object an event is judged by: the admitted object (responseObject) when present, else
// the submitted one (requestObject) unless the request was a patch (a patch is not an object).
// Truncated events carry no bodies. A JSON null when there is none.
simdjson::dom::element judgedObject(const Event& e) {
  if (e.truncated) return policy::nullElement();
  if (e.hasResponseObject && e.responseObject.is_object()) return e.responseObject;
  if (e.verb != "patch" && e.hasRequestObject && e.requestObject.is_object())
    return e.requestObject;
  return policy::nullElement();
}

using simdjson::dom::element;

// The catalog. Order is the order of docs/detections.md.
const std::vector<RuleInfo> kRules = {
    {"policy-violation", "T1610", "Deploy Container",
     "Admitted object violates an admission policy"},
    {"privileged-container", "T1611", "Escape to Host", "Privileged container"},
    {"host-namespace", "T1611", "Escape to Host", "Pod shares a host namespace"},
    {"host-port", "T1610", "Deploy Container", "Container binds a host port"},
    {"sensitive-host-path", "T1611", "Escape to Host", "Sensitive host path mounted"},
    {"dangerous-capability", "T1611", "Escape to Host", "Dangerous Linux capability added"},
    {"pod-exec", "T1609", "Container Administration Command", "Command executed in a pod"},
    {"pod-attach", "T1609", "Container Administration Command", "Attached to a running container"},
    {"pod-portforward", "T1572", "Protocol Tunneling", "Port forwarded into a pod"},
    {"ephemeral-container", "T1610", "Deploy Container", "Ephemeral container added to a pod"},
    {"node-debug-pod", "T1611", "Escape to Host", "Node debugging pod"},
    {"mirror-pod", "T1610", "Deploy Container", "Static (mirror) pod created by a node"},
    {"system-namespace-workload", "T1610", "Deploy Container",
     "Workload in a system namespace from a non-system identity"},
    {"system-component-name", "T1036.005", "Masquerading: Match Legitimate Name or Location",
     "Workload named like a system component"},
    {"daemonset-created", "T1610", "Deploy Container", "New DaemonSet"},
    {"cronjob-created", "T1053.007", "Scheduled Task/Job: Container Orchestration Job",
     "New CronJob"},
    {"webhook-config-changed", "T1562.001", "Impair Defenses: Disable or Modify Tools",
     "Admission webhook or policy configuration changed"},
    {"nodes-proxy-access", "T1609", "Container Administration Command",
     "Kubelet API reached through nodes/proxy"},
    {"events-deleted", "T1070", "Indicator Removal", "Kubernetes events deleted"},
    {"service-exposed", "T1133", "External Remote Services",
     "Service exposed outside the cluster network (NodePort, LoadBalancer)"},
    {"service-external-ips", "T1557", "Adversary-in-the-Middle",
     "Service given externalIPs (captures in-cluster traffic to those addresses)"},
    {"audit-id-reused", "T1562", "Impair Defenses",
     "Request sent with the auditID of an earlier request"},
    {"unjudged-object", "T1562", "Impair Defenses",
     "Pod or workload written with no body in the audit log"},
    {"anonymous-request-allowed", "T1078.001", "Valid Accounts: Default Accounts",
     "Anonymous request allowed"},
    {"privileged-impersonation", "T1078", "Valid Accounts",
     "Impersonation of a privileged identity"},
    {"workload-image-changed", "T1491.001", "Defacement: Internal Defacement",
     "Workload image or command changed by a new identity"},
    {"unexpected-creator", "T1078", "Valid Accounts",
     "Creator never seen for this kind in this namespace"},
    {"unexpected-image-source", "T1610", "Deploy Container",
     "Image source never seen for this kind in this namespace"},
    {"unexpected-user-agent", "T1078", "Valid Accounts",
     "Client never seen creating this kind in this namespace"},
};

bool isSystemNamespace(std::string_view ns) {
  return std::find(policy::kSystemNamespaces.begin(), policy::kSystemNamespaces.end(), ns) !=
         policy::kSystemNamespaces.end();
}

bool startsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Identities of the control plane and kube-system: "system:*" except anonymous and service
// accounts of other namespaces.
bool isSystemIdentity(std::string_view user) {
  if (!startsWith(user, "system:")) return false;
  if (user == "system:anonymous") return false;
  if (startsWith(user, "system:serviceaccount:")) {
    return startsWith(user, "system:serviceaccount:kube-system:");
  }
  return true;
}

bool success(int code) { return code == 0 || (code >= 200 && code < 300); }
bool sessionOk(int code) { return success(code) || code == 101; }

// Adds `key` (absent) to `map` with a default value, first forgetting the oldest keys while the
// map holds `cap`; `order` lists the map's keys oldest first.
template <typename Map>
typename Map::iterator insertForgettingOldest(Map& map, std::deque<std::string>& order, size_t cap,
                                              const std::string& key) {
  while (!order.empty() && map.size() >= cap) {
    map.erase(order.front());
    order.pop_front();
  }
  order.push_back(key);
  return map.emplace(key, typename Map::mapped_type{}).first;
}

std::string_view str(element e, std::string_view key) {
  std::string_view v;
  if (e.is_object() && e[key].get_string().get(v) == simdjson::SUCCESS) return v;
  return {};
}

struct Meta {
  std::string_view kind, uid, name, namespace_, ownerUid, ownerKind;
};

Meta readMeta(element obj) {
  Meta m;
  m.kind = str(obj, "kind");
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
      m.ownerKind = str(r, "kind");
      break;
    }
  }
  return m;
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

// The pod spec element of a pod-carrying object, or a null element.
element podSpec(element obj, std::string_view kind) {
  static constexpr std::string_view kPod[] = {"spec"};
  static constexpr std::string_view kCronJob[] = {"spec", "jobTemplate", "spec", "template",
                                                  "spec"};
  static constexpr std::string_view kPodTemplate[] = {"template", "spec"};
  static constexpr std::string_view kWorkload[] = {"spec", "template", "spec"};
  using Path = std::span<const std::string_view>;
  const Path path = kind == "Pod"           ? Path(kPod)
                    : kind == "CronJob"     ? Path(kCronJob)
                    : kind == "PodTemplate" ? Path(kPodTemplate)
                                            : Path(kWorkload);
  element e = obj;
  for (auto p : path) {
    if (!e.is_object() || e[p].get(e) != simdjson::SUCCESS) return policy::nullElement();
  }
  return e.is_object() ? e : policy::nullElement();
}

std::string joinStrings(element arr) {
  std::string out;
  simdjson::dom::array a;
  if (arr.get_array().get(a) != simdjson::SUCCESS) return out;
  for (element v : a) {
    std::string_view s;
    if (v.get_string().get(s) != simdjson::SUCCESS) continue;
    if (!out.empty()) out.push_back(' ');
    out.append(utf8::prefix(s, 512));
    if (out.size() > 2048) break;
  }
  return out;
}

// The container lists of a pod spec, with the prefix ContainerState puts before the names of
// their containers ("init:migrate").
constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kLists = {
    {{"initContainers", "init:"}, {"containers", ""}, {"ephemeralContainers", "ephemeral:"}}};

// A container's own name, from the name ContainerState gives it.
std::string plainContainerName(std::string_view stateName) {
  for (const auto& [list, prefix] : kLists) {
    if (!prefix.empty() && startsWith(stateName, prefix))
      return std::string(stateName.substr(prefix.size()));
  }
  return std::string(stateName);
}

std::vector<ContainerState> readContainers(element obj, std::string_view kind) {
  std::vector<ContainerState> out;
  element spec = podSpec(obj, kind);
  if (!spec.is_object()) return out;
  // The three lists are found in one pass over the spec, each container in one pass over its
  // fields (a lookup by key scans the object).
  // A key given twice counts the first time, as a lookup by key would.
  simdjson::dom::array lists[kLists.size()];
  bool seen[kLists.size()] = {}, has[kLists.size()] = {};
  for (simdjson::dom::key_value_pair kv : simdjson::dom::object(spec.get_object().value_unsafe())) {
    for (size_t i = 0; i < kLists.size(); ++i) {
      if (seen[i] || kv.key != kLists[i].first) continue;
      seen[i] = true;
      has[i] = kv.value.get_array().get(lists[i]) == simdjson::SUCCESS;
    }
  }
  for (size_t i = 0; i < kLists.size(); ++i) {
    if (!has[i]) continue;
    for (element c : lists[i]) {
      if (out.size() >= 64) return out;
      simdjson::dom::object co;
      std::string_view name, image;
      element command, args;
      bool hasName = false, hasImage = false, hasCommand = false, hasArgs = false;
      if (c.get_object().get(co) == simdjson::SUCCESS) {
        for (simdjson::dom::key_value_pair kv : co) {
          if (kv.key == "name" && !hasName) {
            hasName = true;
            if (kv.value.get_string().get(name) != simdjson::SUCCESS) name = {};
          } else if (kv.key == "image" && !hasImage) {
            hasImage = true;
            if (kv.value.get_string().get(image) != simdjson::SUCCESS) image = {};
          } else if (kv.key == "command" && !hasCommand) {
            command = kv.value;
            hasCommand = true;
          } else if (kv.key == "args" && !hasArgs) {
            args = kv.value;
            hasArgs = true;
          }
        }
      }
      ContainerState s;
      s.name.reserve(kLists[i].second.size() + std::min<size_t>(name.size(), 253));
      s.name.append(kLists[i].second).append(utf8::prefix(name, 253));
      s.image.assign(utf8::prefix(image, 512));
      if (hasCommand) s.command = joinStrings(command);
      if (hasArgs) {
        std::string joined = joinStrings(args);
        if (!joined.empty()) s.command += (s.command.empty() ? "" : " ") + joined;
      }
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::string joinList(const std::vector<std::string>& v, std::string_view sep = ", ") {
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

Severity maxSeverity(Severity a, Severity b) { return a > b ? a : b; }

// Lists in a finding (images, containers, offending items) are cut here: an alert annotation is
// for people, and the audit event keeps the rest.
constexpr size_t kMaxListed = 16;

// One observation of a rule on an object, with the key that suppresses it later.
struct Hit {
  std::string key;
  std::string container;
  std::string detail;
  Severity severity = Severity::kMedium;
};

// Levenshtein distance of a and b when it is at most t, else t + 1. b is at most 63
// characters. Only the diagonal band |i - j| <= t is computed (cells outside it are over t),
// and the computation stops at the first row whose minimum is over t: row minima never
// decrease.
size_t boundedLevenshtein(std::string_view a, std::string_view b, size_t t) {
  const size_t n = a.size(), m = b.size();
  const size_t over = t + 1;
  if ((n > m ? n - m : m - n) > t) return over;
  size_t prev[65], cur[65];
  for (size_t j = 0; j <= m; ++j) prev[j] = std::min(j, over);
  for (size_t i = 1; i <= n; ++i) {
    const size_t lo = i > t ? i - t : 1;
    const size_t hi = std::min(m, i + t);
    cur[lo - 1] = lo == 1 ? std::min(i, over) : over;
    size_t rowMin = cur[lo - 1];
    for (size_t j = lo; j <= hi; ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub, over});
      rowMin = std::min(rowMin, cur[j]);
    }
    if (hi < m) cur[hi + 1] = over;  // the next row reads it as its upper neighbour
    if (rowMin > t) return over;
    std::copy(cur + lo - 1, cur + std::min(m, hi + 1) + 1, prev + lo - 1);
  }
  return std::min(prev[m], over);
}

// The admission webhooks the apiserver says failed open for the request (annotations
// failed-open.*, whose values name them).
std::vector<std::string> failedOpenWebhooks(const Event& e) {
  std::vector<std::string> names;
  for (const auto& [k, val] : e.annotations) {
    if (startsWith(k, "failed-open.")) addUnique(names, std::string(utf8::prefix(val, 253)));
  }
  return names;
}

// A policy violation's severity as a finding: enforced high, audited medium, warned low.
Severity severityOf(policy::Mode mode) {
  return mode == policy::Mode::kEnforce ? Severity::kHigh
         : mode == policy::Mode::kAudit ? Severity::kMedium
                                        : Severity::kLow;
}

constexpr std::string_view kWebhookDidNotStopIt =
    "the admission webhook failed open, was bypassed or was down";

// The details and summary of a policy-violation finding on `what` ("Pod ns/name").
void completePolicyFinding(Finding& f, const Event& e, const std::string& what,
                           const std::vector<std::string>& rules,
                           const std::vector<std::string>& policies, bool enforced,
                           std::string_view why = kWebhookDidNotStopIt) {
  f.details["rules"] = joinList(rules);
  f.details["policies"] = joinList(policies);
  f.summary = what +
              (enforced ? " was admitted despite enforced policy violations ("
                        : " violates audited policies (") +
              joinList(rules) + ")";
  if (enforced) f.summary += ": " + std::string(why);
  const std::vector<std::string> failedOpen = failedOpenWebhooks(e);
  if (!failedOpen.empty()) f.details["failedOpenWebhooks"] = joinList(failedOpen);
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

const std::vector<RuleInfo>& detectionRules() { return kRules; }

const RuleInfo* findRule(std::string_view id) {
  for (const auto& r : kRules) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

nlohmann::json toJson(const Finding& f) {
  nlohmann::json j = {
      {"rule", f.rule},
      {"severity", std::string(severityName(f.severity))},
      {"technique", f.technique},
      {"techniqueName", f.techniqueName},
      {"summary", f.summary},
      {"auditID", f.auditID},
      {"namespace", f.namespace_},
      {"user", f.user},
  };
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  put("stage", f.stage);
  put("verb", f.verb);
  put("kind", f.kind);
  put("resource", f.resource);
  put("subresource", f.subresource);
  put("name", f.name);
  put("requestUser", f.requestUser);
  put("impersonatedUser", f.impersonatedUser);
  put("userAgent", f.userAgent);
  put("sourceIP", f.sourceIP);
  put("command", f.command);
  put("container", f.container());
  if (f.responseCode) j["responseCode"] = f.responseCode;
  if (f.timeMicros) j["timeMicros"] = f.timeMicros;
  if (!f.images.empty()) j["images"] = f.images;
  if (!f.containers.empty()) j["containers"] = f.containers;
  if (!f.indicators.empty()) j["indicators"] = f.indicators;
  if (!f.violations.empty()) j["violations"] = f.violations;
  if (!f.details.empty()) j["details"] = f.details;
  return j;
}

void appendJson(std::string& out, const Finding& f) {
  // Keys in the order toJson(f).dump() writes them (nlohmann objects are sorted by key).
  bool first = true;
  auto key = [&](std::string_view k) {
    out.append(first ? "{\"" : ",\"");
    first = false;
    out.append(k);
    out.append("\":");
  };
  auto always = [&](std::string_view k, std::string_view v) {
    key(k);
    kc::json::appendJsonString(out, v);
  };
  auto put = [&](std::string_view k, std::string_view v) {
    if (!v.empty()) always(k, v);
  };
  auto list = [&](std::string_view k, const std::vector<std::string>& v) {
    if (v.empty()) return;
    key(k);
    for (size_t i = 0; i < v.size(); ++i) {
      out.push_back(i == 0 ? '[' : ',');
      kc::json::appendJsonString(out, v[i]);
    }
    out.push_back(']');
  };
  always("auditID", f.auditID);
  put("command", f.command);
  if (!f.containers.empty()) put("container", f.containers[0]);
  list("containers", f.containers);
  if (!f.details.empty()) {
    key("details");
    bool firstDetail = true;
    for (const auto& [k, v] : f.details) {
      out.push_back(firstDetail ? '{' : ',');
      firstDetail = false;
      kc::json::appendJsonString(out, k);
      out.push_back(':');
      kc::json::appendJsonString(out, v);
    }
    out.push_back('}');
  }
  list("images", f.images);
  put("impersonatedUser", f.impersonatedUser);
  list("indicators", f.indicators);
  put("kind", f.kind);
  put("name", f.name);
  always("namespace", f.namespace_);
  put("requestUser", f.requestUser);
  put("resource", f.resource);
  if (f.responseCode) {
    key("responseCode");
    kc::json::appendJsonInt(out, f.responseCode);
  }
  always("rule", f.rule);
  always("severity", severityName(f.severity));
  put("sourceIP", f.sourceIP);
  put("stage", f.stage);
  put("subresource", f.subresource);
  always("summary", f.summary);
  always("technique", f.technique);
  always("techniqueName", f.techniqueName);
  if (f.timeMicros) {
    key("timeMicros");
    kc::json::appendJsonInt(out, f.timeMicros);
  }
  always("user", f.user);
  put("userAgent", f.userAgent);
  put("verb", f.verb);
  list("violations", f.violations);
  out.push_back('}');
}

std::string normalizeHostPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view seg = path.substr(i, j - i);
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!seg.empty() && seg != ".") {
      parts.push_back(seg);
    }
    i = j + 1;
  }
  std::string out;
  for (auto p : parts) {
    out.push_back('/');
    out.append(p);
  }
  return out.empty() ? "/" : out;
}

Severity hostPathSeverity(std::string_view rawPath) {
  struct Entry {
    std::string_view path;
    Severity severity;
  };
  static constexpr std::array<Entry, 33> kSensitive = {{
      {"/", Severity::kCritical},
      {"/var/run/docker.sock", Severity::kCritical},
      {"/run/docker.sock", Severity::kCritical},
      {"/var/run/containerd", Severity::kCritical},
      {"/run/containerd", Severity::kCritical},
      {"/var/run/crio", Severity::kCritical},
      {"/run/crio", Severity::kCritical},
      {"/var/run/cri-dockerd.sock", Severity::kCritical},
      {"/run/cri-dockerd.sock", Severity::kCritical},
      {"/run/k3s", Severity::kCritical},
      {"/var/run/dockershim.sock", Severity::kCritical},
      {"/run/podman", Severity::kCritical},
      {"/proc", Severity::kCritical},
      {"/root", Severity::kCritical},
      {"/var/lib/kubelet", Severity::kCritical},
      {"/etc/kubernetes", Severity::kCritical},
      {"/var/lib/etcd", Severity::kCritical},
      {"/var/lib/rancher", Severity::kCritical},
      {"/etc", Severity::kHigh},
      {"/sys", Severity::kHigh},
      {"/dev", Severity::kHigh},
      {"/boot", Severity::kHigh},
      {"/home", Severity::kHigh},
      {"/var/lib/docker", Severity::kHigh},
      {"/var/lib/containerd", Severity::kHigh},
      {"/var/lib/containers", Severity::kHigh},
      {"/lib/modules", Severity::kHigh},
      {"/usr/lib/modules", Severity::kHigh},
      {"/var/run/secrets", Severity::kHigh},
      {"/run/secrets", Severity::kHigh},
      {"/var/log", Severity::kMedium},
      {"/var/run", Severity::kHigh},
      {"/run", Severity::kHigh},
  }};
  const std::string p = normalizeHostPath(rawPath);
  Severity worst = Severity::kInfo;
  for (const auto& e : kSensitive) {
    bool hit = false;
    if (p == e.path) {
      hit = true;
    } else if (e.path == "/") {
      hit = false;  // only "/" itself; everything is below it
    } else if (startsWith(p, e.path) && p[e.path.size()] == '/') {
      hit = true;  // inside a sensitive location
    } else if (p == "/" || (startsWith(e.path, p) && e.path[p.size()] == '/')) {
      hit = true;  // contains a sensitive location
    }
    if (hit) worst = maxSeverity(worst, e.severity);
  }
  return worst;
}

Severity capabilitySeverity(std::string_view capability) {
  std::string c = upper(capability);
  if (startsWith(c, "CAP_")) c = c.substr(4);
  static constexpr std::array<std::string_view, 3> kCritical = {"ALL", "SYS_ADMIN", "SYS_MODULE"};
  static constexpr std::array<std::string_view, 10> kHigh = {
      "SYS_PTRACE", "DAC_READ_SEARCH", "BPF",          "PERFMON", "SYS_RAWIO",
      "SYS_BOOT",   "MAC_ADMIN",       "MAC_OVERRIDE", "SYSLOG",  "DAC_OVERRIDE"};
  static constexpr std::array<std::string_view, 4> kMedium = {"NET_ADMIN", "NET_RAW", "SYS_TIME",
                                                              "SYS_RESOURCE"};
  auto in = [&](const auto& list) { return std::find(list.begin(), list.end(), c) != list.end(); };
  if (in(kCritical)) return Severity::kCritical;
  if (in(kHigh)) return Severity::kHigh;
  if (in(kMedium)) return Severity::kMedium;
  return Severity::kInfo;
}

ComponentMatch matchSystemComponent(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kComponents = {"kube-apiserver",
                                                                   "kube-controller-manager",
                                                                   "kube-scheduler",
                                                                   "kube-proxy",
                                                                   "coredns",
                                                                   "kube-dns",
                                                                   "etcd",
                                                                   "cloud-controller-manager",
                                                                   "konnectivity-agent",
                                                                   "kube-addon-manager"};
  // Candidate prefixes end at '-' boundaries: "kube-proxy-x7k2p" -> "kube", "kube-proxy", ...
  // A prefix equal to a component is the name itself or a start followed by '-'.
  for (auto c : kComponents) {
    if (startsWith(name, c) && (name.size() == c.size() || name[c.size()] == '-'))
      return ComponentMatch{std::string(c), true};
  }
  // Imitations: the first component (in catalog order) within a small edit distance of some
  // prefix. No prefix equals a component here, so every distance is above 0. Prefixes whose
  // length is too far from the component's are skipped before any distance is computed.
  for (auto c : kComponents) {
    if (c.size() < 6) continue;  // too short to tell imitation from coincidence
    const size_t threshold = c.size() <= 8 ? 1 : 2;
    const size_t minLen = c.size() - threshold, maxLen = c.size() + threshold;
    for (size_t i = minLen; i <= name.size() && i <= maxLen; ++i) {
      if (i != name.size() && name[i] != '-') continue;
      if (boundedLevenshtein(name.substr(0, i), c, threshold) <= threshold)
        return ComponentMatch{std::string(c), false};
    }
  }
  return ComponentMatch{};
}

Detector::Detector(DetectorOptions options)
    : options_(std::move(options)),
      objects_(options_.maxTrackedObjects),
      decided_(options_.maxTrackedRequests),
      chainNovelties_(std::max<size_t>(options_.maxTrackedObjects / 8, 1024)) {}

bool Detector::trusted(std::string_view rule, std::string_view user) const {
  for (std::string_view key : {rule, std::string_view("*")}) {
    auto it = options_.trustedIdentities.find(std::string(key));
    if (it == options_.trustedIdentities.end()) continue;
    for (const auto& g : it->second) {
      if (policy::wildcardMatch(g, user)) return true;  // the policies' identity globs
    }
  }
  return false;
}

Finding Detector::base(const Event& e, std::string_view rule) const {
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
  if (!complete || !success(e.responseCode) || !e.hasObjectRef) return p;

  const std::string_view verb = e.verb;
  const bool write = verb == "create" || verb == "update" || verb == "patch";
  const bool del = verb == "delete" || verb == "deletecollection";
  if (!write && !del) return p;
  if (e.objectRef.apiGroup == "admissionregistration.k8s.io") {
    p.object = ObjectRule::kAdmissionConfig;
  } else if (del) {
    if (res == "events" &&
        (e.objectRef.apiGroup.empty() || e.objectRef.apiGroup == "events.k8s.io")) {
      p.object = ObjectRule::kEventDeletion;
    }
  } else if (res == "pods" && sub == "ephemeralcontainers") {
    p.object = ObjectRule::kEphemeral;
  } else if (res == "services" && sub.empty() && e.objectRef.apiGroup.empty()) {
    if (write && !e.truncated) p.object = ObjectRule::kService;
  } else if (sub.empty() && !kindForResource(res).empty()) {
    // If the judged object is of a pod-carrying kind; a write whose event lost its bodies
    // (truncated) cannot be judged, which is a finding of its own.
    p.object = e.truncated ? (write ? ObjectRule::kUnjudged : ObjectRule::kNone)
                           : ObjectRule::kPodCarrying;
  }
  return p;
}

void Detector::onEvent(const Event& e, std::vector<Finding>& out) { onEvent(e, plan(e), out); }

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
    const DedupeKey id = requestKey(e.request());
    if (!decided_.contains(id)) {
      const size_t before = out.size();
      if (p.session) handleSessionSubresource(e, out);
      if (p.nodeProxy) handleNodeProxy(e, out);
      if (p.anonymous) handleAnonymous(e, out);
      if (p.impersonation) handleImpersonation(e, out);
      if (p.started && out.size() > before && decided_.insert(id, 0) && decidedHook_)
        decidedHook_(id);
    }
  }
  switch (p.object) {
    case ObjectRule::kNone:
      return;
    case ObjectRule::kAdmissionConfig:
      handleAdmissionConfig(e, out);
      return;
    case ObjectRule::kEventDeletion:
      handleEventDeletion(e, out);
      return;
    case ObjectRule::kEphemeral:
      handleEphemeral(e, out);
      return;
    case ObjectRule::kUnjudged:
      handleUnjudged(e, out);
      return;
    case ObjectRule::kService:
      handleService(e, out);
      return;
    case ObjectRule::kPodCarrying:
      break;
  }
  const element obj = judgedObject(e);
  if (!obj.is_object()) return;
  std::string_view kind = str(obj, "kind");
  if (kind.empty()) kind = kindForResource(e.objectRef.resource);
  if (!policy::isPodCarryingKind(kind)) return;
  handlePodCarrying(e, obj, kind, out);
}

void Detector::handleSessionSubresource(const Event& e, std::vector<Finding>& out) {
  if (!sessionOk(e.responseCode)) return;
  const std::string_view sub = e.objectRef.subresource;
  const std::string rule = "pod-" + std::string(sub);
  auto req = parseExecRequestUri(e.requestURI);
  std::string_view ns = e.objectRef.namespace_, pod = e.objectRef.name;
  if (req && ns.empty()) ns = req->namespace_;
  if (req && pod.empty()) pod = req->pod;
  reapplySessionPolicies(e, ns, pod, out);
  if (trusted(rule, e.user.username)) return;
  Finding f = base(e, rule);
  f.kind = "Pod";
  if (req) {
    if (f.namespace_.empty()) f.namespace_ = req->namespace_;
    if (f.name.empty()) f.name = req->pod;
    if (!req->container.empty()) f.containers.push_back(req->container);
  }
  const std::string where = "pod " + objectPath(f.namespace_, f.name) +
                            (f.containers.empty() ? "" : " (container " + f.containers[0] + ")");
  if (sub == "exec") {
    CommandScore score = req ? scoreCommand(req->command) : CommandScore{};
    f.severity = maxSeverity(Severity::kLow, score.severity);
    f.command = score.commandLine;
    std::vector<std::string> ids;
    for (const auto& ind : score.indicators) {
      f.indicators.push_back(ind.id + " (" + ind.technique + "): " + ind.evidence);
      ids.push_back(ind.id);
    }
    f.summary = f.user + " ran `" + (f.command.empty() ? "?" : f.command) + "` in " + where;
    if (!ids.empty()) f.summary += " [" + joinList(ids) + "]";
    if (req && req->tty && req->stdin) f.details["interactive"] = "true";
  } else if (sub == "attach") {
    f.severity = Severity::kMedium;
    f.summary = f.user + " attached to " + where;
  } else {
    f.severity = Severity::kMedium;
    if (req) f.details["ports"] = joinList(req->ports);
    f.summary =
        f.user + " forwarded port(s) " + (req ? joinList(req->ports) : "?") + " into " + where;
  }
  out.push_back(std::move(f));
}

void Detector::reapplySessionPolicies(const Event& e, std::string_view ns, std::string_view pod,
                                      std::vector<Finding>& out) {
  const std::string_view sub = e.objectRef.subresource;
  policy::EvalInput in;
  in.operation = "CONNECT";
  in.version = "v1";
  in.kind = policy::podSessionOptionsKind(sub);
  in.subResource = sub;
  in.namespace_ = ns;
  in.name = pod;
  auto what = [&] {
    return std::string(policy::podSessionPhrase(sub)) + " " + objectPath(ns, pod) + " by " +
           std::string(e.user.username);
  };
  // The webhook only judges sessions when the chart sends it CONNECT requests.
  reapplyPolicies(e, in, "Pod", what,
                  "the admission webhook did not judge it (webhook.judgePodConnect off, or it "
                  "failed open, was bypassed or was down)",
                  out);
}

template <typename What>
void Detector::reapplyPolicies(const Event& e, policy::EvalInput in, std::string_view kind,
                               What&& what, std::string_view why, std::vector<Finding>& out) {
  if (!options_.policies) return;
  const std::shared_ptr<const policy::PolicySet> set = options_.policies();
  if (!set || set->isEmpty()) return;
  in.user.username = e.user.username;
  in.user.groups = e.user.groups;
  in.skipWarnMode = !options_.reportWarnViolations;
  in.now = std::chrono::sys_seconds(std::chrono::seconds(e.timeMicros / 1'000'000));
  const policy::Verdict v = set->evaluate(in);
  if (v.violations.empty() || trusted("policy-violation", e.user.username)) return;
  Finding f = base(e, "policy-violation");
  f.kind = std::string(kind);
  f.severity = Severity::kLow;
  std::vector<std::string> rules, policies;
  bool enforced = false;
  for (const auto& viol : v.violations) {
    if (viol.mode == policy::Mode::kWarn && !options_.reportWarnViolations) continue;
    const Severity s = severityOf(viol.mode);
    f.severity = maxSeverity(f.severity, s);
    enforced |= s == Severity::kHigh;
    if (f.violations.size() < 2 * kMaxListed)
      f.violations.push_back("[" + viol.policy + "] " + viol.rule + ": " + viol.message);
    addUnique(rules, viol.rule);
    addUnique(policies, viol.policy);
  }
  if (rules.empty()) return;
  completePolicyFinding(f, e, what(), rules, policies, enforced, why);
  out.push_back(std::move(f));
}

void Detector::reportAuditIdReuse(const Event& e, std::vector<Finding>& out) {
  if (trusted("audit-id-reused", e.user.username)) return;
  Finding f = base(e, "audit-id-reused");
  f.severity = Severity::kHigh;
  std::string uri(utf8::prefix(e.requestURI, 512));
  f.summary = std::string(e.verb) + " " + uri + " by " + f.user + " was sent with auditID " +
              f.auditID +
              ", already the ID of an earlier request: the client chose it (Audit-ID header), "
              "which can make audit consumers drop or merge its request";
  out.push_back(std::move(f));
}

void Detector::handleNodeProxy(const Event& e, std::vector<Finding>& out) {
  if (!sessionOk(e.responseCode)) return;
  if (trusted("nodes-proxy-access", e.user.username)) return;
  Finding f = base(e, "nodes-proxy-access");
  f.kind = "Node";
  std::string_view uri = e.requestURI;
  uri = uri.substr(0, uri.find('?'));
  size_t p = uri.find("/proxy");
  std::string_view path = p == std::string_view::npos ? std::string_view() : uri.substr(p + 6);
  if (path.empty()) path = "/";
  auto under = [&](std::initializer_list<std::string_view> list) {
    for (auto l : list) {
      if (path == l || startsWith(path, std::string(l) + "/")) return true;
    }
    return false;
  };
  if (under({"/run", "/exec", "/attach", "/portForward", "/cri"})) {
    f.severity = Severity::kCritical;
  } else if (under({"/pods", "/runningpods", "/configz", "/debug", "/checkpoint", "/containerLogs",
                    "/logs"})) {
    f.severity = Severity::kHigh;
  } else if (under({"/metrics", "/stats", "/healthz", "/spec"})) {
    f.severity = Severity::kLow;
  } else {
    f.severity = Severity::kMedium;
  }
  f.details["kubeletPath"] = std::string(utf8::prefix(path, 256));
  f.summary = f.user + " reached the kubelet API of node " + f.name + " at " +
              std::string(utf8::prefix(path, 128)) + " through nodes/proxy (" + f.verb + ")";
  out.push_back(std::move(f));
}

void Detector::handleAnonymous(const Event& e, std::vector<Finding>& out) {
  const bool allowed =
      e.authorizationDecision == "allow" ||
      (e.authorizationDecision.empty() && sessionOk(e.responseCode) && e.responseCode != 0);
  if (!allowed || e.responseCode == 401 || e.responseCode == 403) return;
  std::string_view path = e.requestURI.substr(0, e.requestURI.find('?'));
  for (std::string_view ok : {"/healthz", "/livez", "/readyz", "/version",
                              "/.well-known/openid-configuration", "/openid/v1/jwks"}) {
    if (path == ok || startsWith(path, std::string(ok) + "/")) return;
  }
  if (trusted("anonymous-request-allowed", e.user.username)) return;
  Finding f = base(e, "anonymous-request-allowed");
  f.severity = Severity::kHigh;
  f.summary = "anonymous request allowed: " + std::string(e.verb) + " " +
              std::string(utf8::prefix(path, 200)) +
              (f.sourceIP.empty() ? "" : " from " + f.sourceIP);
  out.push_back(std::move(f));
}

void Detector::handleImpersonation(const Event& e, std::vector<Finding>& out) {
  const auto& target = e.impersonatedUser;
  std::string why;
  static constexpr std::array<std::string_view, 4> kAdmins = {"system:admin", "kubernetes-admin",
                                                              "admin", "cluster-admin"};
  if (std::find(kAdmins.begin(), kAdmins.end(), target.username) != kAdmins.end() ||
      std::find(options_.privilegedIdentities.begin(), options_.privilegedIdentities.end(),
                target.username) != options_.privilegedIdentities.end()) {
    why = "administrator " + std::string(target.username);
  } else if (startsWith(target.username, "system:node:")) {
    why = "node identity " + std::string(target.username);
  } else if (startsWith(target.username, "system:serviceaccount:kube-system:") ||
             target.username == "system:kube-controller-manager" ||
             target.username == "system:kube-scheduler" || target.username == "system:apiserver") {
    why = "control-plane identity " + std::string(target.username);
  }
  for (auto g : target.groups) {
    if (g == "system:masters") {
      why = why.empty() ? "group system:masters" : why + " in group system:masters";
      break;
    }
  }
  if (why.empty() || trusted("privileged-impersonation", e.user.username)) return;
  Finding f = base(e, "privileged-impersonation");
  const bool allowed = sessionOk(e.responseCode);
  f.severity = allowed ? Severity::kHigh : Severity::kMedium;
  f.summary = std::string(e.user.username) +
              (allowed ? " impersonated " : " tried to impersonate ") + why + ": " +
              std::string(e.verb) + " " + std::string(utf8::prefix(e.requestURI, 160));
  if (!allowed) f.details["outcome"] = "denied";
  out.push_back(std::move(f));
}

namespace {

// Hash of a JSON value as simdjson minifies it (the API server writes objects in a fixed field
// order, so equal settings give equal text).
uint64_t jsonHash(element v) {
  const std::string text = simdjson::to_string(v);
  return std::hash<std::string_view>{}(text) | 1;  // 0 stays "absent"
}

// "what old -> new", an absent value written "unset".
std::string transition(std::string_view what, const std::string& was, const std::string& now) {
  return std::string(what) + " " + (was.empty() ? "unset" : was) + " -> " +
         (now.empty() ? "unset" : now);
}

uint64_t fieldHash(element obj, std::string_view key) {
  element v;
  if (!obj.is_object() || obj.get_object().value_unsafe().at_key(key).get(v) != simdjson::SUCCESS)
    return 0;
  return jsonHash(v);
}

}  // namespace

Detector::AdmissionState Detector::readAdmissionState(element obj) {
  AdmissionState st;
  simdjson::dom::array hooks;
  if (obj["webhooks"].get_array().get(hooks) == simdjson::SUCCESS) {
    for (element h : hooks) {
      if (!h.is_object() || st.hooks.size() >= 64) continue;
      AdmissionHook hook;
      hook.name = std::string(utf8::prefix(str(h, "name"), 253));
      hook.failurePolicy = std::string(utf8::prefix(str(h, "failurePolicy"), 32));
      hook.rules = fieldHash(h, "rules");
      hook.namespaceSelector = fieldHash(h, "namespaceSelector");
      hook.objectSelector = fieldHash(h, "objectSelector");
      hook.matchConditions = fieldHash(h, "matchConditions");
      uint64_t endpoint = 0, other = 0;
      const simdjson::dom::object fields = h.get_object().value_unsafe();
      for (simdjson::dom::key_value_pair kv : fields) {
        const std::string_view k = kv.key;
        const element v = kv.value;
        if (k == "clientConfig" && v.is_object()) {
          const simdjson::dom::object client = v.get_object().value_unsafe();
          for (simdjson::dom::key_value_pair ckv : client) {
            const std::string_view ck = ckv.key;
            const element cv = ckv.value;
            if (ck == "caBundle") {
              hook.caBundle = jsonHash(cv);
            } else {
              endpoint = endpoint * 31 + std::hash<std::string_view>{}(ck) + jsonHash(cv);
            }
          }
        } else if (k != "name" && k != "failurePolicy" && k != "rules" &&
                   k != "namespaceSelector" && k != "objectSelector" && k != "matchConditions") {
          other = other * 31 + std::hash<std::string_view>{}(k) + jsonHash(v);
        }
      }
      hook.endpoint = endpoint;
      hook.other = other;
      st.hooks.push_back(std::move(hook));
    }
  }
  element spec;
  if (obj["spec"].get(spec) == simdjson::SUCCESS && spec.is_object()) {
    st.spec = jsonHash(spec);
    st.failurePolicy = std::string(utf8::prefix(str(spec, "failurePolicy"), 32));
    simdjson::dom::array actions;
    if (spec["validationActions"].get_array().get(actions) == simdjson::SUCCESS) {
      std::vector<std::string> names;
      for (element a : actions) {
        std::string_view n;
        if (a.get_string().get(n) == simdjson::SUCCESS && names.size() < 8)
          names.emplace_back(utf8::prefix(n, 32));
      }
      st.validationActions = joinList(names, "+");
    }
  }
  return st;
}

void Detector::handleAdmissionConfig(const Event& e, std::vector<Finding>& out) {
  static constexpr std::array<std::string_view, 6> kResources = {
      "validatingwebhookconfigurations", "mutatingwebhookconfigurations",
      "validatingadmissionpolicies",     "validatingadmissionpolicybindings",
      "mutatingadmissionpolicies",       "mutatingadmissionpolicybindings"};
  const std::string_view res = e.objectRef.resource;
  if (std::find(kResources.begin(), kResources.end(), res) == kResources.end()) return;
  const bool del = e.verb == "delete" || e.verb == "deletecollection";
  const std::string key = std::string(res) + "/" + std::string(utf8::prefix(e.objectRef.name, 253));
  const element obj = judgedObject(e);

  // What the change changed, against the last state seen (kept even for trusted identities,
  // so that the next change by someone else is compared with the right state).
  std::vector<std::string> changes;
  bool weakened = false;  // anything but a CA bundle rotation or a metadata-only change
  bool known = false;
  if (del) {
    if (admissionConfigs_.erase(key) > 0) {
      admissionConfigOrder_.erase(
          std::find(admissionConfigOrder_.begin(), admissionConfigOrder_.end(), key));
    }
  } else if (obj.is_object() && (e.responseCode == 0 || success(e.responseCode))) {
    AdmissionState now = readAdmissionState(obj);
    auto it = admissionConfigs_.find(key);
    if (it != admissionConfigs_.end() && e.verb != "create") {
      known = true;
      const AdmissionState& was = it->second;
      auto change = [&](std::string text, bool weakens) {
        if (changes.size() < kMaxListed) changes.push_back(std::move(text));
        weakened = weakened || weakens;
      };
      for (const AdmissionHook& old : was.hooks) {
        auto n = std::find_if(now.hooks.begin(), now.hooks.end(),
                              [&](const AdmissionHook& h) { return h.name == old.name; });
        if (n == now.hooks.end()) {
          change("webhook " + old.name + " removed", true);
          continue;
        }
        const std::string w = "webhook " + old.name + ": ";
        if (n->failurePolicy != old.failurePolicy)
          change(w + transition("failurePolicy", old.failurePolicy, n->failurePolicy), true);
        if (n->rules != old.rules) change(w + "rules changed", true);
        if (n->namespaceSelector != old.namespaceSelector)
          change(w + "namespaceSelector changed", true);
        if (n->objectSelector != old.objectSelector) change(w + "objectSelector changed", true);
        if (n->matchConditions != old.matchConditions) change(w + "matchConditions changed", true);
        if (n->endpoint != old.endpoint) change(w + "clientConfig endpoint changed", true);
        if (n->other != old.other) change(w + "settings changed", true);
        if (n->caBundle != old.caBundle) change(w + "caBundle rotated", false);
      }
      for (const AdmissionHook& h : now.hooks) {
        if (std::none_of(was.hooks.begin(), was.hooks.end(),
                         [&](const AdmissionHook& o) { return o.name == h.name; })) {
          change("webhook " + h.name + " added", true);
        }
      }
      if (now.failurePolicy != was.failurePolicy)
        change(transition("failurePolicy", was.failurePolicy, now.failurePolicy), true);
      if (now.validationActions != was.validationActions)
        change(transition("validationActions", was.validationActions, now.validationActions), true);
      if (now.spec != was.spec && now.failurePolicy == was.failurePolicy &&
          now.validationActions == was.validationActions) {
        change("spec changed", true);
      }
      it->second = std::move(now);
    } else {
      if (it == admissionConfigs_.end())
        it = insertForgettingOldest(admissionConfigs_, admissionConfigOrder_, kMaxAdmissionConfigs,
                                    key);
      it->second = std::move(now);
    }
  }

  if (trusted("webhook-config-changed", e.user.username)) return;
  Finding f = base(e, "webhook-config-changed");
  f.severity = del ? Severity::kCritical : Severity::kHigh;
  // Compared with the last state seen: a CA bundle rotation or a metadata-only change is
  // routine (certificate managers do it daily); it is still reported, at low severity.
  if (known && !weakened) f.severity = Severity::kLow;
  f.kind = std::string(res);
  // Webhooks that fail open after the change are worth naming.
  if (obj.is_object() && !del) {
    f.kind = std::string(str(obj, "kind"));
    std::vector<std::string> failOpen;
    simdjson::dom::array hooks;
    if (obj["webhooks"].get_array().get(hooks) == simdjson::SUCCESS) {
      for (element h : hooks) {
        if (str(h, "failurePolicy") == "Ignore")
          failOpen.emplace_back(utf8::prefix(str(h, "name"), 253));
        if (failOpen.size() >= 16) break;
      }
    }
    if (!failOpen.empty()) f.details["failOpenWebhooks"] = joinList(failOpen);
  }
  if (known) f.details["changes"] = changes.empty() ? "metadata only" : joinList(changes, "; ");
  std::string what = std::string(res) + (f.name.empty() ? "" : " " + f.name);
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kVerbs = {
      {{"create", "created"},
       {"update", "updated"},
       {"patch", "patched"},
       {"delete", "deleted"},
       {"deletecollection", "deleted all"}}};
  std::string_view did = e.verb;
  for (const auto& [v, past] : kVerbs) {
    if (v == e.verb) did = past;
  }
  f.summary = f.user + " " + std::string(did) + " " + what;
  if (del) f.summary += ": admission control no longer sees what it covered";
  if (known) f.summary += ": " + f.details["changes"];
  out.push_back(std::move(f));
}

void Detector::handleEventDeletion(const Event& e, std::vector<Finding>& out) {
  if (trusted("events-deleted", e.user.username)) return;
  Finding f = base(e, "events-deleted");
  const bool all = e.verb == "deletecollection";
  f.severity = all ? Severity::kHigh : Severity::kMedium;
  f.kind = "Event";
  f.summary = f.user + (all ? " deleted all events" : " deleted event " + f.name) +
              (f.namespace_.empty() ? "" : " in namespace " + f.namespace_);
  out.push_back(std::move(f));
}

void Detector::handleUnjudged(const Event& e, std::vector<Finding>& out) {
  if (trusted("unjudged-object", e.user.username)) return;
  Finding f = base(e, "unjudged-object");
  f.kind = std::string(kindForResource(e.objectRef.resource));
  // A webhook that failed open for the request: nothing judged the object.
  const std::vector<std::string> failedOpen = failedOpenWebhooks(e);
  f.severity = failedOpen.empty() ? Severity::kMedium : Severity::kHigh;
  if (!failedOpen.empty()) f.details["failedOpenWebhooks"] = joinList(failedOpen);
  f.summary = f.user + " " + (e.verb == "create" ? "created " : "changed ") + f.kind + " " +
              objectPath(f.namespace_, f.name) +
              " but its audit event was truncated: the object was not judged" +
              (failedOpen.empty() ? "" : ", and the admission webhook failed open for it");
  out.push_back(std::move(f));
}

void Detector::handleService(const Event& e, std::vector<Finding>& out) {
  const element obj = judgedObject(e);
  if (!obj.is_object()) return;
  element spec;
  if (obj["spec"].get(spec) != simdjson::SUCCESS || !spec.is_object()) spec = policy::nullElement();
  const std::string_view type = str(spec, "type");
  ServiceExposure now;
  now.type = std::string(type.empty() ? std::string_view("ClusterIP") : utf8::prefix(type, 32));
  now.outside = type == "NodePort" || type == "LoadBalancer";
  simdjson::dom::array ips;
  if (spec.is_object() && spec["externalIPs"].get_array().get(ips) == simdjson::SUCCESS) {
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
    std::string text(judged.externalName.substr(0, 253));
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
  ServiceExposure was;
  auto it = services_.find(key);
  if (e.verb != "create" && it != services_.end()) {
    was = it->second;
  } else if (e.verb == "patch") {
    const element patch = e.hasRequestObject ? e.requestObject : policy::nullElement();
    element ps;
    if (!patch.is_object() || patch["spec"].get(ps) != simdjson::SUCCESS)
      ps = policy::nullElement();
    const bool touched =
        ps.is_object() && (!ps["type"].error() || !ps["ports"].error() ||
                           !ps["externalName"].error() || !ps["externalIPs"].error());
    // A JSON patch ([{"op":..,"path":"/spec/type"}]) is an array: judged as touching.
    if (!touched && !patch.is_array()) was = now;
  }
  if (it == services_.end())
    it = insertForgettingOldest(services_, serviceOrder_, kMaxServices, key);
  it->second = now;

  std::vector<std::string> addedIPs;
  std::set_difference(now.externalIPs.begin(), now.externalIPs.end(), was.externalIPs.begin(),
                      was.externalIPs.end(), std::back_inserter(addedIPs));
  const bool newlyOutside = now.outside && !was.outside;
  // The admission policies, re-applied as the webhook applies them: to a Service whose type,
  // externalIPs, ports or externalName changed (or that is new here), whole.
  if (now.type != was.type || now.externalIPs != was.externalIPs ||
      now.judgedHash != was.judgedHash)
    reapplyServicePolicies(e, obj, out);
  if (!newlyOutside && addedIPs.empty()) return;

  // What it exposes: ports ("8080:30080/TCP", service port then node port) and the selector.
  std::vector<std::string> ports;
  simdjson::dom::array pa;
  if (spec.is_object() && spec["ports"].get_array().get(pa) == simdjson::SUCCESS) {
    for (element p : pa) {
      if (ports.size() >= kMaxListed) break;
      int64_t port = 0, nodePort = 0;
      if (p["port"].get_int64().get(port) != simdjson::SUCCESS) port = 0;
      if (p["nodePort"].get_int64().get(nodePort) != simdjson::SUCCESS) nodePort = 0;
      std::string_view proto = str(p, "protocol");
      ports.push_back(std::to_string(port) + (nodePort > 0 ? ":" + std::to_string(nodePort) : "") +
                      "/" + std::string(proto.empty() ? "TCP" : utf8::prefix(proto, 8)));
    }
  }
  std::vector<std::string> selector;
  simdjson::dom::object sel;
  if (spec.is_object() && spec["selector"].get_object().get(sel) == simdjson::SUCCESS) {
    for (auto kv : sel) {
      if (selector.size() >= kMaxListed) break;
      std::string_view v;
      if (kv.value.get_string().get(v) != simdjson::SUCCESS) continue;
      selector.push_back(std::string(utf8::prefix(kv.key, 253)) + "=" +
                         std::string(utf8::prefix(v, 63)));
    }
  }
  const std::string where = "service " + objectPath(e.objectRef.namespace_, e.objectRef.name);
  const std::string selects = selector.empty() ? " (no selector: its endpoints are set by hand)"
                                               : ", selecting " + joinList(selector, ",");
  auto fill = [&](Finding& f) {
    f.kind = "Service";
    if (!type.empty()) f.details["type"] = std::string(utf8::prefix(type, 32));
    if (!ports.empty()) f.details["ports"] = joinList(ports);
    if (!selector.empty()) f.details["selector"] = joinList(selector, ",");
  };
  if (!addedIPs.empty() && !trusted("service-external-ips", e.user.username)) {
    Finding f = base(e, "service-external-ips");
    fill(f);
    f.severity = Severity::kHigh;
    f.details["externalIPs"] = joinList(addedIPs);
    f.summary = f.user + " set externalIPs " + joinList(addedIPs) + " on " + where +
                ": in-cluster traffic to those addresses now goes to its endpoints" +
                (selector.empty() ? " (no selector: set by hand)"
                                  : " (selector " + joinList(selector, ",") + ")");
    out.push_back(std::move(f));
  }
  if (newlyOutside && !trusted("service-exposed", e.user.username)) {
    Finding f = base(e, "service-exposed");
    fill(f);
    f.severity = Severity::kMedium;
    f.summary = f.user + " exposed " + where + " as " + std::string(type) +
                (ports.empty() ? "" : " (" + joinList(ports) + ")") + selects;
    out.push_back(std::move(f));
  }
}

void Detector::reapplyServicePolicies(const Event& e, element obj, std::vector<Finding>& out) {
  policy::EvalInput in;
  in.operation = e.verb == "create" ? "CREATE" : "UPDATE";
  in.version = "v1";
  in.kind = "Service";
  in.namespace_ = e.objectRef.namespace_;
  in.name = e.objectRef.name;
  in.object = obj;
  reapplyPolicies(
      e, in, "Service",
      [&] { return "Service " + objectPath(e.objectRef.namespace_, e.objectRef.name); },
      kWebhookDidNotStopIt, out);
}

void Detector::handleEphemeral(const Event& e, std::vector<Finding>& out) {
  const element obj = judgedObject(e);
  if (!obj.is_object()) {
    if (trusted("ephemeral-container", e.user.username)) return;
    Finding f = base(e, "ephemeral-container");
    f.kind = "Pod";
    f.severity = Severity::kHigh;
    f.summary = f.user + " added an ephemeral container to pod " +
                objectPath(f.namespace_, f.name) + " (body not recorded)";
    out.push_back(std::move(f));
    return;
  }
  handlePodCarrying(e, obj, "Pod", out);
}

void Detector::handlePodCarrying(const Event& e, element obj, std::string_view kind,
                                 std::vector<Finding>& out) {
  const bool ephemeralSub = e.objectRef.subresource == "ephemeralcontainers";
  policy::PodModel pod;
  if (policy::extractPod(obj, kind, pod) != policy::ExtractStatus::kOk) return;
  const Meta meta = readMeta(obj);
  // Views into the event: valid for the whole call.
  const std::string_view ns = !meta.namespace_.empty() ? meta.namespace_ : e.objectRef.namespace_;
  const std::string_view name = !meta.name.empty() ? meta.name : e.objectRef.name;
  const std::string_view uid = !meta.uid.empty() ? meta.uid : e.objectRef.uid;
  const std::string requestUser(e.user.username);
  const bool create = e.verb == "create" && !ephemeralSub;
  const bool controller = isWorkloadController(requestUser);

  // What is known of the object itself. The record is updated in place below; what this event
  // compares against is its state before: the keys it had (the first prevKeys of them), its
  // actor, changers and containers (read before they are changed).
  TrackedObject* existing = objects_.find(uid);
  if (!existing) {
    TrackedObject* byName = objects_.findByName(kind, ns, name);
    if (byName && (byName->uid.empty() || uid.empty())) existing = byName;
  }
  const bool seenBefore = existing != nullptr && !create;
  // upsert resets a record known by name only once it gets a uid: keep a copy of it then.
  TrackedObject resetCopy;
  const bool resets = seenBefore && !uid.empty() && existing->uid != uid;
  if (resets) resetCopy = *existing;

  // The owner is marked recently used first, so that upsert does not evict it.
  if (!meta.ownerUid.empty()) objects_.find(meta.ownerUid);
  TrackedObject& rec = objects_.upsert(uid, kind, ns, name);
  static const TrackedObject kNone;
  const TrackedObject& prev = !seenBefore ? kNone : resets ? resetCopy : rec;
  const size_t prevKeys = prev.findingKeys.size();
  // And of the owner (looked up again: upsert may move records). Its keys are compared the same
  // way, in case the owner is this very object (hostile input).
  const TrackedObject* owner = meta.ownerUid.empty() ? nullptr : objects_.find(meta.ownerUid);
  const bool ownerKnown = owner != nullptr;
  const size_t ownerKeys = ownerKnown ? owner->findingKeys.size() : 0;
  // A key found on the owner (the template this object was made from) or earlier on this
  // object.
  auto foundBefore = [&](std::string_view key) {
    return (ownerKnown && owner->hasKey(key, ownerKeys)) || prev.hasKey(key, prevKeys);
  };
  std::string actor, actorUA;
  if (controller && ownerKnown && !owner->actor.empty()) {
    actor = owner->actor;
    actorUA = owner->actorUserAgent;
  } else if (controller && seenBefore && !prev.actor.empty()) {
    actor = prev.actor;
    actorUA = prev.actorUserAgent;
  } else {
    actor = requestUser;
    actorUA = std::string(utf8::prefix(e.userAgent, 256));
  }
  if (create) {
    rec.findingKeys.clear();
    rec.changers.clear();
    rec.hasContainers = false;
  }
  // Attribution moves to whoever changes the object, except to system identities (controllers,
  // the garbage collector adopting or orphaning): they act for someone else.
  if (create || !isSystemIdentity(requestUser) || rec.actor.empty()) {
    rec.actor = actor;
    rec.actorUserAgent = actorUA;
  }
  rec.ownerUid = std::string(meta.ownerUid);

  std::vector<std::string> images;
  std::vector<std::string> ephemeralNames;
  for (const auto& c : pod.containers) {
    if (c.image.set && !c.image.value.empty() && images.size() < kMaxListed) {
      addUnique(images, std::string(utf8::prefix(c.image.value, 512)));
    }
    if (c.kind == policy::ContainerKind::kEphemeral) ephemeralNames.emplace_back(c.name);
  }
  auto inScope = [&](const policy::ContainerModel& c) {
    return !ephemeralSub || c.kind == policy::ContainerKind::kEphemeral;
  };

  auto makeFinding = [&](std::string_view rule) {
    Finding f = base(e, rule);
    f.kind = std::string(kind);
    f.namespace_ = ns;
    f.name = name;
    f.user = actor;
    if (actor != requestUser) f.requestUser = requestUser;
    f.images = images;
    return f;
  };
  // "Pod ns/name", built only for a finding.
  auto what = [&] { return std::string(kind) + " " + objectPath(ns, name); };

  // Object rules: each hit has a key; a key found on the owner (the template this object was
  // made from) or earlier on this object is not reported again.
  // The summary lead is built only when there is something to report.
  auto emit = [&](std::string_view rule, std::vector<Hit> hits, auto&& makeLead) {
    if (hits.empty()) return;
    std::vector<Hit> fresh;
    for (auto& h : hits) {
      const bool old = foundBefore(h.key);
      rec.addKey(h.key);
      if (!old) fresh.push_back(std::move(h));
    }
    if (fresh.empty() || trusted(rule, actor)) return;
    const std::string summaryLead = makeLead();
    Finding f = makeFinding(rule);
    f.severity = Severity::kLow;
    std::vector<std::string> detail;
    for (const auto& h : fresh) {
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
    f.summary = summaryLead + (detail.empty() ? "" : ": " + joinList(detail));
    out.push_back(std::move(f));
  };

  // Ephemeral containers added through the subresource.
  if (ephemeralSub) {
    std::vector<Hit> hits;
    for (const auto& c : pod.containers) {
      if (c.kind != policy::ContainerKind::kEphemeral) continue;
      hits.push_back({"ephemeral-container/" + std::string(c.name), std::string(c.name),
                      std::string(c.name) + " (" + std::string(c.image.value) + ")",
                      Severity::kHigh});
    }
    emit("ephemeral-container", std::move(hits), [&] {
      return requestUser + " added ephemeral container(s) to pod " + objectPath(ns, name);
    });
  }

  {  // privileged
    std::vector<Hit> hits;
    for (const auto& c : pod.containers) {
      if (!inScope(c)) continue;
      if (c.sc.privileged == policy::Tri::kTrue || c.sc.windowsHostProcess == policy::Tri::kTrue) {
        hits.push_back({"privileged-container/" + std::string(c.name), std::string(c.name),
                        std::string(c.name), Severity::kHigh});
      }
    }
    if (!ephemeralSub && pod.sc.windowsHostProcess == policy::Tri::kTrue) {
      hits.push_back(
          {"privileged-container/<pod>", "", "windows hostProcess pod", Severity::kHigh});
    }
    emit("privileged-container", std::move(hits),
         [&] { return what() + " runs privileged container(s)"; });
  }
  if (!ephemeralSub) {
    std::vector<Hit> hits;
    if (pod.hostPID == policy::Tri::kTrue)
      hits.push_back({"host-namespace/hostPID", "", "hostPID", Severity::kHigh});
    if (pod.hostIPC == policy::Tri::kTrue)
      hits.push_back({"host-namespace/hostIPC", "", "hostIPC", Severity::kMedium});
    if (pod.hostNetwork == policy::Tri::kTrue)
      hits.push_back({"host-namespace/hostNetwork", "", "hostNetwork", Severity::kMedium});
    emit("host-namespace", std::move(hits), [&] { return what() + " shares host namespace(s)"; });
  }
  if (!ephemeralSub) {
    std::vector<Hit> hits;
    for (const auto& c : pod.containers) {
      for (int64_t port : c.hostPorts) {
        const std::string p = port < 0 ? "invalid" : std::to_string(port);
        hits.push_back({"host-port/" + std::string(c.name) + "/" + p, std::string(c.name),
                        std::string(c.name) + ":" + p, Severity::kMedium});
      }
    }
    emit("host-port", std::move(hits), [&] { return what() + " binds host port(s)"; });
  }
  bool mountsRoot = false;
  if (!ephemeralSub) {
    std::vector<Hit> hits;
    for (const auto& v : pod.volumes) {
      if (v.type != "hostPath") continue;
      const std::string p = normalizeHostPath(v.hostPath);
      if (p == "/") mountsRoot = true;
      Severity s = hostPathSeverity(p);
      if (s == Severity::kInfo) continue;
      hits.push_back({"sensitive-host-path/" + p, "", p, s});
    }
    emit("sensitive-host-path", std::move(hits),
         [&] { return what() + " mounts sensitive host path(s)"; });
  }
  {  // capabilities
    std::vector<Hit> hits;
    for (const auto& c : pod.containers) {
      if (!inScope(c)) continue;
      for (auto cap : c.sc.capAdd.items) {
        Severity s = capabilitySeverity(cap);
        if (s == Severity::kInfo) continue;
        std::string capName = upper(cap);
        hits.push_back({"dangerous-capability/" + std::string(c.name) + "/" + capName,
                        std::string(c.name), std::string(c.name) + " +" + capName, s});
      }
    }
    emit("dangerous-capability", std::move(hits),
         [&] { return what() + " adds dangerous capabilities"; });
  }
  if (kind == "Pod" && !ephemeralSub) {
    const bool debugName = startsWith(name, "node-debugger-");
    const bool hostAll =
        pod.hostPID == policy::Tri::kTrue && pod.hostNetwork == policy::Tri::kTrue && mountsRoot;
    if (debugName || hostAll) {
      std::string node(pod.nodeName.value);
      emit("node-debug-pod",
           {{"node-debug-pod", "", node.empty() ? std::string() : "node " + node, Severity::kHigh}},
           [&] {
             return actor + " started node debugging pod " + objectPath(ns, name) +
                    " with the node's namespaces and root filesystem";
           });
    }
  }
  if (kind == "Pod" && !ephemeralSub && startsWith(requestUser, "system:node:")) {
    bool mirror = false;
    pod.annotation("kubernetes.io/config.mirror", &mirror);
    if (mirror) {
      static constexpr std::array<std::string_view, 4> kControlPlane = {
          "kube-apiserver-", "kube-controller-manager-", "kube-scheduler-", "etcd-"};
      bool controlPlane = ns == "kube-system" &&
                          std::any_of(kControlPlane.begin(), kControlPlane.end(),
                                      [&](std::string_view p) { return startsWith(name, p); });
      if (!controlPlane || options_.reportControlPlaneMirrorPods) {
        emit("mirror-pod", {{"mirror-pod", "", requestUser, Severity::kHigh}}, [&] {
          return requestUser + " created mirror pod " + objectPath(ns, name) +
                 " from a static pod manifest on the node";
        });
      }
    }
  }
  if (!ephemeralSub && isSystemNamespace(ns) && !isSystemIdentity(actor)) {
    emit("system-namespace-workload",
         {{"system-namespace-workload/" + actor, "", "", Severity::kHigh}}, [&] {
           return actor + " " + (create ? "created " : "changed ") + what() +
                  " in a system namespace";
         });
  }
  if (!ephemeralSub) {
    ComponentMatch m = matchSystemComponent(name);
    if (!m.component.empty() && !(m.exact && ns == "kube-system")) {
      emit("system-component-name",
           {{"system-component-name", "", m.component,
             m.exact ? Severity::kMedium : Severity::kHigh}},
           [&] {
             return what() + (m.exact ? " is named like system component outside kube-system"
                                      : " imitates the name of system component");
           });
    }
  }

  // The admission policies, re-applied.
  if (options_.policies) {
    std::shared_ptr<const policy::PolicySet> set = options_.policies();
    if (set && !set->isEmpty()) {
      policy::EvalInput in;
      in.operation = create ? "CREATE" : "UPDATE";
      in.group = e.objectRef.apiGroup;
      in.version = e.objectRef.apiVersion;
      in.kind = kind;
      in.subResource = ephemeralSub ? "ephemeralcontainers" : "";
      in.namespace_ = ns;
      in.name = name;
      in.user.username = e.user.username;
      in.user.groups = e.user.groups;
      in.object = obj;
      in.pod = &pod;                                     // extracted above from the same object
      in.skipWarnMode = !options_.reportWarnViolations;  // dropped below anyway
      in.now = std::chrono::sys_seconds(std::chrono::seconds(e.timeMicros / 1'000'000));
      policy::Verdict v = set->evaluate(in);
      std::vector<Hit> hits;
      std::vector<std::pair<std::string, std::string>> hitRules;  // (policy, rule) per hit
      std::vector<std::string> policiesHit;
      bool enforced = false;
      auto isEphemeral = [&](std::string_view c) {
        return std::find(ephemeralNames.begin(), ephemeralNames.end(), c) != ephemeralNames.end();
      };
      for (const auto& viol : v.violations) {
        if (viol.mode == policy::Mode::kWarn && !options_.reportWarnViolations) continue;
        const Severity s = severityOf(viol.mode);
        auto hit = [&](const std::string& container) {
          hits.push_back({"policy/" + viol.policy + "/" + viol.rule + "/" + container, container,
                          "[" + viol.policy + "] " + viol.rule +
                              (container.empty() ? "" : " (" + container + ")") + ": " +
                              viol.message,
                          s});
          hitRules.emplace_back(viol.policy, viol.rule);
        };
        if (!ephemeralSub) {
          hit(viol.container);
          continue;
        }
        // Through the subresource only ephemeral containers are judged: one hit for each the
        // violation names (a Pod Security check failing for several containers names them
        // all, one of them perhaps added earlier and reported then).
        if (isEphemeral(viol.container)) {
          hit(viol.container);
          continue;
        }
        if (!viol.container.empty()) continue;
        for (const auto& c : viol.containers) {
          if (isEphemeral(c)) hit(c);
        }
      }
      // emit() joins details into the summary; keep the summary short and list violations.
      std::vector<Hit> fresh;
      std::vector<std::pair<std::string, std::string>> freshRules;
      for (size_t i = 0; i < hits.size(); ++i) {
        Hit& h = hits[i];
        const bool old = foundBefore(h.key);
        rec.addKey(h.key);
        if (old) continue;
        fresh.push_back(std::move(h));
        freshRules.push_back(std::move(hitRules[i]));
      }
      if (!fresh.empty() && !trusted("policy-violation", actor)) {
        Finding f = makeFinding("policy-violation");
        f.severity = Severity::kLow;
        std::vector<std::string> rules;
        for (size_t i = 0; i < fresh.size(); ++i) {
          const Hit& h = fresh[i];
          f.severity = maxSeverity(f.severity, h.severity);
          if (h.severity == Severity::kHigh) enforced = true;
          if (!h.container.empty() && f.containers.size() < kMaxListed) {
            addUnique(f.containers, h.container);
          }
          if (f.violations.size() < 2 * kMaxListed) f.violations.push_back(h.detail);
          addUnique(policiesHit, freshRules[i].first);
          addUnique(rules, freshRules[i].second);
        }
        completePolicyFinding(f, e, what(), rules, policiesHit, enforced);
        out.push_back(std::move(f));
      }
    }
  }
  if (ephemeralSub) return;

  if (create && (kind == "DaemonSet" || kind == "CronJob")) {
    const std::string rule = kind == "DaemonSet" ? "daemonset-created" : "cronjob-created";
    if (!trusted(rule, actor)) {
      Finding f = makeFinding(rule);
      f.severity = Severity::kMedium;
      f.summary = actor + " created " + what() +
                  (kind == "DaemonSet" ? " (runs on every node)" : "") +
                  (images.empty() ? "" : " with image(s) " + joinList(images));
      out.push_back(std::move(f));
    }
  }

  // Image or command changes of a known object by an identity that never changed it.
  std::vector<ContainerState> now = readContainers(obj, kind);
  if (!create && !controller && seenBefore && prev.hasContainers && now != prev.containers) {
    // The change text names containers as ContainerState does ("init:migrate"); the finding's
    // container list by their own names.
    std::vector<std::string> changed, changedNames, oldImages, newImages;
    for (const auto& c : now) {
      auto it = std::find_if(prev.containers.begin(), prev.containers.end(),
                             [&](const ContainerState& o) { return o.name == c.name; });
      const bool added = it == prev.containers.end();
      if (!added && it->image == c.image && it->command == c.command) continue;
      if (changedNames.size() < kMaxListed) addUnique(changedNames, plainContainerName(c.name));
      if (added) {
        changed.push_back(c.name + " added (" + c.image + ")");
        newImages.push_back(c.image);
      } else if (it->image != c.image) {
        changed.push_back(c.name + ": " + it->image + " -> " + c.image);
        oldImages.push_back(it->image);
        newImages.push_back(c.image);
      } else {
        changed.push_back(c.name + ": command changed");
      }
    }
    const bool newIdentity = !prev.changers.empty() && !prev.isChanger(requestUser);
    if (!changed.empty() && newIdentity && !trusted("workload-image-changed", requestUser)) {
      Finding f = makeFinding("workload-image-changed");
      f.user = requestUser;
      f.requestUser.clear();
      f.severity = Severity::kHigh;
      f.details["change"] = joinList(changed, "; ");
      if (!oldImages.empty()) f.details["oldImages"] = joinList(oldImages);
      if (!newImages.empty()) f.details["newImages"] = joinList(newImages);
      f.details["previousChangers"] = joinList(prev.changers);
      f.containers = std::move(changedNames);  // the changed ones, by their own names
      f.summary = requestUser + ", who never changed " + what() + " before, changed " +
                  joinList(changed, "; ");
      out.push_back(std::move(f));
    }
    rec.addChanger(requestUser);
  }
  if (create) rec.addChanger(actor);
  if (!seenBefore && !create && !controller) rec.addChanger(requestUser);
  rec.containers = std::move(now);
  rec.hasContainers = true;

  // The learned baseline of creations.
  if (create && options_.baseline) {
    CreationObservation o;
    o.namespace_ = ns;
    o.kind = std::string(kind);
    o.creator = actor;
    o.userAgent = actorUA;
    for (const auto& img : images) addUnique(o.imageSources, imageSource(img));
    o.timeMicros = e.timeMicros;
    std::vector<Novelty> novel = options_.baseline->observe(o);
    // Within one ownership chain (Deployment -> ReplicaSet -> Pod) a novelty is reported once.
    const std::string_view root = uid.empty() ? std::string_view() : objects_.rootUid(uid);
    TrackedObject* chain = root.empty() ? nullptr : &chainNovelties_.upsert(root, "", "", "");
    const bool inherited = chain && root != uid;
    for (const auto& n : novel) {
      const std::string rule(dimensionRule(n.dimension));
      const std::string key = std::string(dimensionName(n.dimension)) + "\x1f" + n.value;
      const bool already = inherited && chain->hasKey(key);
      if (chain) chain->addKey(key);
      if (already || trusted(rule, actor)) continue;
      Finding f = makeFinding(rule);
      f.severity = Severity::kMedium;
      f.details["dimension"] = std::string(dimensionName(n.dimension));
      f.details["value"] = n.value;
      if (n.newKey) f.details["newKey"] = "true";
      const std::string scope = std::string(kind) + "s in namespace " + std::string(ns);
      switch (n.dimension) {
        case BaselineDimension::kCreator:
          f.summary = actor + " created " + what() +
                      (n.newKey ? ": first " + scope + " since learning ended"
                                : ": never seen creating " + scope);
          break;
        case BaselineDimension::kImageSource:
          f.summary = what() + " runs image source " + n.value + ", never seen for " + scope;
          break;
        case BaselineDimension::kUserAgent:
          f.summary = actor + " created " + what() + " with client " + n.value +
                      ", never seen creating " + scope;
          break;
      }
      out.push_back(std::move(f));
    }
  }
}

}  // namespace kc::audit
