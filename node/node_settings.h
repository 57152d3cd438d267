#pragma once
// The node door's settings (`node.*`), read through common/settings.h. Its rules' settings are
// read by the role (cmd/node_role.cc), which refuses what it cannot use. The response's
// settings (`node.respond.*`) are respond/respond_settings.h.

#include <string>
#include <vector>

#include "common/settings.h"

namespace kc::node {

struct NodeConfig {
  std::string name;  // "": $NODE_NAME (the chart sets it from the downward API), else the host's
  std::string dockerSocket = "/var/run/docker.sock";                 // "": no Docker Engine watcher
  std::string containerdSocket = "/run/containerd/containerd.sock";  // "": no containerd watcher
  std::vector<std::string> containerdNamespaces;                     // watched; empty: all
  std::string procRoot = "/proc";  // the host's /proc (the chart mounts it at /host/proc)
  std::string cgroupRoot = "/sys/fs/cgroup";  // the host's cgroup tree
  double sampleIntervalSeconds = 10;          // resource sampling; 0: off
  double learningPeriodSeconds = 86400;       // of each workload's normal
  // Containers expected outside Kubernetes: image:<glob>, name:<glob>, label:<key>=<glob>, or a
  // bare image glob (node/allow_list.h).
  std::vector<std::string> allowedOutsideKubernetes;
  // The admission policies applied to the kubelet's containers too (static pods, what got past
  // a failing-open webhook).
  bool recheckKubernetes = true;
};

settings::Section<NodeConfig> nodeSection();

}  // namespace kc::node
