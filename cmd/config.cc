#include "cmd/config.h"

#include <algorithm>

#include "common/log.h"

namespace kc {
namespace {

// The keys of the top level, which belong to no door.
settings::Section<Config> topSection() {
  using settings::field;
  return {"",
          {
              field("roles", &Config::roles),
              field("logLevel", &Config::logLevel),
              field("stateDir", &Config::stateDir),
          },
          [](const Config& c, settings::Errors& errors) {
            if (c.roles.empty()) errors.push_back({"roles", 0, "at least one role is needed"});
            for (const auto& r : c.roles) {
              if (r != "webhook" && r != "audit" && r != "node")
                errors.push_back(
                    {"roles", 0, "unknown role \"" + r + "\" (expected webhook, audit or node)"});
            }
            log::Level level;
            if (!log::parseLevel(c.logLevel, level))
              errors.push_back({"logLevel", 0, "expected one of debug, info, warn, error"});
          }};
}

const settings::Schema<Config>& schema() {
  static const settings::Schema<Config> kSchema = [] {
    settings::Schema<Config> s;
    s.add(topSection(), [](Config& c) -> Config& { return c; });
    s.add(serverSection(), &Config::server);
    s.add(tlsSection(), &Config::tls);
    s.add(metricsSection(), &Config::metrics);
    s.add(webhook::webhookSection(), &Config::webhook);
    s.add(policy::policiesSection(), &Config::policies);
    s.add(audit::auditSection(), &Config::audit);
    s.add(audit::detectionsSection(),
          [](Config& c) -> DetectionsConfig& { return c.audit.detections; });
    s.add(audit::alertmanagerSection(), &Config::alertmanager);
    s.add(node::nodeSection(), &Config::node);
    s.add(respond::respondSection(), &Config::respond);
    s.check([](const Config& c, settings::Errors& errors) {
      // The HTTPS server's budget must admit one body of each door it serves.
      if (c.server.maxInFlightBodyBytes < c.server.maxBodyBytes ||
          c.server.maxInFlightBodyBytes < c.audit.webhookMaxBodyBytes)
        errors.push_back({"server.maxInFlightBodyBytes", 0,
                          "must be at least server.maxBodyBytes and audit.webhookMaxBodyBytes"});
    });
    return s;
  }();
  return kSchema;
}

}  // namespace

bool Config::hasRole(const std::string& role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

std::vector<ConfigError> applyConfigYaml(const std::string& text, Config& cfg) {
  return schema().apply(text, cfg);
}

std::vector<ConfigError> validateConfig(const Config& cfg) { return schema().validate(cfg); }

std::vector<std::pair<std::string, std::string>> configKeys() { return schema().keys(); }

}  // namespace kc
