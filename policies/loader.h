#pragma once
// Loads policy documents (Kubernetes-style YAML: apiVersion policy.kube-customs.io/v1alpha1,
// kind ImagePolicy or DeploymentPolicy) from in-memory (file name, text) pairs; the caller reads
// the files. Every problem is reported with file, line, column and field; unknown fields,
// wrong types, invalid globs and conflicting settings are errors. Never throws.
// Thread-safe: a pure function.

#include <memory>
#include <string>
#include <vector>

#include "policies/engine.h"

namespace kc::policy {

inline constexpr std::string_view kPolicyApiVersion = "policy.kube-customs.io/v1alpha1";

// The default spec.systemNamespaces.allowedUsernames: the control plane's own identities (the
// controllers' service accounts in kube-system, kubelets, the components that authenticate
// as themselves). Not "system:*": that holds system:anonymous and every namespace's service
// accounts.
inline const std::vector<std::string> kSystemUsernames = {"system:serviceaccount:kube-system:*",
                                                          "system:node:*",
                                                          "system:kube-controller-manager",
                                                          "system:kube-scheduler",
                                                          "system:kube-proxy",
                                                          "system:apiserver"};
// The namespaces of the cluster's own components: the default of spec.systemNamespaces and
// what the audit detections call system namespaces (one list for both doors).
inline const std::vector<std::string> kSystemNamespaces = {"kube-system", "kube-public",
                                                           "kube-node-lease"};

struct PolicyFile {
  std::string name;  // shown in messages, e.g. "policies/images.yaml"
  std::string text;
};

struct LoadMessage {
  std::string file;
  int line = 0;       // 1-based, 0 when unknown
  int column = 0;     // 1-based, 0 when unknown
  std::string field;  // e.g. "spec.tags.disallowLatest"; empty for document-level problems
  std::string message;
  std::string toString() const;  // "file:line:column: field: message"
};

struct LoadResult {
  std::shared_ptr<const PolicySet> policies;  // set only when there are no errors
  std::vector<LoadMessage> errors;
  std::vector<LoadMessage> warnings;
  bool ok() const { return errors.empty(); }
};

LoadResult loadPolicies(const std::vector<PolicyFile>& files);

// Every rule id an exception may name (image.*, pss.*, namespace.system, ...).
const std::vector<std::string>& knownRuleIds();

}  // namespace kc::policy
