#include "cmd/audit_role.h"

#include <algorithm>

#include "policies/rules.h"

namespace kc::cmd {

audit::DetectorOptions detectorOptionsFrom(const Config& cfg) {
  const DetectionsConfig& d = cfg.audit.detections;
  audit::DetectorOptions opts;
  opts.trustedIdentities = d.trustedIdentities;
  opts.privilegedIdentities = d.privilegedIdentities;
  opts.reportControlPlaneMirrorPods = d.reportControlPlaneMirrorPods;
  opts.reportWarnViolations = d.reportWarnViolations;
  opts.maxTrackedObjects = d.maxTrackedObjects;
  opts.maxTrackedRequests = d.maxTrackedRequests;
  for (const auto& text : cfg.audit.clusterNetworks) {
    policy::IpBlock block;
    if (policy::parseIpBlock(text, block)) opts.clusterNetworks.push_back(std::move(block));
  }
  opts.system = policy::SystemScope::with(cfg.audit.preset, cfg.audit.systemNamespaces,
                                          cfg.audit.systemIdentities);
  return opts;
}

audit::AuditServiceOptions auditServiceOptionsFrom(const Config& cfg,
                                                   audit::DetectorOptions::PolicySource policies) {
  audit::AuditServiceOptions o;
  o.detector = detectorOptionsFrom(cfg);
  o.detector.policies = std::move(policies);
  o.learningPeriodMicros = static_cast<int64_t>(cfg.audit.learningPeriodHours * 3600 * 1e6);
  o.pipeline.limits.maxDocumentBytes =
      std::max(cfg.audit.webhookMaxBodyBytes, cfg.audit.maxEventBytes);
  o.pipeline.limits.maxEventBytes = cfg.audit.maxEventBytes;
  const audit::StatePaths defaults = audit::StatePaths::under(cfg.stateDir);
  auto pick = [](const std::string& configured, const std::string& fallback) {
    return configured.empty() ? fallback : configured;
  };
  // The checkpoint and its dedupe journal exist only for a followed log.
  if (!cfg.audit.logPath.empty())
    o.state.checkpoint = pick(cfg.audit.checkpointFile, defaults.checkpoint);
  o.state.baseline = pick(cfg.audit.baselineFile, defaults.baseline);
  o.state.memory = pick(cfg.audit.memoryFile, defaults.memory);
  o.state.spool = pick(cfg.audit.webhookSpoolFile, defaults.spool);
  o.onFinding = logFinding;
  o.logPath = cfg.audit.logPath;
  o.maxLineBytes = cfg.audit.maxEventBytes;
  o.logMaxBytesPerPoll = cfg.audit.logMaxBytesPerPoll;
  o.pollInterval = millis(cfg.audit.pollIntervalSeconds);
  o.stateSaveInterval = millis(cfg.audit.stateSaveIntervalSeconds);
  o.queueMaxBytes = cfg.audit.queueMaxBytes;
  // The webhook backend runs when the API server can authenticate to it.
  o.webhook = !cfg.tls.clientCAFile.empty() || !cfg.audit.bearerTokens.empty();
  o.receiver.bearerTokens = cfg.audit.bearerTokens;
  o.receiver.allowedClientNames = cfg.audit.allowedClientNames;
  o.receiver.retryAfterSeconds = cfg.audit.retryAfterSeconds;
  o.webhookMaxBodyBytes = cfg.audit.webhookMaxBodyBytes;
  o.alerts = alertmanagerOptionsFrom(cfg);
  return o;
}

audit::AlertmanagerOptions alertmanagerOptionsFrom(const Config& cfg) {
  audit::AlertmanagerOptions o;
  o.urls = cfg.alertmanager.urls;
  o.caFile = cfg.alertmanager.caFile;
  o.bearerTokenFile = cfg.alertmanager.bearerTokenFile;
  o.resendInterval = millis(cfg.alertmanager.resendIntervalSeconds);
  o.alertLifetime = millis(cfg.alertmanager.alertLifetimeSeconds);
  return o;
}

AuditRole::AuditRole(const Config& cfg, prometheus::Registry& registry,
                     audit::DetectorOptions::PolicySource policies,
                     metrics::ServerMetrics& serverMetrics) {
  audit::AuditServiceOptions o = auditServiceOptionsFrom(cfg, std::move(policies));
  o.badRequest = [&serverMetrics](std::string_view r) { serverMetrics.badRequest(r); };
  service_ = std::make_unique<audit::AuditService>(std::move(o), registry);
}

}  // namespace kc::cmd
