#pragma once
// What "the system" is: the namespaces of the cluster's own components and the identities of
// its control plane. One definition for both doors: the default of a DeploymentPolicy's
// spec.systemNamespaces (policies/loader.cc) and what the audit detections call system
// namespaces and system identities (controller/detect/rule.h), which the presets of managed
// clusters (GKE, EKS, AKS) and the audit settings extend. Header-only data, free of
// dependencies, so that settings can be checked against it anywhere.

#include <string>
#include <string_view>
#include <vector>

namespace kc::policy {

// The control plane's own identities (globs): the controllers' service accounts in kube-system,
// kubelets, the components that authenticate as themselves. Not "system:*": that holds
// system:anonymous, every namespace's service accounts and any client certificate whose
// subject someone chose.
inline const std::vector<std::string> kSystemUsernames = {"system:serviceaccount:kube-system:*",
                                                          "system:node:*",
                                                          "system:kube-controller-manager",
                                                          "system:kube-scheduler",
                                                          "system:kube-proxy",
                                                          "system:apiserver"};
// The namespaces of the cluster's own components.
inline const std::vector<std::string> kSystemNamespaces = {"kube-system", "kube-public",
                                                           "kube-node-lease"};

// What a managed cluster adds: the namespaces its provider manages and the identities its
// control plane and managed add-ons use (globs). docs/configuration.md lists them.
struct SystemPreset {
  std::string_view name;
  std::vector<std::string> namespaces;
  std::vector<std::string> usernames;
};

inline const std::vector<SystemPreset>& systemPresets() {
  static const std::vector<SystemPreset> kPresets = {
      {"gke",
       {"gke-system", "gke-managed-*", "gke-gmp-system", "gmp-system", "gmp-public"},
       {"system:addon-manager", "system:cloud-controller-manager", "system:gcp-controller-manager",
        "system:clustermetrics", "system:l7-lb-controller", "system:managed-certificate-controller",
        "system:konnectivity-server", "*@container-engine-robot.iam.gserviceaccount.com"}},
      {"eks", {}, {"eks:*"}},
      {"aks",
       {"aks-*", "gatekeeper-system", "calico-system", "tigera-operator", "app-routing-system"},
       {"aksService"}},
      {"none", {}, {}},
  };
  return kPresets;
}

// The preset named `name`; nullptr when there is none.
inline const SystemPreset* findSystemPreset(std::string_view name) {
  for (const SystemPreset& p : systemPresets()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

// System namespaces (globs) and identities (globs). A service account of a system namespace is
// a system identity too.
struct SystemScope {
  std::vector<std::string> namespaces = kSystemNamespaces;
  std::vector<std::string> usernames = kSystemUsernames;

  // The built-in scope with `presets` (names findSystemPreset knows; others are skipped: the
  // settings refuse them first) and the extra `namespaces` and `usernames` added.
  static SystemScope with(const std::vector<std::string>& presets,
                          const std::vector<std::string>& namespaces,
                          const std::vector<std::string>& usernames) {
    SystemScope s;
    auto add = [](std::vector<std::string>& to, const std::vector<std::string>& from) {
      for (const auto& v : from) {
        bool known = false;
        for (const auto& have : to) known = known || have == v;
        if (!known) to.push_back(v);
      }
    };
    for (const auto& name : presets) {
      if (const SystemPreset* p = findSystemPreset(name)) {
        add(s.namespaces, p->namespaces);
        add(s.usernames, p->usernames);
      }
    }
    add(s.namespaces, namespaces);
    add(s.usernames, usernames);
    return s;
  }
};

}  // namespace kc::policy
