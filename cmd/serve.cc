// `kube-customs serve`: composes the roles chosen at start-up (webhook, audit) with the shared
// runtime (TLS, HTTPS server, metrics), then waits for signals. Start-up is a list of small
// steps; each failure is reported with what to fix and exits non-zero.

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>

#include "cmd/audit_role.h"
#include "cmd/commands.h"
#include "cmd/config.h"
#include "cmd/flags.h"
#include "cmd/node_role.h"
#include "common/certgen.h"
#include "common/files.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/tls.h"
#include "controller/state_dir.h"
#include "policies/engine.h"
#include "policies/store/policy_store.h"
#include "webhook/admission_handler.h"
#include "webhook/policy_metrics.h"
#include "webhook/webhook_metrics.h"

namespace kc::cmd {
namespace {

constexpr const char* kUsage =
    "usage: kube-customs serve [--config FILE] [--roles webhook,audit,node] [--listen ADDR]\n"
    "         [--metrics-listen ADDR] [--tls-cert FILE --tls-key FILE] [--audit-client-ca FILE]\n"
    "         [--policies DIR] [--state-dir DIR] [--audit-log-path FILE] [--log-level LEVEL]\n"
    "         [--threads N] [--docker-socket PATH] [--containerd-socket PATH]\n"
    "         [--node-name NAME]\n"
    "Without --tls-cert/--tls-key a CA and serving certificate are generated under\n"
    "STATE_DIR/tls (local use). See docs/configuration.md.\n";

std::vector<std::string> splitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Step: configuration from defaults, file and flags. Returns an exit code or -1 to go on.
int loadConfig(const Flags& flags, Config& cfg) {
  if (auto file = flags.get("config")) {
    std::string text;
    if (!files::readFile(*file, text)) {
      std::cerr << "kube-customs serve: cannot read config file " << files::readError(*file)
                << "\n";
      return 2;
    }
    auto errors = applyConfigYaml(text, cfg);
    for (const auto& e : errors) std::cerr << "kube-customs serve: " << e.toString(*file) << "\n";
    if (!errors.empty()) return 2;
  }
  if (auto v = flags.get("roles")) cfg.roles = splitComma(*v);
  if (auto v = flags.get("listen")) cfg.server.listen = *v;
  if (auto v = flags.get("metrics-listen")) cfg.metrics.listen = *v;
  if (auto v = flags.get("tls-cert")) cfg.tls.certFile = *v;
  if (auto v = flags.get("tls-key")) cfg.tls.keyFile = *v;
  if (auto v = flags.get("audit-client-ca")) cfg.tls.clientCAFile = *v;
  if (auto v = flags.get("policies")) cfg.policies.dir = *v;
  if (auto v = flags.get("state-dir")) cfg.stateDir = *v;
  if (auto v = flags.get("audit-log-path")) cfg.audit.logPath = *v;
  if (auto v = flags.get("log-level")) cfg.logLevel = *v;
  if (auto v = flags.get("docker-socket")) cfg.node.dockerSocket = *v;
  if (auto v = flags.get("containerd-socket")) cfg.node.containerdSocket = *v;
  if (auto v = flags.get("node-name")) cfg.node.name = *v;
  if (auto v = flags.get("threads")) {
    try {
      cfg.server.threads = std::stoi(*v);
    } catch (...) {
      std::cerr << "kube-customs serve: --threads needs a number\n";
      return 2;
    }
  }
  auto errors = validateConfig(cfg);
  for (const auto& e : errors) std::cerr << "kube-customs serve: " << e.toString("config") << "\n";
  if (!errors.empty()) return 2;
  log::Level level;
  log::parseLevel(cfg.logLevel, level);
  log::setLevel(level);
  return -1;
}

// Step: without configured certificates, create (or reuse) a local CA and serving certificate.
int ensureLocalCerts(Config& cfg) {
  if (!cfg.tls.certFile.empty()) return -1;
  const std::string dir = cfg.stateDir + "/tls";
  cfg.tls.certFile = dir + "/tls.crt";
  cfg.tls.keyFile = dir + "/tls.key";
  std::string error;
  if (std::filesystem::exists(cfg.tls.certFile) && std::filesystem::exists(cfg.tls.keyFile) &&
      tls::makeServerContext({cfg.tls.certFile, cfg.tls.keyFile, ""}, error)) {
    log::info("using the local serving certificate", {{log::field::kPath, cfg.tls.certFile}});
    return -1;
  }
  tls::CertRequest req;
  req.extraDnsNames = {"localhost"};
  req.extraIps = {"127.0.0.1", "::1"};
  tls::GeneratedCerts certs;
  if (!tls::generateCerts(req, certs, error) || !tls::writeCerts(certs, dir, error)) {
    std::cerr << "kube-customs serve: cannot create a local certificate: " << error << "\n";
    return 1;
  }
  log::warn(
      "no --tls-cert given: generated a self-signed CA and serving certificate for local "
      "use; trust " +
          dir + "/ca.crt",
      {{log::field::kPath, dir}});
  return -1;
}

// Step: open files. Raises the soft limit to the hard one, and lowers the connection cap when
// the limit would not leave room for the process's own files (a server out of descriptors
// fails reviews, TLS and policy reloads and state saves alike).
std::size_t connectionCap(std::size_t wanted) {
  const std::size_t limit = http::raiseOpenFileLimit();
  const std::size_t cap = http::connectionsWithin(wanted, limit);
  if (cap < wanted)
    log::warn("server.maxConnections lowered to fit the open-file limit",
              {{log::field::kEventType, log::event::kConfig},
               {"max_connections", cap},
               {"configured", wanted},
               {"open_file_limit", limit}});
  return cap;
}

// Step: the audit and node roles own the state directory (checkpoint, dedupe journal, baseline,
// memory; judged containers): a second instance on it would report every finding again and
// overwrite the first's files. The lock is held until the process exits; the webhook role
// alone writes no state.
int lockStateDir(const Config& cfg, std::unique_ptr<files::PidLock>& lock) {
  if (!cfg.hasRole("audit") && !cfg.hasRole("node")) return -1;
  // A state directory that does not exist is made, for this process alone (0700); one that
  // cannot be made stops the start (audit::prepareStateDir).
  std::string error;
  if (!audit::prepareStateDir(cfg.stateDir, error)) {
    std::cerr << "kube-customs serve: " << error << "\n";
    return 1;
  }
  lock = files::PidLock::tryLock(cfg.stateDir + "/kube-customs.lock", error);
  if (lock) return -1;
  std::cerr << "kube-customs serve: the state directory is in use: " << error
            << " (one audit or node role per state directory)\n";
  return 1;
}

}  // namespace

int runServe(const std::vector<std::string>& args) {
  Flags flags({"config", "roles", "listen", "metrics-listen", "tls-cert", "tls-key",
               "audit-client-ca", "policies", "state-dir", "audit-log-path", "log-level", "threads",
               "docker-socket", "containerd-socket", "node-name"},
              {"help"});
  std::string error;
  if (!flags.parse(args, error)) {
    std::cerr << "kube-customs serve: " << error << "\n" << kUsage;
    return 2;
  }
  if (flags.has("help")) {
    std::cout << kUsage;
    return 0;
  }
  Config cfg;
  if (int rc = loadConfig(flags, cfg); rc >= 0) return rc;
  std::unique_ptr<files::PidLock> stateLock;
  if (int rc = lockStateDir(cfg, stateLock); rc >= 0) return rc;
  if (int rc = ensureLocalCerts(cfg); rc >= 0) return rc;

  // Signals are taken synchronously by the main thread; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string roles;
  for (const auto& r : cfg.roles) roles += (roles.empty() ? "" : ",") + r;
  log::info("kube-customs starting", {{log::field::kEventType, log::event::kStartup},
                                      {log::field::kVersion, KC_VERSION},
                                      {log::field::kRoles, roles}});

  auto registry = std::make_shared<prometheus::Registry>();
  metrics::registerBuildInfo(*registry);
  metrics::ServerMetrics serverMetrics(*registry);

  auto tlsContext = std::make_shared<tls::ReloadingContext>(
      tls::TlsFiles{cfg.tls.certFile, cfg.tls.keyFile, cfg.tls.clientCAFile},
      tls::ReloadingContext::Hooks{[&] { serverMetrics.tlsReloaded(); },
                                   [&](const std::string&) { serverMetrics.tlsReloadFailed(); },
                                   [&](std::time_t t) { serverMetrics.tlsNotAfter(t); }});
  if (!tlsContext->load(error)) {
    std::cerr << "kube-customs serve: " << error << "\n";
    return 1;
  }

  // Policies: a snapshot swapped atomically; requests keep the snapshot they started with.
  webhook::PolicyMetrics policyMetrics(*registry);
  policy::PolicyStore policyStore(cfg.policies.dir, {[&](bool ok, std::size_t inForce) {
                                    policyMetrics.loaded(ok, inForce,
                                                         static_cast<double>(std::time(nullptr)));
                                  }},
                                  {cfg.policies.allowEmpty, millis(cfg.policies.settleSeconds)});
  auto policySource = [&policyStore] { return policyStore.current(); };
  auto refreshPolicies = [&](bool now) {
    policyStore.reload(now);
    const auto at = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    policyMetrics.exceptionsExpiring(policyStore.current()->exceptionsExpiringWithin(at));
  };
  if (cfg.policies.dir.empty())
    log::info("no --policies directory: using the built-in default policies",
              {{log::field::kEventType, log::event::kPolicyLoad}});
  refreshPolicies(true);
  if (!policyStore.everLoaded()) {
    log::warn("no policy set could be loaded: not ready until the policies are fixed",
              {{log::field::kEventType, log::event::kPolicyLoadFailed}});
  }

  std::unique_ptr<AuditRole> auditRole;  // before the routes: /readyz asks them
  std::unique_ptr<NodeRole> nodeRole;
  std::vector<http::Route> routes;
  routes.push_back({"GET", "/healthz", [](const http::Request&, http::Response& res) {
                      res.contentType = "text/plain";
                      res.body = "ok";
                    }});
  routes.push_back({"GET", "/readyz", [&](const http::Request&, http::Response& res) {
                      res.contentType = "text/plain";
                      if (!policyStore.everLoaded()) {
                        res.status = 503;
                        res.body = "policies not loaded";
                      } else if (auditRole && !auditRole->stateSaved()) {
                        res.status = 503;
                        res.body = "audit state cannot be saved";
                      } else if (std::string why = nodeRole ? nodeRole->notReady() : "";
                                 !why.empty()) {
                        res.status = 503;
                        res.body = why;
                      } else {
                        res.body = "ok";
                      }
                    }});
  std::unique_ptr<webhook::WebhookMetrics> webhookMetrics;
  std::unique_ptr<webhook::AdmissionHandler> admission;
  if (cfg.hasRole("webhook")) {
    webhookMetrics = std::make_unique<webhook::WebhookMetrics>(*registry);
    webhook::HandlerOptions handlerOptions;
    // validateConfig accepted it: deny or allow.
    webhook::parseDeadlineAction(cfg.webhook.deadlineAction, handlerOptions.deadlineAction);
    admission = std::make_unique<webhook::AdmissionHandler>(
        policySource, *webhookMetrics, serverMetrics, &policyMetrics, handlerOptions);
    routes.push_back(
        {"POST", "/validate",
         [&](const http::Request& req, http::Response& res) { admission->handle(req, res); },
         cfg.server.maxBodyBytes, true});
  }

  if (cfg.hasRole("audit")) {
    auditRole = std::make_unique<AuditRole>(cfg, *registry, policySource, serverMetrics);
    if (!auditRole->start(error)) {
      std::cerr << "kube-customs serve: " << error << "\n";
      return 1;
    }
    for (auto& r : auditRole->routes()) routes.push_back(std::move(r));
  }

  if (cfg.hasRole("node")) {
    node::NodeServiceOptions nodeOptions;
    if (!nodeServiceOptionsFrom(cfg, nodeOptions, error)) {
      std::cerr << "kube-customs serve: " << error << "\n";
      if (auditRole) auditRole->stop(std::chrono::milliseconds(0));
      return 2;
    }
    nodeOptions.policies = policySource;
    std::string respondError;
    auto responder = autoResponderFrom(cfg, *registry, respondError);
    if (!respondError.empty()) {
      std::cerr << "kube-customs serve: " << respondError << "\n";
      if (auditRole) auditRole->stop(std::chrono::milliseconds(0));
      return 2;
    }
    if (responder)
      nodeOptions.respond = [r = responder.get()](std::vector<audit::Finding>& findings) {
        r->onFindings(findings);
      };
    nodeRole = std::make_unique<NodeRole>(
        std::make_unique<node::NodeService>(std::move(nodeOptions), *registry),
        std::move(responder));
    if (!nodeRole->start(error)) {
      std::cerr << "kube-customs serve: " << error << "\n";
      if (auditRole) auditRole->stop(std::chrono::milliseconds(0));
      return 1;
    }
  }

  http::ServerOptions opts;
  opts.maxConnections = connectionCap(cfg.server.maxConnections);
  opts.listen = cfg.server.listen;
  opts.threads = cfg.server.threads;
  opts.maxBodyBytes = cfg.server.maxBodyBytes;
  opts.maxHeaderBytes = cfg.server.maxHeaderBytes;
  opts.headerTimeout = millis(cfg.server.headerTimeoutSeconds);
  opts.idleTimeout = millis(cfg.server.idleTimeoutSeconds);
  opts.maxInFlightBodyBytes = cfg.server.maxInFlightBodyBytes;
  http::Server server(opts, tlsContext, std::move(routes),
                      {[&](std::string_view reason) { serverMetrics.badRequest(reason); },
                       [&](std::size_t bytes) { serverMetrics.bodyBytesInFlight(bytes); }});
  if (!server.start(error)) {
    std::cerr << "kube-customs serve: " << error << "\n";
    return 1;
  }
  auto exposer = metrics::serveMetrics(
      cfg.metrics.listen, registry,
      [&](std::string_view reason) { serverMetrics.badRequest(reason); }, error);
  if (!exposer) {
    std::cerr << "kube-customs serve: " << error << "\n";
    server.shutdown(std::chrono::milliseconds(0));
    if (auditRole) auditRole->stop(std::chrono::milliseconds(0));
    if (nodeRole) nodeRole->stop(std::chrono::milliseconds(0));
    return 1;
  }
  log::info("listening", {{log::field::kEventType, log::event::kListening},
                          {"https_port", server.port()},
                          {"threads", server.threads()},
                          {"metrics_port", exposer->port()},
                          {log::field::kRoles, roles}});

  // Main loop: wait for a signal; between signals, poll certificate and policy files.
  const auto tick = std::chrono::duration<double>(
      std::min(cfg.tls.reloadIntervalSeconds, cfg.policies.reloadIntervalSeconds));
  timespec timeout{};
  timeout.tv_sec = static_cast<time_t>(tick.count());
  timeout.tv_nsec = static_cast<long>((tick.count() - static_cast<double>(timeout.tv_sec)) * 1e9);
  int sig = 0;
  for (;;) {
    sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig == SIGTERM || sig == SIGINT) break;
    // SIGHUP (a closed terminal, or an operator after editing files): reload certificates and
    // policies now, the latter without waiting for them to settle.
    if (sig == SIGHUP)
      log::info("SIGHUP: reloading certificates and policies",
                {{log::field::kEventType, log::event::kConfig}});
    tlsContext->maybeReload();
    refreshPolicies(sig == SIGHUP);
  }
  log::info("shutting down", {{log::field::kEventType, log::event::kShutdown},
                              {"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  const bool clean = server.shutdown(millis(cfg.server.shutdownGraceSeconds));
  if (auditRole) auditRole->stop(std::chrono::seconds(5));
  if (nodeRole) nodeRole->stop(std::chrono::seconds(5));
  exposer->shutdown(std::chrono::seconds(1));
  exposer.reset();
  log::info("stopped", {{log::field::kEventType, log::event::kShutdown}, {"clean", clean}});
  return 0;
}

}  // namespace kc::cmd
