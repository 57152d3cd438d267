#include "cmd/node_role.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "cmd/audit_role.h"
#include "common/log.h"
#include "policies/system_scope.h"
#include "respond/accept.h"

namespace kc::cmd {

std::string nodeNameFrom(const Config& cfg) {
  if (!cfg.node.name.empty()) return cfg.node.name;
  if (const char* env = std::getenv("NODE_NAME"); env && *env) return env;
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0]) return host;
  return "unknown";
}

bool nodeServiceOptionsFrom(const Config& cfg, node::NodeServiceOptions& out, std::string& error) {
  out.rules.nodeName = nodeNameFrom(cfg);
  out.rules.recheckKubernetes = cfg.node.recheckKubernetes;
  out.rules.reportWarnViolations = cfg.audit.detections.reportWarnViolations;
  if (!node::OutsideAllowList::parse(cfg.node.allowedOutsideKubernetes, out.rules.allowed, error))
    return false;
  out.dockerSocket = cfg.node.dockerSocket;
  out.containerdSocket = cfg.node.containerdSocket;
  out.containerdNamespaces = cfg.node.containerdNamespaces;
  out.procRoot = cfg.node.procRoot;
  out.sample = cfg.node.sampleIntervalSeconds > 0;
  out.anomaly.interval = millis(cfg.node.sampleIntervalSeconds);
  out.anomaly.learningPeriod = millis(cfg.node.learningPeriodSeconds);
  out.anomaly.sampler.procRoot = cfg.node.procRoot;
  out.anomaly.sampler.cgroupRoot = cfg.node.cgroupRoot;
  out.anomaly.normalsPath = cfg.stateDir + "/node-normals.json";
  out.judgedJournal = cfg.stateDir + "/node-judged.journal";
  out.resumeFile = cfg.stateDir + "/node-resume.json";
  out.acceptedFile = respond::nodeAcceptedPath(cfg.stateDir);
  out.onFinding = audit::logFinding;
  out.alerts = alertmanagerOptionsFrom(cfg);
  return true;
}

bool respondOptionsFrom(const Config& cfg, respond::RespondOptions& out, std::string& error) {
  const auto& r = cfg.respond;
  out.stateDir = cfg.stateDir;
  out.dockerSocket = cfg.node.dockerSocket;
  out.containerdSocket = cfg.node.containerdSocket;
  out.procRoot = cfg.node.procRoot;
  out.kubeletLogRoot = r.kubeletLogRoot;
  out.logTailLines = static_cast<std::size_t>(r.logTailLines);
  out.maxBundles = r.maxBundles;
  out.maxBundleBytes = r.maxBundleBytes;
  out.maxEvidenceBytes = r.maxEvidenceBytes;
  if (!respond::parseIsolateMode(r.isolate, out.isolate)) {
    error = "node.respond.isolate: must be one of off, manual, high, critical";
    return false;
  }
  // The system namespaces of the audit door (with a managed cluster's preset): their pods are
  // never isolated.
  out.systemNamespaces = policy::SystemScope::with(cfg.audit.preset, cfg.audit.systemNamespaces,
                                                   cfg.audit.systemIdentities)
                             .namespaces;
  return node::OutsideAllowList::parse(cfg.node.allowedOutsideKubernetes, out.allowed, error);
}

std::unique_ptr<respond::AutoResponder> autoResponderFrom(const Config& cfg,
                                                          prometheus::Registry& registry,
                                                          std::string& error) {
  respond::AutoResponderOptions o;
  if (!respondOptionsFrom(cfg, o.respond, error)) return nullptr;
  const std::string& min = cfg.respond.evidenceMinSeverity;
  if (min == "low") o.evidenceMin = audit::Severity::kLow;
  if (min == "medium") o.evidenceMin = audit::Severity::kMedium;
  if (min == "high") o.evidenceMin = audit::Severity::kHigh;
  if (min == "critical") o.evidenceMin = audit::Severity::kCritical;
  if (!o.evidenceMin && !respond::autoIsolateSeverity(o.respond.isolate)) return nullptr;
  o.evidencePerMinute = cfg.respond.evidencePerMinute;
  o.includeEnv = cfg.respond.includeEnv;
  o.onResponse = [](const nlohmann::json& j) {
    nlohmann::json fields = j;
    fields[log::field::kEventType] = log::event::kNodeResponse;
    const bool ok = j.value("outcome", "") == "ok";
    const std::string what = j.value("action", "") + " " + j.value("outcome", "") + ": " +
                             j.value("containerName", j.value("containerID", ""));
    log::write(ok ? log::Level::kInfo : log::Level::kWarn, what, fields);
  };
  return std::make_unique<respond::AutoResponder>(std::move(o), registry);
}

}  // namespace kc::cmd
