#pragma once
// The node door as `serve` runs it: the configuration (node.*) turned into a
// node::NodeService that watches this node's container runtimes, with its state in the state
// directory and its alerts sent like the audit door's.
// Thread-safety: that of NodeService.

#include <chrono>
#include <memory>
#include <string>

#include "cmd/config.h"
#include "node/node_service.h"
#include "respond/auto_responder.h"
#include "respond/responder.h"

namespace kc::cmd {

// The node's name: node.name, else $NODE_NAME, else the host name.
std::string nodeNameFrom(const Config& cfg);

// The service's options from the configuration. False and `error` for settings the node door
// cannot use (an allow-list entry it cannot read).
bool nodeServiceOptionsFrom(const Config& cfg, node::NodeServiceOptions& out, std::string& error);

// The responder's options (node.respond.*, the sockets, the state directory), for the node role
// and `kube-customs respond`. False and `error` for settings it cannot use.
bool respondOptionsFrom(const Config& cfg, respond::RespondOptions& out, std::string& error);

// The node role's automatic responder, or null when node.respond asks for nothing automatic
// (evidenceMinSeverity off and isolate off or manual).
std::unique_ptr<respond::AutoResponder> autoResponderFrom(const Config& cfg,
                                                          prometheus::Registry& registry,
                                                          std::string& error);

class NodeRole {
 public:
  NodeRole(std::unique_ptr<node::NodeService> service,
           std::unique_ptr<respond::AutoResponder> responder)
      : service_(std::move(service)), responder_(std::move(responder)) {}
  bool start(std::string& error) {
    if (responder_) responder_->start();
    return service_->start(error);
  }
  // For /readyz: "" when a runtime's event stream is open.
  std::string notReady() const { return service_->notReady(); }
  void stop(std::chrono::milliseconds deadline) {
    service_->stop(deadline);
    if (responder_) responder_->stop(deadline);
  }

 private:
  std::unique_ptr<node::NodeService> service_;
  std::unique_ptr<respond::AutoResponder> responder_;
};

}  // namespace kc::cmd
