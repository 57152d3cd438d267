#pragma once
// The node door's rules: what a container seen on a node, or a command run in one, amounts to
// as findings. Rows of the one rule catalogue (controller/detect/catalogue.h):
// container-outside-kubernetes, container-exec, and policy-violation (the admission policies
// applied to the container as the pod it amounts to, with the same words as at the webhook).
// Pure functions over the container model: no I/O, thread-safe. docs/detections.md has each
// rule's section.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/detect/finding.h"
#include "node/allow_list.h"
#include "node/container.h"
#include "policies/engine.h"

namespace kc::node {

struct NodeRuleOptions {
  std::string nodeName;
  OutsideAllowList allowed;
  // The policies applied to the kubelet's containers too (what got past a failing-open webhook,
  // static pods); the outside containers are always judged.
  bool recheckKubernetes = true;
  bool reportWarnViolations = false;
};

// A finding of `rule` about `c` with the node door's fields filled in (runtime, container,
// image, node, and the pod for the kubelet's containers) and the catalogue's technique.
audit::Finding containerFinding(std::string_view rule, const Container& c, const KubernetesInfo& k,
                                const NodeRuleOptions& o,
                                std::chrono::system_clock::time_point now);

// The findings for a container seen started (or running when the node door started):
// container-outside-kubernetes unless allow-listed or made by the kubelet, and policy-violation
// from `policies` (null: none). A pod's sandbox ("pause") container is never judged. `gone`
// says the container was gone before it could be inspected: judged from what its event said.
std::vector<audit::Finding> judgeContainer(const Container& c, const policy::PolicySet* policies,
                                           const NodeRuleOptions& o,
                                           std::chrono::system_clock::time_point now,
                                           bool gone = false);

// A command run in a container through its runtime (docker exec, ctr task exec, the kubelet's
// execs), scored like a pod exec at the audit door. Into a container outside Kubernetes every
// exec is reported (low at least); into the kubelet's containers only one whose command has
// indicators (token reads, reverse shells, tunnels, ...): the kubelet's exec probes run all the
// time, and a `kubectl exec` is the audit door's pod-exec. A privileged exec is medium at least.
struct ExecSeen {
  std::vector<std::string> command;  // argv; may be one element holding a whole line
  std::string user;
  bool privileged = false;
  std::string execId;
};
std::optional<audit::Finding> judgeExec(const Container& c, const ExecSeen& exec,
                                        const NodeRuleOptions& o,
                                        std::chrono::system_clock::time_point now);

}  // namespace kc::node
