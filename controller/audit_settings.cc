#include "controller/audit_settings.h"

#include "controller/detect/catalogue.h"
#include "policies/rules.h"
#include "policies/system_scope.h"

namespace kc::audit {
namespace {

using settings::field;

std::string joinRuleIds() {
  std::string out;
  for (const auto& rule : kRuleCatalogue) {
    if (!readsAuditEvents(rule)) continue;
    const std::string_view id = rule.id;
    if (!out.empty()) out += ", ";
    out += id;
  }
  return out;
}

std::string checkRuleId(const std::string& id) {
  if (id == "*") return {};
  if (const RuleInfo* r = findRule(id); r && readsAuditEvents(*r)) return {};
  return "unknown rule id \"" + id + "\" (expected \"*\" or one of " + joinRuleIds() + ")";
}

// A list of identities or names: no empty string.
constexpr settings::ListOptions kNames{.nonEmpty = true};

}  // namespace

settings::Section<AuditConfig> auditSection() {
  using S = AuditConfig;
  return {
      "audit",
      {
          field("logPath", &S::logPath),
          field("checkpointFile", &S::checkpointFile),
          field("baselineFile", &S::baselineFile),
          field("memoryFile", &S::memoryFile),
          field("webhookSpoolFile", &S::webhookSpoolFile),
          field("stateSaveIntervalSeconds", &S::stateSaveIntervalSeconds),
          field("learningPeriodHours", &S::learningPeriodHours),
          field("webhookMaxBodyBytes", &S::webhookMaxBodyBytes),
          field("maxEventBytes", &S::maxEventBytes),
          field("queueMaxBytes", &S::queueMaxBytes),
          field("retryAfterSeconds", &S::retryAfterSeconds),
          field("bearerTokens", &S::bearerTokens),
          field("allowedClientNames", &S::allowedClientNames),
          field("pollIntervalSeconds", &S::pollIntervalSeconds),
          field("logMaxBytesPerPoll", &S::logMaxBytesPerPoll),
          field("clusterNetworks", &S::clusterNetworks),
          field("preset", &S::preset, {.orString = true, .nonEmpty = true}),
          field("systemNamespaces", &S::systemNamespaces, kNames),
          field("systemIdentities", &S::systemIdentities, kNames),
      },
      [](const S& s, settings::Errors& errors) {
        if (s.webhookMaxBodyBytes == 0)
          errors.push_back({"audit.webhookMaxBodyBytes", 0, "must be > 0"});
        if (s.maxEventBytes == 0 || s.maxEventBytes > s.webhookMaxBodyBytes)
          errors.push_back(
              {"audit.maxEventBytes", 0, "must be > 0 and at most audit.webhookMaxBodyBytes"});
        if (s.queueMaxBytes < s.webhookMaxBodyBytes)
          errors.push_back({"audit.queueMaxBytes", 0,
                            "must hold at least one batch (audit.webhookMaxBodyBytes)"});
        if (s.learningPeriodHours < 0)
          errors.push_back({"audit.learningPeriodHours", 0, "must be >= 0"});
        if (s.retryAfterSeconds < 1 || s.retryAfterSeconds > 300)
          errors.push_back({"audit.retryAfterSeconds", 0, "must be between 1 and 300"});
        if (s.pollIntervalSeconds <= 0)
          errors.push_back({"audit.pollIntervalSeconds", 0, "must be > 0"});
        if (s.stateSaveIntervalSeconds <= 0)
          errors.push_back({"audit.stateSaveIntervalSeconds", 0, "must be > 0"});
        if (s.logMaxBytesPerPoll == 0)
          errors.push_back({"audit.logMaxBytesPerPoll", 0, "must be > 0"});
        for (const auto& name : s.preset) {
          if (!policy::findSystemPreset(name))
            errors.push_back({"audit.preset", 0,
                              "unknown preset \"" + name + "\" (expected gke, eks, aks or none)"});
        }
        for (const auto& block : s.clusterNetworks) {
          // Read as the rule reads them (cmd/audit_role.cc).
          if (policy::IpBlock parsed; !policy::parseIpBlock(block, parsed))
            errors.push_back(
                {"audit.clusterNetworks", 0,
                 "\"" + block + "\" is not a CIDR block such as \"10.0.0.0/8\" or \"fd00::/8\""});
        }
      }};
}

settings::Section<DetectionsConfig> detectionsSection() {
  using S = DetectionsConfig;
  return {"audit.detections",
          {
              field("trustedIdentities", &S::trustedIdentities,
                    {.nonEmpty = true, .checkKey = checkRuleId}),
              field("privilegedIdentities", &S::privilegedIdentities, kNames),
              field("reportControlPlaneMirrorPods", &S::reportControlPlaneMirrorPods),
              field("reportWarnViolations", &S::reportWarnViolations),
              field("maxTrackedObjects", &S::maxTrackedObjects),
              field("maxTrackedRequests", &S::maxTrackedRequests),
          },
          [](const S& s, settings::Errors& errors) {
            // The object tracker indexes its records with 32 bits.
            if (s.maxTrackedObjects == 0 || s.maxTrackedObjects > 4'294'967'294u)
              errors.push_back(
                  {"audit.detections.maxTrackedObjects", 0, "must be between 1 and 4294967294"});
            if (s.maxTrackedRequests == 0)
              errors.push_back({"audit.detections.maxTrackedRequests", 0, "must be > 0"});
          }};
}

}  // namespace kc::audit
