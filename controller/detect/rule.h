#pragma once
// What a detection rule unit is and what it is given. A unit holds one rule, or a small family
// of rules that share state (sessions, services, the baseline's novelties); it owns that state,
// bounded. The Detector (controller/detect/detections.h) makes one of each, reads each event's
// classes from its envelope and calls the units whose catalogue rows ask for those classes, in the
// order of the unit table (controller/detect/units.cc).
//
// Events of a class that several rules read are given to them as a view built once by the
// Detector: a pod-carrying write (PodWrite: the pod model, the object's memory and who is
// responsible), a Service write (ServiceWrite: its exposure before and after), a session
// (Session: the pod and the exec request).
//
// Adding a rule: docs/architecture.md, "Adding a detection rule".

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/detect/baseline.h"
#include "controller/detect/bounded_map.h"
#include "controller/detect/catalogue.h"
#include "controller/detect/finding.h"
#include "controller/detect/ownership.h"
#include "controller/events/audit_event.h"
#include "controller/events/exec_command.h"
#include "policies/engine.h"
#include "policies/pod_spec.h"

namespace kc::audit {

struct DetectorOptions;

namespace detect {

using Findings = std::vector<Finding>;
using simdjson::dom::element;

// Lists in a finding (images, containers, offending items) are cut here: an alert annotation is
// for people, and the audit event keeps the rest.
constexpr size_t kMaxListed = 16;

// What every unit may use: the detector's options and the parts of a finding every rule fills
// the same way.
class RuleContext {
 public:
  RuleContext(const DetectorOptions& options, ObjectTracker& objects)
      : options_(options), objects_(objects) {}
  const DetectorOptions& options() const { return options_; }
  // Objects remembered for attribution (read-only for units; the Detector writes).
  const ObjectTracker& objects() const { return objects_; }
  // Whether `user` is trusted for `rule` (audit.detections.trustedIdentities).
  bool trusted(std::string_view rule, std::string_view user) const;
  // Whether `ns` is a system namespace, and `user` a system identity (a username of the system
  // scope, or a service account of a system namespace): DetectorOptions::system, the built-in
  // scope of policies/system_scope.h with the presets and settings of the audit role.
  bool systemNamespace(std::string_view ns) const;
  bool systemIdentity(std::string_view user) const;
  // A finding of `rule` with the event's who, what and when filled in.
  Finding finding(const Event& e, std::string_view rule) const;

 private:
  const DetectorOptions& options_;
  ObjectTracker& objects_;
};

// One observation of a rule on an object, with the key that suppresses it later.
struct Hit {
  Hit(std::string key, std::string container, std::string detail, Severity severity,
      std::string policy = {}, std::string policyRule = {})
      : key(std::move(key)),
        container(std::move(container)),
        detail(std::move(detail)),
        severity(severity),
        policy(std::move(policy)),
        policyRule(std::move(policyRule)) {}
  std::string key;
  std::string container;
  std::string detail;
  Severity severity;
  std::string policy, policyRule;  // policy-violation only: which policy and rule
};

// A pod-carrying object written (a Pod, a workload's template, ephemeral containers added):
// the object as the admission policies read it, and what is remembered of it. Built by the
// Detector before any unit sees it (the memory's actor and owner are then already updated);
// prev() is the object's memory as it was before this event.
class PodWrite {
 public:
  // Reads `obj` (of `kind`) and updates its memory; valid() is false, and nothing is
  // remembered, when it holds no pod spec the policies can read.
  PodWrite(const RuleContext& ctx, const Event& e, element obj, std::string_view kind,
           ObjectTracker& objects);
  PodWrite(const PodWrite&) = delete;
  PodWrite& operator=(const PodWrite&) = delete;
  bool valid() const { return rec_ != nullptr; }

  const Event& e;
  const element obj;
  const std::string_view kind;
  std::string_view ns, name, uid;
  policy::PodModel pod;
  std::string requestUser;  // who made this request
  std::string actor;        // who is responsible (through controllers)
  std::string actorUserAgent;
  bool create = false;              // a new object (not ephemeral containers added)
  bool controller = false;          // the request is a workload controller's
  bool ephemeralSub = false;        // ephemeral containers added through the subresource
  bool seenBefore = false;          // known before this event (and not created by it)
  std::vector<std::string> images;  // the pod's images, distinct, bounded

  TrackedObject& rec() { return *rec_; }  // the object's memory, updated in place
  const TrackedObject& prev() const { return *prev_; }

