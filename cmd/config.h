#pragma once
// Run-time configuration of `kube-customs`: defaults, the YAML file and flags, in that order of
// precedence (flags win). Each door declares its own section next to its code
// (common/settings.h); this file composes them with the top-level keys. The YAML is validated
// at load: an unknown key or a value of the wrong type is reported with its dotted name and
// line. Plain data; not thread-safe to mutate.

#include <string>
#include <utility>
#include <vector>

#include "common/server_settings.h"
#include "common/settings.h"
#include "controller/alert/alert_settings.h"
#include "controller/audit_settings.h"
#include "node/node_settings.h"
#include "policies/store/store_settings.h"
#include "respond/respond_settings.h"
#include "webhook/webhook_settings.h"

namespace kc {

using settings::millis;
using ConfigError = settings::Error;
using audit::AlertmanagerConfig;
using audit::AuditConfig;
using audit::DetectionsConfig;

struct Config {
  std::vector<std::string> roles = {"webhook", "audit"};
  std::string logLevel = "info";
  std::string stateDir = "/var/lib/kube-customs";
  ServerConfig server;
  webhook::WebhookConfig webhook;
  TlsConfig tls;
  MetricsConfig metrics;
  policy::PoliciesConfig policies;
  AuditConfig audit;  // audit.detections is its member `detections`
  AlertmanagerConfig alertmanager;
  node::NodeConfig node;
  respond::RespondConfig respond;  // the file's node.respond

  bool hasRole(const std::string& role) const;
};

// Applies the YAML text over `cfg`. Returns every error found (empty on success); on error
// `cfg` may be partially updated and must not be used.
std::vector<ConfigError> applyConfigYaml(const std::string& text, Config& cfg);

// Checks every section's rules and those across sections. Returns errors.
std::vector<ConfigError> validateConfig(const Config& cfg);

// Every key the file accepts, dotted, with its type name; used by docs tests.
std::vector<std::pair<std::string, std::string>> configKeys();

}  // namespace kc
