#pragma once
// The rules behind ImagePolicy and DeploymentPolicy: each turns one PodModel into Violations
// with a stable rule id, the container, the JSON path of the field and a message that says what
// would be accepted. Pure functions, no I/O. Thread-safe.
//
// Rule ids:
//   image.invalidReference  image missing or not a valid reference
//   image.notAllowed        image outside spec.allowedImages
//   image.denied            image matches spec.deniedImages (or the default tool list)
//   image.latestTag         tag "latest" without a digest
//   image.untagged          neither tag nor digest (the runtime pulls "latest")
//   image.digestRequired    no sha256 digest
//   pss.<check>             a Pod Security Standards check, e.g. pss.privileged
//   namespace.system        workload in a system namespace from a non-system identity
//   serviceAccount.notAllowed
//   hostPath.notAllowed

#include <string>
#include <string_view>
#include <vector>

#include "policies/image_ref.h"
#include "policies/pod_spec.h"
#include "policies/policy.h"
#include "policies/types.h"

namespace kc::policy {

struct DefaultDeniedImage {
  std::string_view pattern;
  std::string_view category;
  std::string_view tool;
};

// The documented default list of tunneling tools, miners and attack kits (docs/policies.md).
const std::vector<DefaultDeniedImage>& defaultDeniedImages();

// One container's image reference, parsed once per evaluation and shared by every image policy.
struct ParsedImage {
  bool ok = false;
  ImageRef ref;
  std::string error;                              // why it is invalid, when !ok and set
  std::string storage;                            // backs `name` and `familiar`
  std::vector<std::string_view> name, familiar;   // from imageNameSegments()
};

// Parses the image of every container of `pod`, in order (out[i] is pod.containers[i]).
void parseImages(const PodModel& pod, std::vector<ParsedImage>& out);

// Appends the image rule violations of `policy` for every container of `pod`; `images` from
// parseImages(pod, ...).
void checkImages(const Policy& policy, const PodModel& pod, const std::vector<ParsedImage>& images,
                 std::vector<Violation>& out);

// PSS part of a DeploymentPolicy; returns the failures (exceptions not yet applied).
PssResult checkPodSecurity(const Policy& policy, const PodModel& pod);

// Non-PSS deployment rules (system namespaces, service accounts, hostPath allow-list).
void checkDeploymentRules(const Policy& policy, const PodModel& pod, const EvalInput& in,
                          std::vector<Violation>& out);

// `*` (any run of characters) and `?` over the whole string; for user names, service accounts
// and object names.
bool wildcardMatch(std::string_view pattern, std::string_view s);

// True when `path` equals `prefix` or lies below it on a '/' boundary; ".." never matches.
bool hostPathUnder(std::string_view path, std::string_view prefix);

}  // namespace kc::policy
