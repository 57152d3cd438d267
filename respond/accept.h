#pragma once
// `kube-customs respond accept`: what a finding saw, taken in as expected from now on, in the
// place its rule reads:
//   container-outside-kubernetes             -> the node's allow-list ("image:<image>")
//   container-cpu/memory/network-anomaly     -> the workload's normal of that metric
//   unexpected-creator/image-source/user-agent -> the audit door's baseline
// The node's accepts are kept in STATE_DIR/node-accepted.json, which the node role reads at
// start and again whenever it changes (so a running agent takes them within seconds); the
// baseline's go through its lock as `kube-customs baseline accept` does. Other rules are tuned
// in the configuration or the policies, and accept says where.
// Thread-safety: functions over files, shared with other processes under a lock.

#include <string>
#include <string_view>
#include <vector>

#include "respond/responder.h"

namespace kc::respond {

struct AcceptOptions {
  std::string stateDir;
  std::string baselineFile;  // "" for STATE_DIR/baseline.json
  bool dryRun = false;
};

// Accepts every finding in `text`: one JSON object (a finding, or a node_finding or
// audit_finding log line), an array of them (an evidence bundle's finding.json), or one per line.
Outcome acceptFinding(std::string_view text, const AcceptOptions& options);

// What STATE_DIR/node-accepted.json holds.
struct NodeAccepted {
  std::vector<std::string> allowedOutsideKubernetes;  // entries as node.allowedOutsideKubernetes
  struct Normal {
    std::string workload;  // the normal's key (the finding's details.workload)
    std::string metric;    // "cpu", "memory", "rx-bytes", ...
    double value = 0;
    std::string at;
  };
  std::vector<Normal> normals;
};
std::string nodeAcceptedPath(const std::string& stateDir);
// Missing file: empty and true. False and `error` when it cannot be read or is not one.
bool loadNodeAccepted(const std::string& path, NodeAccepted& out, std::string& error);

}  // namespace kc::respond