  // Whether container `c` is judged by this write (through the subresource, only ephemeral
  // containers are).
  bool inScope(const policy::ContainerModel& c) const {
    return !ephemeralSub || c.kind == policy::ContainerKind::kEphemeral;
  }
  bool isEphemeral(std::string_view container) const;
  // The paths of the pod's hostPath volumes, lexically normalized (normalizeHostPath), in the
  // order of the volumes; worked out once, on first use.
  const std::vector<std::string>& hostPaths();
  // Whether a hostPath volume mounts the host's root file system ("/").
  bool mountsHostRoot();
  // "Pod ns/name".
  std::string what() const;
  // A finding of `rule` on this object, attributed to the actor.
  Finding finding(std::string_view rule) const;
  // Keeps the hits not found before on this object or its owner (the template it was made
  // from), and remembers all of them on the object.
  std::vector<Hit> fresh(std::vector<Hit> hits);
  // Reports the fresh hits of `rule` as one finding whose summary is lead() followed by the
  // hits' details, unless the actor is trusted for the rule. lead() is called only then.
  template <typename Lead>
  void emit(std::string_view rule, std::vector<Hit> hits, Lead&& lead, Findings& out) {
    if (hits.empty()) return;
    std::vector<Hit> kept = fresh(std::move(hits));
    if (kept.empty() || ctx_.trusted(rule, actor)) return;
    report(rule, kept, lead(), out);
  }
  const RuleContext& context() const { return ctx_; }

 private:
  void report(std::string_view rule, const std::vector<Hit>& hits, const std::string& lead,
              Findings& out) const;
  bool foundBefore(std::string_view key) const;

  const RuleContext& ctx_;
  TrackedObject* rec_ = nullptr;
  const TrackedObject* prev_ = nullptr;
  TrackedObject resetCopy_;  // the memory of an object known by name only, before upsert
  size_t prevKeys_ = 0;
  const TrackedObject* owner_ = nullptr;
  size_t ownerKeys_ = 0;
  std::vector<std::string> ephemeralNames_;
  std::optional<std::vector<std::string>> hostPaths_;
};

// The exposure of a Service as remembered: what a change adds is reported.
struct ServiceExposure {
  std::string type;                      // "" until seen; ClusterIP when unset; bounded
  bool outside = false;                  // type NodePort or LoadBalancer
  std::vector<std::string> externalIPs;  // sorted, bounded
  // Ports and externalName as the policies read them (policy::readServiceExposure), so that
  // a change of those re-applies the Service policies as the webhook does.
  std::size_t judgedHash = 0;
};

// A core Service written: its exposure now and as last seen. `was` is empty for a Service
// created, or changed but not seen before unless the change left its exposure alone.
struct ServiceWrite {
  const Event& e;
  element obj;
  element spec;  // a JSON null when absent
  ServiceExposure now, was;
  // Whether the exposure the policies judge changed (or is new here).
  bool judgedChanged() const {
    return now.type != was.type || now.externalIPs != was.externalIPs ||
           now.judgedHash != was.judgedHash;
  }
};

// The last exposure seen of each Service ("namespace/name"). Bounded: the oldest Service is
// forgotten first.
class ServiceMemory {
 public:
  // The view of `e`'s Service (a body is present), remembering its exposure now.
  std::optional<ServiceWrite> observe(const Event& e);

 private:
  static constexpr size_t kMaxServices = 16'384;
  BoundedMap<ServiceExposure> services_{kMaxServices};
};

// An exec, attach or portforward into a pod that the API server allowed.
struct Session {
  const Event& e;
  std::string_view subresource;  // exec, attach or portforward
  std::string_view ns, pod;      // from objectRef, else from the request line
  std::optional<ExecRequest> request;
};

// A unit of one or more rules. Each handler is called for the classes its rules' catalogue
// rows name; the default does nothing.
class RuleUnit {
 public:
  virtual ~RuleUnit() = default;
  virtual void onPod(PodWrite&, Findings&) {}
  virtual void onService(const ServiceWrite&, Findings&) {}
  virtual void onSession(const Session&, Findings&) {}
  // The other classes: the event itself.
  virtual void onEvent(EventClass, const Event&, Findings&) {}
};

// The unit table: a unit's name (its file, test file and docs entry), the rules it reports and
// its maker. In the order the units see an event, which is the order of their findings.
struct UnitInfo {
  std::string_view name;
  std::vector<std::string_view> rules;
  std::unique_ptr<RuleUnit> (*make)(const RuleContext&);
};
const std::vector<UnitInfo>& ruleUnits();

// Helpers shared by the units.
inline bool startsWith(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}
inline bool success(int code) { return code == 0 || (code >= 200 && code < 300); }
// A session's upgrade (101) is a success too.
inline bool sessionOk(int code) { return success(code) || code == 101; }
// Whether `user` authenticated with a service account token bound to a pod or a node (its
// user.extra names one).
bool boundToken(const UserInfo& user);
// The object an event is judged by: the admitted object (responseObject) when present, else
// the submitted one (requestObject) unless the request was a patch (a patch is not an object).
// Truncated events carry no bodies. A JSON null when there is none.
element judgedObject(const Event& e);
// A string field of an object; empty when absent or not a string.
std::string_view str(element e, std::string_view key);
// The kind of a pod-carrying resource ("deployments" -> "Deployment"); empty for others.
std::string_view kindForResource(std::string_view resource);
std::string joinList(const std::vector<std::string>& v, std::string_view sep = ", ");
void addUnique(std::vector<std::string>& v, std::string s);
std::string objectPath(std::string_view ns, std::string_view name);
std::string upper(std::string_view s);
// The admission webhooks the API server says failed open for the request.
std::vector<std::string> failedOpenWebhooks(const Event& e);

}  // namespace detect
}  // namespace kc::audit
