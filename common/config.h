#pragma once
// Run-time configuration of `kube-customs serve`: defaults, the YAML file and flags, in that
// order of precedence (flags win). The YAML is validated at load: an unknown key or a value of
// the wrong type is reported with its dotted name and line. Plain data; not thread-safe to mutate.

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace kc {

struct ServerConfig {
  std::string listen = ":8443";
  int threads = 0;  // 0: one per CPU the process may use (common/cpus.h)
  // An AdmissionReview holds the object as the API server's JSON encoder writes it (which
  // escapes <, > and & in six bytes each), twice for an UPDATE: a pod of 1.5 MiB, etcd's limit,
  // can make 18 MiB. A review over the cap gets 413, and the API server's failurePolicy
  // decides (Ignore admits it): the cap must not be what a padded pod can pass.
  std::size_t maxBodyBytes = 24 * 1024 * 1024;
  std::size_t maxHeaderBytes = 16 * 1024;
  double headerTimeoutSeconds = 10;
  double idleTimeoutSeconds = 90;
  std::size_t maxConnections = 4096;
  // Request bodies held at once by all connections together: a body takes its declared length
  // when its headers arrive, and a request over the budget gets 503 with Retry-After before its
  // body is read. Without it, 4096 connections could each announce a 24 MiB body.
  std::size_t maxInFlightBodyBytes = 64 * 1024 * 1024;
  double shutdownGraceSeconds = 25;
};

struct WebhookConfig {
  // The answer to a review whose judging reaches the deadline taken from the API server's
  // timeout: "deny" (fail closed) or "allow" (fail open, with a warning). A violation found
  // in time denies either way.
  std::string deadlineAction = "deny";
};

struct TlsConfig {
  std::string certFile;
  std::string keyFile;
  std::string clientCAFile;
  double reloadIntervalSeconds = 2;
};

struct MetricsConfig {
  std::string listen = ":9090";
};

struct PoliciesConfig {
  std::string dir;
  double reloadIntervalSeconds = 2;
  // A change is loaded once the files have read the same for this long.
  double settleSeconds = 1;
  // Let a reload replace a set with policies by an empty one.
  bool allowEmpty = false;
};

// Tuning of the audit detections (audit.detections.*), mapped onto audit::DetectorOptions by
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

struct AlertmanagerConfig {
  std::vector<std::string> urls;
  std::string caFile;
  std::string bearerTokenFile;
  double resendIntervalSeconds = 60;
  double alertLifetimeSeconds = 3600;
};

// The node role (node/): the container runtimes on this node. Its rules' settings are read by
// the role (cmd/node_role.cc), which refuses what it cannot use.
// The response to the node door's findings (respond/): evidence bundles and isolation.
struct NodeRespondConfig {
  // Node findings at or above this severity get an evidence bundle automatically: low, medium,
  // high, critical, or off.
  std::string evidenceMinSeverity = "high";
  double evidencePerMinute = 6;  // automatic bundles at most, per node (a token bucket)
  // off (never, not even by hand), manual (only `kube-customs respond isolate`), high or
  // critical (also automatically, for node findings at or above that severity).
  std::string isolate = "off";
  int logTailLines = 1000;
  bool includeEnv = false;  // environment values in the bundle (names only when false)
  std::string kubeletLogRoot = "/var/log/pods";
  std::size_t maxBundles = 100;                 // kept; the oldest removed first
  std::size_t maxEvidenceBytes = 512ull << 20;  // all bundles together
  std::size_t maxBundleBytes = 64ull << 20;     // one bundle
};

struct NodeConfig {
  std::string name;  // "": $NODE_NAME (the chart sets it from the downward API), else the host's
  std::string dockerSocket = "/var/run/docker.sock";                 // "": no Docker Engine watcher
  std::string containerdSocket = "/run/containerd/containerd.sock";  // "": no containerd watcher
  std::vector<std::string> containerdNamespaces;                     // watched; empty: all
  std::string procRoot = "/proc";  // the host's /proc (the chart mounts it at /host/proc)
  std::string cgroupRoot = "/sys/fs/cgroup";  // the host's cgroup tree
  double sampleIntervalSeconds = 10;          // resource sampling; 0: off
  double learningPeriodSeconds = 86400;       // of each workload's normal
  // Containers expected outside Kubernetes: image:<glob>, name:<glob>, label:<key>=<glob>, or a
  // bare image glob (node/node_rules.h).
  std::vector<std::string> allowedOutsideKubernetes;
  // The admission policies applied to the kubelet's containers too (static pods, what got past
  // a failing-open webhook).
  bool recheckKubernetes = true;
  NodeRespondConfig respond;
};

struct Config {
  std::vector<std::string> roles = {"webhook", "audit"};
  std::string logLevel = "info";
  std::string stateDir = "/var/lib/kube-customs";
  ServerConfig server;
  WebhookConfig webhook;
  TlsConfig tls;
  MetricsConfig metrics;
  PoliciesConfig policies;
  AuditConfig audit;
  AlertmanagerConfig alertmanager;
  NodeConfig node;

  bool hasRole(const std::string& role) const;
};

// A duration given in seconds in the configuration, as milliseconds.
inline std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

// One problem found while loading, with its place.
struct ConfigError {
  std::string key;  // dotted name, e.g. "server.maxBodyBytes"
  int line = 0;     // 1-based; 0 when unknown
  std::string message;
  std::string toString(const std::string& file) const;
};

// Applies the YAML text over `cfg`. Returns every error found (empty on success); on error
// `cfg` may be partially updated and must not be used.
std::vector<ConfigError> applyConfigYaml(const std::string& text, Config& cfg);

// Checks cross-field rules (valid roles, log level, positive sizes). Returns errors.
std::vector<ConfigError> validateConfig(const Config& cfg);

// Every key the file accepts, dotted, with its type name; used by docs tests.
std::vector<std::pair<std::string, std::string>> configKeys();

}  // namespace kc
