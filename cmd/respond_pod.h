#pragma once
// `kube-customs respond isolate-pod` and `kube-customs respond release-pod`: print the manifests
// of respond/pod_manifests.h for `kubectl apply --server-side`.

#include <string>
#include <vector>

namespace kc::cmd {

// args: after the sub-command's name. `release`: release-pod rather than isolate-pod. Returns 0
// with the YAML on stdout, 1 when stdout could not be written, 2 on a usage error (nothing
// printed on stdout).
int runRespondPod(const std::vector<std::string>& args, bool release);

}  // namespace kc::cmd
