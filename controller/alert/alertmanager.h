#pragma once
// Alertmanager v2 client for audit findings: one alert per finding, pushed with
// `POST /api/v2/alerts` to every configured Alertmanager (they deduplicate among themselves when
// clustered, as with Prometheus).
//
// Labels stay bounded: the client sends exactly the labels the caller gives (alertname, rule,
// severity, namespace); the details of a finding (user, pod, image, auditID, command, summary)
// belong in annotations. Alerts with the same labels are one alert: firing it again replaces
// the annotations and extends endsAt.
//
// A sender thread per Alertmanager batches the alerts that are due, retries failures with
// exponential backoff, and re-sends every active alert each `resendInterval` until its endsAt
// passes, so an Alertmanager that restarted or joined late learns about it. The set of alerts
// held is bounded (`maxAlerts`): when it is full the oldest one is dropped and counted.
//
// No step costs in proportion to the alerts held (thousands, when findings arrive in many
// namespaces): fire() is a hash lookup and a push on min-heaps of due times and end times, and
// a sender is woken by fire() only when it would not look by itself in time (idle, or a full
// batch waiting), and then takes what is due off the top of its heap.
//
// Thread-safety: every public member may be called from any thread. No member throws.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kc::audit {

struct Alert {
  std::string alertname;  // becomes the `alertname` label; required here or in `labels`
  std::map<std::string, std::string> labels;       // bounded values only; empty values are dropped
  std::map<std::string, std::string> annotations;  // free text; invalid UTF-8 replaced, capped
  std::chrono::system_clock::time_point startsAt{};  // default (epoch): the time of fire()
  std::chrono::system_clock::time_point endsAt{};    // default: startsAt + alertLifetime
  std::string generatorURL;                          // optional link back to the finding
};

struct AlertmanagerOptions {
  // Base URLs, e.g. "http://alertmanager.monitoring:9093" or "https://am.example/prefix".
  // The client posts to <url>/api/v2/alerts.
  std::vector<std::string> urls;
  std::string caFile;           // PEM bundle to verify https servers (added to the system CAs)
  std::string bearerToken;      // sent as `Authorization: Bearer ...`
  std::string bearerTokenFile;  // read before each request (projected tokens rotate); wins
  std::chrono::milliseconds timeout{10'000};             // per request, connect included
  std::chrono::milliseconds resendInterval{60'000};      // re-send period of an active alert
  std::chrono::milliseconds alertLifetime{15 * 60'000};  // endsAt when the caller sets none
  // Least gap between two posts to one URL. 0: none, an alert goes out as soon as no post is
  // in flight, and what arrives during a post goes in the next one (the batch forms by itself).
  std::chrono::milliseconds batchWait{0};
  std::chrono::milliseconds retryInitial{500};  // first backoff after a failed post
  std::chrono::milliseconds retryMax{30'000};   // backoff cap
  std::size_t maxAlerts = 10'000;               // alerts held (pending and active); oldest dropped
  std::size_t maxBatch = 64;                    // alerts per post
  std::size_t maxAnnotationBytes = 4096;        // longer annotation values are truncated
};

// Called from sender threads (sent, failed) or from the thread calling fire() (dropped). They
// must be cheap and must not call back into the client; what they throw is swallowed.
// `url` is the endpoint posted to (<base>/api/v2/alerts).
struct AlertmanagerHooks {
  std::function<void(const std::string& url, std::size_t alerts)> sent;          // a post succeeded
  std::function<void(const std::string& url, const std::string& error)> failed;  // one post
  std::function<void(std::size_t alerts)> dropped;  // evicted from a full set, or after stop()
};

struct AlertmanagerStats {
  std::uint64_t alertsSent = 0;      // alerts in successful posts, summed over URLs
  std::uint64_t sendFailures = 0;    // failed posts (connection error, timeout, non-2xx)
  std::uint64_t alertsDropped = 0;   // alerts evicted before their endsAt, or fired after stop()
  std::uint64_t alertsRejected = 0;  // fire() refused: no alertname, bad label name, bad times
  std::size_t alertsHeld = 0;        // alerts currently pending or active
};

class AlertmanagerClient {
 public:
  struct CreateResult {
    std::unique_ptr<AlertmanagerClient> client;  // null on error
    std::string error;  // why, e.g. "urls[1]: scheme must be http or https"
    bool ok() const { return client != nullptr; }
  };

  // Validates the options (URLs, CA file, token file) and starts the sender threads.
  static CreateResult create(AlertmanagerOptions options, AlertmanagerHooks hooks = {});

  ~AlertmanagerClient();  // stop() with no flush if not stopped yet
  AlertmanagerClient(const AlertmanagerClient&) = delete;
  AlertmanagerClient& operator=(const AlertmanagerClient&) = delete;

  // Queues an alert, or merges it with the held alert of the same labels (endsAt extended,
  // annotations and generatorURL replaced, earliest startsAt kept). Returns false when refused
  // (counted in alertsRejected) or after stop() (counted in alertsDropped).
  bool fire(Alert alert);

  // Ends the held alert with these labels now and sends the resolution. False if none is held.
  bool resolve(const std::string& alertname, const std::map<std::string, std::string>& labels);

  // Stops accepting alerts, sends what no Alertmanager has been told yet (new alerts, new
  // endsAt) until `deadline`, then cancels any request in flight and joins the threads.
  // Returns true when every held alert had reached every URL. Idempotent.
  bool stop(std::chrono::milliseconds deadline = std::chrono::seconds(5));

  AlertmanagerStats stats() const;

  struct Impl;

 private:
  explicit AlertmanagerClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The `POST /api/v2/alerts` body for these alerts (labels must already contain alertname).
std::string encodeAlerts(const std::vector<Alert>& alerts);
// RFC 3339 in UTC with milliseconds: 2026-11-30T04:39:32.123Z.
std::string formatRfc3339(std::chrono::system_clock::time_point t);

}  // namespace kc::audit
