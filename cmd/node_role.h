#pragma once
// The node door as `serve` runs it: the configuration (node.*) turned into a
// node::NodeService that watches this node's container runtimes, with its state in the state
// directory and its alerts sent like the audit door's.
// Thread-safety: that of NodeService.

#include <chrono>
#include <memory>
#include <string>

#include "common/config.h"
#include "node/node_service.h"

namespace kc::cmd {

// The node's name: node.name, else $NODE_NAME, else the host name.
std::string nodeNameFrom(const Config& cfg);

// The service's options from the configuration. False and `error` for settings the node door
// cannot use (an allow-list entry it cannot read).
bool nodeServiceOptionsFrom(const Config& cfg, node::NodeServiceOptions& out, std::string& error);

class NodeRole {
 public:
  explicit NodeRole(std::unique_ptr<node::NodeService> service) : service_(std::move(service)) {}
  bool start(std::string& error) { return service_->start(error); }
  // For /readyz: "" when a runtime's event stream is open.
  std::string notReady() const { return service_->notReady(); }
  void stop(std::chrono::milliseconds deadline) { service_->stop(deadline); }

 private:
  std::unique_ptr<node::NodeService> service_;
};

}  // namespace kc::cmd
