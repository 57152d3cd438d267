#pragma once
// Builders of audit events as the API server writes them, and the objects they carry, shared by
// the tests of the audit detections (test/controller/detect/*_test.cc and
// test/controller/detector_test.cc).

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "controller/detect/detections.h"
#include "controller/events/audit_event.h"
#include "policies/engine.h"

namespace kc::audit::detect_test {

using nlohmann::json;

constexpr int64_t kDay = 24LL * 3600 * 1'000'000;

inline const std::string kKubectl = "kubectl/v1.30.1 (linux/amd64) kubernetes/7c48c2b";
inline const std::string kKcmPrefix =
    "kube-controller-manager/v1.30.1 (linux/amd64) kubernetes/7c48c2b/";

// The shipped default policies, as the webhook loads them.
std::shared_ptr<const policy::PolicySet> defaultPolicies();

// Builds an audit.k8s.io/v1 Event as the apiserver writes it (log backend line or webhook
// EventList item).
struct Ev {
  std::string auditID;
  std::string stage = "ResponseComplete";
  std::string verb = "create";
  std::string uri;
  std::string user;
  std::vector<std::string> groups = {"system:authenticated"};
  std::string userAgent = kKubectl;
  std::string resource, subresource, ns, name, apiGroup, apiVersion = "v1";
  int code = 201;
  json requestObject;
  json responseObject;
  std::string time = "2026-01-10T09:00:00.000000Z";
  json annotations = {{"authorization.k8s.io/decision", "allow"},
                      {"authorization.k8s.io/reason", ""}};
  json impersonated;
  std::string level = "RequestResponse";

  std::string str() const;
};

// "2026-01-<day>T<hour>:00:00.000000Z".
std::string at(int day, int hour = 9);

// Parses `doc` (one event or an EventList) and feeds every event to `d`: the findings.
std::vector<Finding> feed(Detector& d, const std::string& doc);

// The first finding of rule `id`, or nullptr.
const Finding* rule(const std::vector<Finding>& fs, std::string_view id);
// The rules of the findings, in order.
std::vector<std::string> rules(const std::vector<Finding>& fs);

json podTemplateSpec(const std::string& image, json extraSpec = json::object(),
                     json container = json::object());
json deployment(const std::string& ns, const std::string& name, const std::string& uid,
                const std::string& image);
json replicaSet(const std::string& ns, const std::string& name, const std::string& uid,
                const std::string& ownerName, const std::string& ownerUid,
                const std::string& image);
json pod(const std::string& ns, const std::string& name, const std::string& uid,
         const std::string& image, json owner = nullptr, json extraSpec = json::object(),
         json container = json::object());
json ownerRef(const std::string& kind, const std::string& name, const std::string& uid);

// `user` creates Deployment ns/name (uid "uid-<id>", image registry.example.com/x:1), as the
// API server logs it (the admitted object only): the findings.
std::vector<Finding> createDeployment(Detector& d, const std::string& ns, const std::string& name,
                                      const std::string& user, const std::string& id);
// `user` creates Pod ns/name: audit ID "a-<name>", the pod made by pod() (uid "uid-<name>", no
// owner, `extraSpec` and `container` merged in) as submitted and as admitted, as the API server
// logs it at RequestResponse level.
Ev podCreation(const std::string& ns, const std::string& name, const std::string& user,
               const std::string& image, json extraSpec = json::object(),
               json container = json::object());
// podCreation() fed to `d`: the findings.
std::vector<Finding> createPod(Detector& d, const std::string& ns, const std::string& name,
                               const std::string& user, const std::string& image,
                               json extraSpec = json::object(), json container = json::object());
// `user` writes `resource` ns/name of `apiGroup` with `verb`, logged at Metadata level (no
// bodies), as common audit policies log most resources: the findings.
std::vector<Finding> writeWithoutBody(Detector& d, const std::string& id, const std::string& verb,
                                      const std::string& user, const std::string& apiGroup,
                                      const std::string& resource, const std::string& ns,
                                      const std::string& name);
// A Deployment created by `user`, then its ReplicaSet and Pod created by the controllers.
std::vector<Finding> rollOut(Detector& d, const std::string& user, const std::string& ns,
                             const std::string& name, const std::string& image, int day,
                             const std::string& tag);

// The kinds that carry a pod spec, with the resource and API group the apiserver logs for them.
struct PodCarryingKind {
  std::string kind, resource, apiGroup;
};
extern const std::vector<PodCarryingKind> kPodCarryingKinds;

// A container as the apiserver returns it (defaults filled in), with `extra` merged in.
json fullContainer(const std::string& name, const std::string& image, json extra = json::object());

// A pod spec whose privileged init container reaches the node's containerd through its socket
// mounted from the host, and whose app container adds SYS_ADMIN.
json initEscapeSpec(const std::string& restartPolicy = "Always",
                    const std::string& initImage = "docker.io/library/busybox:1.36");

// An object of kind `k` carrying `spec` as its pod spec, nested where that kind keeps it. As
// submitted (`admitted` false: no uid, no server fields) or as admitted (responseObject).
json podCarryingObject(const PodCarryingKind& k, const std::string& ns, const std::string& name,
                       const std::string& uid, const json& spec, bool admitted);

// `user` creates an object of kind `k` (the create event, as the apiserver logs it).
Ev createEvent(const PodCarryingKind& k, const std::string& ns, const std::string& name,
               const std::string& uid, const json& spec, const std::string& user);

// An exec session into shop/web, started (ResponseStarted, 101).
Ev shopExec(const std::string& id, const std::string& user);

}  // namespace kc::audit::detect_test
