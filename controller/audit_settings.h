#pragma once
// The audit door's settings (`audit.*`, `audit.detections.*`), read through common/settings.h.
// cmd/audit_role.cc maps them onto the audit service's options.

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "common/settings.h"

namespace kc::audit {

// Tuning of the audit detections (audit.detections.*), mapped onto DetectorOptions by
// cmd::detectorOptionsFrom. Defaults are DetectorOptions' own. docs/detections.md says which
// rule each setting affects.
struct DetectionsConfig {
  // Rule id (or "*": every rule) -> identities (globs, '*' matches any run of characters)
  // whose requests that rule ignores; for object rules the attributed identity is matched.
  std::map<std::string, std::vector<std::string>> trustedIdentities;
  // Extra impersonation targets treated as administrators (exact usernames).
  std::vector<std::string> privilegedIdentities;
  bool reportControlPlaneMirrorPods = false;
  bool reportWarnViolations = false;
  std::size_t maxTrackedObjects = 100'000;
  std::size_t maxTrackedRequests = 16'384;
};

struct AuditConfig {
  std::string logPath;
  std::string checkpointFile;            // default STATE_DIR/audit-checkpoint.json
  std::string baselineFile;              // default STATE_DIR/baseline.json
  std::string memoryFile;                // default STATE_DIR/audit-memory.jsonl
  std::string webhookSpoolFile;          // default STATE_DIR/audit-webhook.spool
  double stateSaveIntervalSeconds = 30;  // baseline and memory, while events arrive
  double learningPeriodHours = 168;
  std::size_t webhookMaxBodyBytes = 12 * 1024 * 1024;
  std::size_t maxEventBytes = 3 * 1024 * 1024;
  std::size_t queueMaxBytes = 64 * 1024 * 1024;
  int retryAfterSeconds = 5;
  std::vector<std::string> bearerTokens;
  std::vector<std::string> allowedClientNames;
  double pollIntervalSeconds = 0.5;
  DetectionsConfig detections;
  // The cluster's networks (CIDR blocks, IPv4 and IPv6: nodes, pods, services, the control
  // plane): bound service account tokens and system identities used from outside them are
  // reported (serviceaccount-token-stolen). Empty: that check is off.
  std::vector<std::string> clusterNetworks;
  // What the detections call the system (policies/system_scope.h): presets of managed clusters
  // ("gke", "eks", "aks", "none"), and more system namespaces and identities (globs), added to
  // the built-in ones.
  std::vector<std::string> preset;
  std::vector<std::string> systemNamespaces;
  std::vector<std::string> systemIdentities;
  std::size_t logMaxBytesPerPoll = 64 * 1024 * 1024;  // a backlog is read over several polls
};

settings::Section<AuditConfig> auditSection();
settings::Section<DetectionsConfig> detectionsSection();  // audit.detections

}  // namespace kc::audit
