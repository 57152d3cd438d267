#include "cmd/node_role.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "cmd/audit_role.h"

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
  out.onFinding = audit::logFinding;
  out.alerts = alertmanagerOptionsFrom(cfg);
  return true;
}

}  // namespace kc::cmd
