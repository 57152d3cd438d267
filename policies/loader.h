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
#include "policies/system_scope.h"

namespace kc::policy {

inline constexpr std::string_view kPolicyApiVersion = "policy.kube-customs.io/v1alpha1";

// The defaults of spec.systemNamespaces (namespaces, allowedUsernames) are kSystemNamespaces
// and kSystemUsernames, the built-in system scope (policies/system_scope.h).

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
