#include "common/config.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "common/log.h"
#include "controller/detect/catalogue.h"
#include "policies/system_scope.h"

namespace kc {
namespace {

enum class Type {
  kString,
  kInt,
  kSize,
  kDouble,
  kBool,
  kStringList,
  kStringOrList,  // a string taken as a list of one, or a list of strings
  kStringListMap
};

const char* typeName(Type t) {
  switch (t) {
    case Type::kString:
      return "string";
    case Type::kInt:
      return "integer";
    case Type::kSize:
      return "non-negative integer";
    case Type::kDouble:
      return "number";
    case Type::kBool:
      return "boolean";
    case Type::kStringList:
      return "list of strings";
    case Type::kStringOrList:
      return "string or list of strings";
    case Type::kStringListMap:
      return "map of lists of strings";
  }
  return "?";
}

struct Field {
  Type type;
  std::function<void*(Config&)> target;
  // kStringListMap: checks a key of the map; returns why it is refused, empty when accepted.
  std::string (*checkMapKey)(const std::string&) = nullptr;
  // kStringList, kStringListMap: refuse empty strings in the lists.
  bool nonEmptyItems = false;
};

#define KC_FIELD(path, type, member)                     \
  {                                                      \
    path, Field {                                        \
      type, [](Config& c) -> void* { return &c.member; } \
    }                                                    \
  }
// A list (or map of lists) of identities: no empty string; map keys checked by `check`.
#define KC_IDENTITIES(path, type, member, check)                      \
  {                                                                   \
    path, Field {                                                     \
      type, [](Config& c) -> void* { return &c.member; }, check, true \
    }                                                                 \
  }

std::string joinRuleIds() {
  std::string out;
  for (const auto& rule : audit::kRuleCatalogue) {
    if (!audit::readsAuditEvents(rule)) continue;
    const std::string_view id = rule.id;
    if (!out.empty()) out += ", ";
    out += id;
  }
  return out;
}

std::string checkRuleId(const std::string& id) {
  if (id == "*") return {};
  if (const audit::RuleInfo* r = audit::findRule(id); r && audit::readsAuditEvents(*r)) return {};
  return "unknown rule id \"" + id + "\" (expected \"*\" or one of " + joinRuleIds() + ")";
}

const std::map<std::string, Field>& fields() {
  static const std::map<std::string, Field> kFields = {
      KC_FIELD("roles", Type::kStringList, roles),
      KC_FIELD("logLevel", Type::kString, logLevel),
      KC_FIELD("stateDir", Type::kString, stateDir),
      KC_FIELD("server.listen", Type::kString, server.listen),
      KC_FIELD("server.threads", Type::kInt, server.threads),
      KC_FIELD("server.maxBodyBytes", Type::kSize, server.maxBodyBytes),
      KC_FIELD("server.maxHeaderBytes", Type::kSize, server.maxHeaderBytes),
      KC_FIELD("server.headerTimeoutSeconds", Type::kDouble, server.headerTimeoutSeconds),
      KC_FIELD("server.idleTimeoutSeconds", Type::kDouble, server.idleTimeoutSeconds),
      KC_FIELD("server.maxConnections", Type::kSize, server.maxConnections),
      KC_FIELD("server.maxInFlightBodyBytes", Type::kSize, server.maxInFlightBodyBytes),
      KC_FIELD("server.shutdownGraceSeconds", Type::kDouble, server.shutdownGraceSeconds),
      KC_FIELD("webhook.deadlineAction", Type::kString, webhook.deadlineAction),
      KC_FIELD("tls.certFile", Type::kString, tls.certFile),
      KC_FIELD("tls.keyFile", Type::kString, tls.keyFile),
      KC_FIELD("tls.clientCAFile", Type::kString, tls.clientCAFile),
      KC_FIELD("tls.reloadIntervalSeconds", Type::kDouble, tls.reloadIntervalSeconds),
      KC_FIELD("metrics.listen", Type::kString, metrics.listen),
      KC_FIELD("policies.dir", Type::kString, policies.dir),
      KC_FIELD("policies.reloadIntervalSeconds", Type::kDouble, policies.reloadIntervalSeconds),
      KC_FIELD("policies.settleSeconds", Type::kDouble, policies.settleSeconds),
      KC_FIELD("policies.allowEmpty", Type::kBool, policies.allowEmpty),
      KC_FIELD("audit.logPath", Type::kString, audit.logPath),
      KC_FIELD("audit.checkpointFile", Type::kString, audit.checkpointFile),
      KC_FIELD("audit.baselineFile", Type::kString, audit.baselineFile),
      KC_FIELD("audit.memoryFile", Type::kString, audit.memoryFile),
      KC_FIELD("audit.webhookSpoolFile", Type::kString, audit.webhookSpoolFile),
      KC_FIELD("audit.stateSaveIntervalSeconds", Type::kDouble, audit.stateSaveIntervalSeconds),
      KC_FIELD("audit.learningPeriodHours", Type::kDouble, audit.learningPeriodHours),
      KC_FIELD("audit.webhookMaxBodyBytes", Type::kSize, audit.webhookMaxBodyBytes),
      KC_FIELD("audit.maxEventBytes", Type::kSize, audit.maxEventBytes),
      KC_FIELD("audit.queueMaxBytes", Type::kSize, audit.queueMaxBytes),
      KC_FIELD("audit.retryAfterSeconds", Type::kInt, audit.retryAfterSeconds),
      KC_FIELD("audit.bearerTokens", Type::kStringList, audit.bearerTokens),
      KC_FIELD("audit.allowedClientNames", Type::kStringList, audit.allowedClientNames),
      KC_FIELD("audit.pollIntervalSeconds", Type::kDouble, audit.pollIntervalSeconds),
      KC_FIELD("audit.logMaxBytesPerPoll", Type::kSize, audit.logMaxBytesPerPoll),
      KC_FIELD("audit.clusterNetworks", Type::kStringList, audit.clusterNetworks),
      KC_IDENTITIES("audit.preset", Type::kStringOrList, audit.preset, nullptr),
      KC_IDENTITIES("audit.systemNamespaces", Type::kStringList, audit.systemNamespaces, nullptr),
      KC_IDENTITIES("audit.systemIdentities", Type::kStringList, audit.systemIdentities, nullptr),
      KC_IDENTITIES("audit.detections.trustedIdentities", Type::kStringListMap,
                    audit.detections.trustedIdentities, checkRuleId),
      KC_IDENTITIES("audit.detections.privilegedIdentities", Type::kStringList,
                    audit.detections.privilegedIdentities, nullptr),
      KC_FIELD("audit.detections.reportControlPlaneMirrorPods", Type::kBool,
               audit.detections.reportControlPlaneMirrorPods),
      KC_FIELD("audit.detections.reportWarnViolations", Type::kBool,
               audit.detections.reportWarnViolations),
      KC_FIELD("audit.detections.maxTrackedObjects", Type::kSize,
               audit.detections.maxTrackedObjects),
      KC_FIELD("audit.detections.maxTrackedRequests", Type::kSize,
               audit.detections.maxTrackedRequests),
      KC_FIELD("node.name", Type::kString, node.name),
      KC_FIELD("node.dockerSocket", Type::kString, node.dockerSocket),
      KC_FIELD("node.containerdSocket", Type::kString, node.containerdSocket),
      KC_FIELD("node.containerdNamespaces", Type::kStringList, node.containerdNamespaces),
      KC_FIELD("node.procRoot", Type::kString, node.procRoot),
      KC_FIELD("node.cgroupRoot", Type::kString, node.cgroupRoot),
      KC_FIELD("node.sampleIntervalSeconds", Type::kDouble, node.sampleIntervalSeconds),
      KC_FIELD("node.learningPeriodSeconds", Type::kDouble, node.learningPeriodSeconds),
      KC_FIELD("node.allowedOutsideKubernetes", Type::kStringList, node.allowedOutsideKubernetes),
      KC_FIELD("node.recheckKubernetes", Type::kBool, node.recheckKubernetes),
      KC_FIELD("node.respond.evidenceMinSeverity", Type::kString, node.respond.evidenceMinSeverity),
      KC_FIELD("node.respond.evidencePerMinute", Type::kDouble, node.respond.evidencePerMinute),
      KC_FIELD("node.respond.isolate", Type::kString, node.respond.isolate),
      KC_FIELD("node.respond.logTailLines", Type::kInt, node.respond.logTailLines),
      KC_FIELD("node.respond.includeEnv", Type::kBool, node.respond.includeEnv),
      KC_FIELD("node.respond.kubeletLogRoot", Type::kString, node.respond.kubeletLogRoot),
      KC_FIELD("node.respond.maxBundles", Type::kSize, node.respond.maxBundles),
      KC_FIELD("node.respond.maxEvidenceBytes", Type::kSize, node.respond.maxEvidenceBytes),
      KC_FIELD("node.respond.maxBundleBytes", Type::kSize, node.respond.maxBundleBytes),
      KC_FIELD("alertmanager.urls", Type::kStringList, alertmanager.urls),
      KC_FIELD("alertmanager.caFile", Type::kString, alertmanager.caFile),
      KC_FIELD("alertmanager.bearerTokenFile", Type::kString, alertmanager.bearerTokenFile),
      KC_FIELD("alertmanager.resendIntervalSeconds", Type::kDouble,
               alertmanager.resendIntervalSeconds),
      KC_FIELD("alertmanager.alertLifetimeSeconds", Type::kDouble,
               alertmanager.alertLifetimeSeconds),
  };
  return kFields;
}
#undef KC_IDENTITIES
#undef KC_FIELD

const std::set<std::string>& sections() {
  static const std::set<std::string> kSections = {
      "server", "webhook",          "tls",          "metrics", "policies",
      "audit",  "audit.detections", "alertmanager", "node",    "node.respond"};
  return kSections;
}

// "10.0.0.0/8", "fd00::/8" or a single address.
bool isCidr(const std::string& s) {
  const size_t slash = s.find('/');
  const std::string address = s.substr(0, slash);
  unsigned char bytes[16];
  const bool v6 = address.find(':') != std::string::npos;
  if (inet_pton(v6 ? AF_INET6 : AF_INET, address.c_str(), bytes) != 1) return false;
  if (slash == std::string::npos) return true;
  const std::string bits = s.substr(slash + 1);
  if (bits.empty() || bits.size() > 3 || (bits.size() > 1 && bits[0] == '0') ||
      !std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  return std::stoi(bits) <= (v6 ? 128 : 32);
}

int lineOf(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

bool scalarIsQuoted(const YAML::Node& n) { return n.Tag() == "!"; }

// The line of `value`, or of its key when the value is empty (whose mark is the next token's).
int lineOf(const YAML::Node& key, const YAML::Node& value) {
  const int line = value.IsNull() ? 0 : lineOf(value);
  return line > 0 ? line : lineOf(key);
}

// Reads a list of strings into `out`; false (with an error under `key`) when it is not one.
bool readStringList(const std::string& key, const YAML::Node& v, int line, bool nonEmpty,
                    std::vector<std::string>& out, std::vector<ConfigError>& errors) {
  if (!v.IsSequence()) {
    errors.push_back({key, line, std::string("expected ") + typeName(Type::kStringList)});
    return false;
  }
  for (const auto& item : v) {
    if (!item.IsScalar()) {
      errors.push_back({key, lineOf(item), "expected a string in the list"});
      return false;
    }
    if (nonEmpty && item.Scalar().empty()) {
      errors.push_back({key, lineOf(item), "empty string in the list"});
      return false;
    }
    out.push_back(item.Scalar());
  }
  return true;
}

void setField(const std::string& key, const Field& f, const YAML::Node& v, Config& cfg,
              std::vector<ConfigError>& errors) {
  auto wrongType = [&] {
    errors.push_back({key, lineOf(v), std::string("expected ") + typeName(f.type)});
  };
  void* target = f.target(cfg);
  switch (f.type) {
    case Type::kString:
      if (!v.IsScalar()) return wrongType();
      *static_cast<std::string*>(target) = v.Scalar();
      return;
    case Type::kInt: {
      if (!v.IsScalar() || scalarIsQuoted(v)) return wrongType();
      int out = 0;
      if (!YAML::convert<int>::decode(v, out)) return wrongType();
      *static_cast<int*>(target) = out;
      return;
    }
    case Type::kSize: {
      if (!v.IsScalar() || scalarIsQuoted(v)) return wrongType();
      long long out = 0;
      if (!YAML::convert<long long>::decode(v, out) || out < 0) return wrongType();
      *static_cast<std::size_t*>(target) = static_cast<std::size_t>(out);
      return;
    }
    case Type::kDouble: {
      if (!v.IsScalar() || scalarIsQuoted(v)) return wrongType();
      double out = 0;
      if (!YAML::convert<double>::decode(v, out)) return wrongType();
      *static_cast<double*>(target) = out;
      return;
    }
    case Type::kBool: {
      if (!v.IsScalar() || scalarIsQuoted(v)) return wrongType();
      bool out = false;
      if (!YAML::convert<bool>::decode(v, out)) return wrongType();
      *static_cast<bool*>(target) = out;
      return;
    }
    case Type::kStringOrList:
      if (v.IsScalar()) {
        if (f.nonEmptyItems && v.Scalar().empty()) return wrongType();
        *static_cast<std::vector<std::string>*>(target) = {v.Scalar()};
        return;
      }
      [[fallthrough]];
    case Type::kStringList: {
      std::vector<std::string> out;
      if (!readStringList(key, v, lineOf(v), f.nonEmptyItems, out, errors)) return;
      *static_cast<std::vector<std::string>*>(target) = std::move(out);
      return;
    }
    case Type::kStringListMap: {
      if (!v.IsMap()) return wrongType();
      std::map<std::string, std::vector<std::string>> out;
      bool ok = true;
      for (const auto& kv : v) {
        const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
        const std::string itemKey = key + "." + name;
        if (f.checkMapKey != nullptr) {
          if (std::string why = f.checkMapKey(name); !why.empty()) {
            errors.push_back({itemKey, lineOf(kv.first), why});
            ok = false;
            continue;
          }
        }
        // A key given twice adds to the same list.
        ok &= readStringList(itemKey, kv.second, lineOf(kv.first, kv.second), f.nonEmptyItems,
                             out[name], errors);
      }
      using Map = std::map<std::string, std::vector<std::string>>;
      if (ok) *static_cast<Map*>(target) = std::move(out);
      return;
    }
  }
}

void walk(const YAML::Node& map, const std::string& prefix, Config& cfg,
          std::vector<ConfigError>& errors) {
  for (const auto& kv : map) {
    const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    const YAML::Node& value = kv.second;
    if (sections().count(key)) {
      if (value.IsNull()) continue;
      if (!value.IsMap()) {
        errors.push_back({key, lineOf(value), "expected a mapping"});
        continue;
      }
      walk(value, key, cfg, errors);
      continue;
    }
    auto it = fields().find(key);
    if (it == fields().end()) {
      errors.push_back({key, lineOf(kv.first), "unknown key"});
      continue;
    }
    setField(key, it->second, value, cfg, errors);
  }
}

}  // namespace

bool Config::hasRole(const std::string& role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

std::string ConfigError::toString(const std::string& file) const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

std::vector<ConfigError> applyConfigYaml(const std::string& text, Config& cfg) {
  std::vector<ConfigError> errors;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    errors.push_back({"", e.mark.line >= 0 ? e.mark.line + 1 : 0, "invalid YAML: " + e.msg});
    return errors;
  }
  if (root.IsNull()) return errors;  // an empty file keeps the defaults
  if (!root.IsMap()) {
    errors.push_back({"", lineOf(root), "the configuration must be a mapping"});
    return errors;
  }
  try {
    walk(root, "", cfg, errors);
  } catch (const YAML::Exception& e) {
    errors.push_back({"", e.mark.line >= 0 ? e.mark.line + 1 : 0, e.msg});
  }
  return errors;
}

std::vector<ConfigError> validateConfig(const Config& cfg) {
  std::vector<ConfigError> errors;
  if (cfg.roles.empty()) errors.push_back({"roles", 0, "at least one role is needed"});
  for (const auto& r : cfg.roles) {
    if (r != "webhook" && r != "audit" && r != "node")
      errors.push_back(
          {"roles", 0, "unknown role \"" + r + "\" (expected webhook, audit or node)"});
  }
  log::Level level;
  if (!log::parseLevel(cfg.logLevel, level))
    errors.push_back({"logLevel", 0, "expected one of debug, info, warn, error"});
  if (cfg.server.maxBodyBytes == 0) errors.push_back({"server.maxBodyBytes", 0, "must be > 0"});
  if (cfg.server.maxHeaderBytes < 1024)
    errors.push_back({"server.maxHeaderBytes", 0, "must be at least 1024"});
  if (cfg.server.headerTimeoutSeconds <= 0)
    errors.push_back({"server.headerTimeoutSeconds", 0, "must be > 0"});
  if (cfg.server.idleTimeoutSeconds <= 0)
    errors.push_back({"server.idleTimeoutSeconds", 0, "must be > 0"});
  if (cfg.server.maxConnections == 0) errors.push_back({"server.maxConnections", 0, "must be > 0"});
  if (cfg.server.maxInFlightBodyBytes < cfg.server.maxBodyBytes ||
      cfg.server.maxInFlightBodyBytes < cfg.audit.webhookMaxBodyBytes)
    errors.push_back({"server.maxInFlightBodyBytes", 0,
                      "must be at least server.maxBodyBytes and audit.webhookMaxBodyBytes"});
  if (cfg.server.shutdownGraceSeconds < 0)
    errors.push_back({"server.shutdownGraceSeconds", 0, "must be >= 0"});
  if (cfg.server.threads < 0 || cfg.server.threads > 256)
    errors.push_back({"server.threads", 0, "must be between 0 and 256"});
  if (cfg.node.sampleIntervalSeconds != 0 &&
      (cfg.node.sampleIntervalSeconds < 1 || cfg.node.sampleIntervalSeconds > 3600))
    errors.push_back({"node.sampleIntervalSeconds", 0, "must be 0 (off) or between 1 and 3600"});
  if (cfg.node.learningPeriodSeconds < 0)
    errors.push_back({"node.learningPeriodSeconds", 0, "must be >= 0"});
  {
    const auto& r = cfg.node.respond;
    static const std::set<std::string> kSeverities = {"off", "low", "medium", "high", "critical"};
    if (!kSeverities.count(r.evidenceMinSeverity))
      errors.push_back({"node.respond.evidenceMinSeverity", 0,
                        "must be one of off, low, medium, high, critical"});
    static const std::set<std::string> kModes = {"off", "manual", "high", "critical"};
    if (!kModes.count(r.isolate))
      errors.push_back({"node.respond.isolate", 0, "must be one of off, manual, high, critical"});
    if (r.evidencePerMinute < 0 || r.evidencePerMinute > 600)
      errors.push_back({"node.respond.evidencePerMinute", 0, "must be between 0 and 600"});
    if (r.logTailLines < 1 || r.logTailLines > 100000)
      errors.push_back({"node.respond.logTailLines", 0, "must be between 1 and 100000"});
    if (r.maxBundles < 1) errors.push_back({"node.respond.maxBundles", 0, "must be >= 1"});
    if (r.maxBundleBytes < 4096)
      errors.push_back({"node.respond.maxBundleBytes", 0, "must be >= 4096"});
    if (r.maxEvidenceBytes < r.maxBundleBytes)
      errors.push_back(
          {"node.respond.maxEvidenceBytes", 0, "must be >= node.respond.maxBundleBytes"});
  }
  if (cfg.webhook.deadlineAction != "deny" && cfg.webhook.deadlineAction != "allow")
    errors.push_back({"webhook.deadlineAction", 0, "expected deny or allow"});
  if (cfg.tls.certFile.empty() != cfg.tls.keyFile.empty())
    errors.push_back({"tls", 0, "certFile and keyFile must be set together"});
  if (cfg.tls.reloadIntervalSeconds <= 0)
    errors.push_back({"tls.reloadIntervalSeconds", 0, "must be > 0"});
  if (cfg.policies.reloadIntervalSeconds <= 0)
    errors.push_back({"policies.reloadIntervalSeconds", 0, "must be > 0"});
  if (cfg.policies.settleSeconds < 0)
    errors.push_back({"policies.settleSeconds", 0, "must be >= 0"});
  if (cfg.audit.webhookMaxBodyBytes == 0)
    errors.push_back({"audit.webhookMaxBodyBytes", 0, "must be > 0"});
  if (cfg.audit.maxEventBytes == 0 || cfg.audit.maxEventBytes > cfg.audit.webhookMaxBodyBytes)
    errors.push_back(
        {"audit.maxEventBytes", 0, "must be > 0 and at most audit.webhookMaxBodyBytes"});
  if (cfg.audit.queueMaxBytes < cfg.audit.webhookMaxBodyBytes)
    errors.push_back(
        {"audit.queueMaxBytes", 0, "must hold at least one batch (audit.webhookMaxBodyBytes)"});
  if (cfg.audit.learningPeriodHours < 0)
    errors.push_back({"audit.learningPeriodHours", 0, "must be >= 0"});
  if (cfg.audit.retryAfterSeconds < 1 || cfg.audit.retryAfterSeconds > 300)
    errors.push_back({"audit.retryAfterSeconds", 0, "must be between 1 and 300"});
  if (cfg.audit.pollIntervalSeconds <= 0)
    errors.push_back({"audit.pollIntervalSeconds", 0, "must be > 0"});
  if (cfg.audit.stateSaveIntervalSeconds <= 0)
    errors.push_back({"audit.stateSaveIntervalSeconds", 0, "must be > 0"});
  if (cfg.audit.logMaxBytesPerPoll == 0)
    errors.push_back({"audit.logMaxBytesPerPoll", 0, "must be > 0"});
  for (const auto& name : cfg.audit.preset) {
    if (!policy::findSystemPreset(name))
      errors.push_back(
          {"audit.preset", 0, "unknown preset \"" + name + "\" (expected gke, eks, aks or none)"});
  }
  for (const auto& block : cfg.audit.clusterNetworks) {
    if (!isCidr(block))
      errors.push_back(
          {"audit.clusterNetworks", 0,
           "\"" + block + "\" is not a CIDR block such as \"10.0.0.0/8\" or \"fd00::/8\""});
  }
  // The object tracker indexes its records with 32 bits.
  if (cfg.audit.detections.maxTrackedObjects == 0 ||
      cfg.audit.detections.maxTrackedObjects > 4'294'967'294u)
    errors.push_back({"audit.detections.maxTrackedObjects", 0, "must be between 1 and 4294967294"});
  if (cfg.audit.detections.maxTrackedRequests == 0)
    errors.push_back({"audit.detections.maxTrackedRequests", 0, "must be > 0"});
  if (cfg.alertmanager.resendIntervalSeconds <= 0 || cfg.alertmanager.alertLifetimeSeconds <= 0)
    errors.push_back(
        {"alertmanager", 0, "resendIntervalSeconds and alertLifetimeSeconds must be > 0"});
  return errors;
}

std::vector<std::pair<std::string, std::string>> configKeys() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, f] : fields()) out.emplace_back(k, typeName(f.type));
  return out;
}

}  // namespace kc
