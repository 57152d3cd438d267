#pragma once
// The audit door as `serve` runs it: the configuration turned into an audit::AuditService
// (controller/audit_service.h), which follows the log, takes the webhook backend's batches and
// owns the pipeline, the baseline and the state.
// Thread-safety: that of AuditService.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cmd/config.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "controller/audit_service.h"
#include "controller/detect/detections.h"

namespace kc::cmd {

using audit::alertFor;
using audit::logFinding;

// The detector's tuning from the configuration (audit.detections.*): trusted and privileged
// identities, what else to report, memory bounds. Leaves policies and baseline unset.
audit::DetectorOptions detectorOptionsFrom(const Config& cfg);

// The audit service of the role: the state under cfg.stateDir (or the configured files), the
// log, the webhook backend, Alertmanager.
audit::AuditServiceOptions auditServiceOptionsFrom(const Config& cfg,
                                                   audit::DetectorOptions::PolicySource policies);

// The Alertmanager client's settings (alertmanager.*), the same for every door.
audit::AlertmanagerOptions alertmanagerOptionsFrom(const Config& cfg);

class AuditRole {
 public:
  AuditRole(const Config& cfg, prometheus::Registry& registry,
            audit::DetectorOptions::PolicySource policies, metrics::ServerMetrics& serverMetrics);

  // Loads the state, starts the file follower, the Alertmanager client and the worker.
  bool start(std::string& error) { return service_->start(error); }
  // False while the role's state cannot be saved (AuditService::stateSaved): the pod is not
  // ready until a save succeeds.
  bool stateSaved() const { return service_->stateSaved(); }
  // The webhook backend route, when an authentication method is configured.
  std::vector<http::Route> routes() { return service_->routes(); }
  // See AuditService::stop.
  void stop(std::chrono::milliseconds deadline) { service_->stop(deadline); }

 private:
  std::unique_ptr<audit::AuditService> service_;
};

}  // namespace kc::cmd
