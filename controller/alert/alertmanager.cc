#include "controller/alert/alertmanager.h"

#include <cpprest/http_client.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>
#include <utility>

#include "common/files.h"
#include "common/internal_errors.h"

namespace kc::audit {
namespace {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

constexpr std::size_t kMaxErrorBody = 512;  // bytes of an error response kept in the message

bool validLabelName(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// Copies `in` replacing each invalid UTF-8 sequence with U+FFFD, stopping before `maxBytes`
// (at a character boundary; an ellipsis marks the cut).
std::string sanitizeUtf8(const std::string& in, std::size_t maxBytes) {
  static const std::string kReplacement = "\xEF\xBF\xBD";
  static const std::string kEllipsis = "\xE2\x80\xA6";
  std::string out;
  out.reserve(std::min(in.size(), maxBytes));
  std::size_t i = 0;
  while (i < in.size()) {
    const auto c = static_cast<unsigned char>(in[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    }
    bool valid = len != 0 && i + len <= in.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(in[i + k]);
      if ((cc & 0xC0) != 0x80) valid = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (valid) {
      // Overlong forms, surrogates and values past U+10FFFF are invalid too.
      static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      if (cp < kMin[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) valid = false;
    }
    const std::string_view piece =
        valid ? std::string_view(in).substr(i, len) : std::string_view(kReplacement);
    if (out.size() + piece.size() > maxBytes) {
      while (out.size() + kEllipsis.size() > maxBytes && !out.empty()) {
        // Drop whole characters until the ellipsis fits.
        std::size_t cut = out.size() - 1;
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
        out.resize(cut);
      }
      if (out.size() + kEllipsis.size() <= maxBytes) out += kEllipsis;
      return out;
    }
    out.append(piece);
    i += valid ? len : 1;
  }
  return out;
}

// One string per label set; label names cannot contain '\xff' and values are sanitized, so the
// separators cannot be forged.
std::string fingerprint(const std::map<std::string, std::string>& labels) {
  std::string key;
  for (const auto& [name, value] : labels) {
    key += name;
    key += '\xff';
    key += value;
    key += '\xfe';
  }
  return key;
}

std::string readToken(const std::string& path, std::string* error) {
  std::string token;
  if (!files::readFile(path, token, 1u << 20)) {
    *error = "cannot read bearer token file " + files::readError(path);
    return "";
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  return token;
}

// Hooks are documented as non-throwing; a broken one must still not end a sender thread.
template <class Hook, class... Args>
void callHook(const Hook& hook, Args&&... args) {
  if (!hook) return;
  internal::guarded(internal::Component::kAlertmanager, "alertmanager hook",
                    [&] { hook(std::forward<Args>(args)...); });
}

struct PostResult {
  bool ok = false;
  bool permanent = false;  // retrying the same body cannot succeed (400)
  std::string error;
};

}  // namespace

std::string formatRfc3339(SystemClock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  long frac = static_cast<long>(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

std::string encodeAlerts(const std::vector<Alert>& alerts) {
  nlohmann::json body = nlohmann::json::array();
  for (const auto& a : alerts) {
    nlohmann::json j;
    j["labels"] = a.labels;
    j["annotations"] = a.annotations;
    j["startsAt"] = formatRfc3339(a.startsAt);
    j["endsAt"] = formatRfc3339(a.endsAt);
    if (!a.generatorURL.empty()) j["generatorURL"] = a.generatorURL;
    body.push_back(std::move(j));
  }
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// What the client holds, and when it must act on it, kept so that no step is proportional to
// the number of alerts held: a finding (fire) costs a hash lookup and a heap push, a sender's
// wake-up the alerts it sends or forgets. The times are min-heaps with lazy deletion: an item
// whose entry is gone, or whose entry was rescheduled since (its sequence number no longer the
// entry's), is skipped when it comes to the top, and a heap that holds more stale items than
// live ones is rebuilt from the entries.
struct AlertmanagerClient::Impl {
  struct Entry {
    Alert alert;           // labels include alertname
    std::uint64_t id = 0;  // names the entry in the heaps' items
    std::uint64_t version = 1;
    std::vector<std::uint64_t> sentVersion;    // per URL: last version accepted, 0 = none
    std::vector<SteadyClock::time_point> due;  // per URL: when to send next
    // Per URL: the sequence number of the entry's item in that URL's due heap; 0 while the
    // entry is staged in the URL's `ready` queue or in a post (not in the heap).
    std::vector<std::uint64_t> dueSeq;
    std::uint64_t expirySeq = 0;  // of its item in the expiry heap
    bool explicitResolve = false;
    std::list<std::string>::iterator order;
  };

  // An item of a min-heap: when, which entry, and the sequence number that says whether it is
  // still the entry's current one.
  template <class TimePoint>
  struct Timed {
    TimePoint at;
    std::uint64_t seq;
    std::uint64_t id;
    // std::push_heap keeps the greatest on top: "greater" is "later" here.
    bool operator<(const Timed& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  using DueItem = Timed<SteadyClock::time_point>;
  using ExpiryItem = Timed<SystemClock::time_point>;

  struct Endpoint {
    std::string url;
    std::unique_ptr<web::http::client::http_client> http;
    std::vector<DueItem> dueHeap;     // entries by the time they are next due at this URL
    std::deque<std::uint64_t> ready;  // ids taken off the heap as due, in due order, not sent
    // The sender's wake-up, so that fire() wakes it only when it must: while it is idle, when
    // something falls due before it would wake; while it holds a partial batch back
    // (batchWait), only when the batch would be full and may go at once.
    SteadyClock::time_point wakeAt = SteadyClock::time_point::max();
    bool holding = false;
    bool fullBatchMayGo = false;  // holding, not in backoff: a full batch is posted at once
    std::size_t newlyDue = 0;     // fired since the sender last looked
  };

  AlertmanagerOptions options;
  AlertmanagerHooks hooks;
  std::vector<Endpoint> endpoints;

  std::mutex stopMu;
  mutable std::mutex mu;
  std::condition_variable cv;      // work for senders, or stop
  std::condition_variable doneCv;  // a sender exited
  std::unordered_map<std::string, Entry> entries;
  std::unordered_map<std::uint64_t, Entry*> byId;  // element pointers stay valid on rehash
  std::list<std::string> order;                    // fingerprints, least recently fired first
  std::vector<ExpiryItem> expiryHeap;  // entries by endsAt (or the end of a resolution's grace)
  std::uint64_t nextId = 1;
  std::uint64_t nextSeq = 1;
  bool stopping = false;
  bool stopped = false;
  bool stopResult = false;
  SteadyClock::time_point stopDeadline{};
  std::size_t sendersDone = 0;
  std::vector<std::thread> senders;
  pplx::cancellation_token_source cancel;

  std::atomic<std::uint64_t> alertsSent{0};
  std::atomic<std::uint64_t> sendFailures{0};
  std::atomic<std::uint64_t> alertsDropped{0};
  std::atomic<std::uint64_t> alertsRejected{0};

  // A heap holding this many items per live one and more is rebuilt (amortized O(1) a push).
  static constexpr std::size_t kStaleFactor = 2;
  static constexpr std::size_t kStaleSlack = 1024;

  Entry* lookup(std::uint64_t id) const {
    auto it = byId.find(id);
    return it == byId.end() ? nullptr : it->second;
  }

  Entry& insert(const std::string& fp, Alert alert, SteadyClock::time_point now) {
    Entry& e = entries[fp];
    e.alert = std::move(alert);
    e.id = nextId++;
    e.sentVersion.assign(endpoints.size(), 0);
    e.due.assign(endpoints.size(), now);
    e.dueSeq.assign(endpoints.size(), 0);
    e.order = order.insert(order.end(), fp);
    byId.emplace(e.id, &e);
    for (std::size_t i = 0; i < endpoints.size(); ++i) schedule(e, i, now);
    scheduleExpiry(e, e.alert.endsAt);
    return e;
  }

  void erase(std::unordered_map<std::string, Entry>::iterator it) {
    byId.erase(it->second.id);  // its heap items and ready ids become stale
    order.erase(it->second.order);
    entries.erase(it);
  }
  void erase(Entry& e) { erase(entries.find(*e.order)); }

  // (Re)schedules `e` at URL `i` for `at`, unless it is staged or in a post there (it is sent
  // as it then is, or rescheduled after the post).
  void schedule(Entry& e, std::size_t i, SteadyClock::time_point at) {
    Endpoint& ep = endpoints[i];
    e.due[i] = at;
    e.dueSeq[i] = nextSeq++;
    ep.dueHeap.push_back({at, e.dueSeq[i], e.id});
    std::push_heap(ep.dueHeap.begin(), ep.dueHeap.end());
    if (ep.dueHeap.size() > kStaleFactor * entries.size() + kStaleSlack) rebuildDue(i);
  }

  // An update: due at every URL now. Wakes a sender only when it would not act on it anyway
  // before the batch is due (see Endpoint); true when some sender needs a notify.
  bool makeDue(Entry& e, SteadyClock::time_point now) {
    bool wake = false;
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      Endpoint& ep = endpoints[i];
      if (e.dueSeq[i] != 0 && e.due[i] > now) schedule(e, i, now);
      ++ep.newlyDue;
      if (!ep.holding && now < ep.wakeAt) {
        ep.wakeAt = now;  // one notify is enough until the sender looks again
        wake = true;
      } else if (ep.holding && ep.fullBatchMayGo &&
                 ep.ready.size() + ep.newlyDue >= options.maxBatch) {
        ep.fullBatchMayGo = false;
        wake = true;
      }
    }
    return wake;
  }

  void rebuildDue(std::size_t i) {
    Endpoint& ep = endpoints[i];
    ep.dueHeap.clear();
    for (const auto& [fp, e] : entries) {
      if (e.dueSeq[i] != 0) ep.dueHeap.push_back({e.due[i], e.dueSeq[i], e.id});
    }
    std::make_heap(ep.dueHeap.begin(), ep.dueHeap.end());
  }

  void scheduleExpiry(Entry& e, SystemClock::time_point at) {
    e.expirySeq = nextSeq++;
    expiryHeap.push_back({at, e.expirySeq, e.id});
    std::push_heap(expiryHeap.begin(), expiryHeap.end());
    if (expiryHeap.size() > kStaleFactor * entries.size() + kStaleSlack) {
      expiryHeap.clear();
      for (const auto& [fp, x] : entries) expiryHeap.push_back({x.alert.endsAt, x.expirySeq, x.id});
      std::make_heap(expiryHeap.begin(), expiryHeap.end());
    }
  }

  bool deliveredEverywhere(const Entry& e) const {
    return std::all_of(e.sentVersion.begin(), e.sentVersion.end(),
                       [&](std::uint64_t v) { return v == e.version; });
  }

  // An explicit resolution is kept until every URL has it (or five resend periods went by) so
  // that Alertmanager resolves it now rather than never.
  bool keepEnded(const Entry& e, SystemClock::time_point now) const {
    return e.explicitResolve && !deliveredEverywhere(e) &&
           now < e.alert.endsAt + 5 * options.resendInterval;
  }

  // Forgets alerts whose endsAt passed: only those whose time came, off the top of the heap.
  void sweep(SystemClock::time_point now) {
    while (!expiryHeap.empty() && expiryHeap.front().at <= now) {
      std::pop_heap(expiryHeap.begin(), expiryHeap.end());
      const ExpiryItem item = expiryHeap.back();
      expiryHeap.pop_back();
      Entry* e = lookup(item.id);
      if (e == nullptr || e->expirySeq != item.seq) continue;  // stale
      if (e->alert.endsAt > now) {
        scheduleExpiry(*e, e->alert.endsAt);  // extended by a later fire()
      } else if (keepEnded(*e, now)) {
        scheduleExpiry(*e, e->alert.endsAt + 5 * options.resendInterval);
      } else {
        erase(*e);
      }
    }
  }

  // Moves what is due at URL `i` from its heap to its ready queue.
  void stageDue(std::size_t i, SteadyClock::time_point now) {
    Endpoint& ep = endpoints[i];
    ep.newlyDue = 0;
    while (!ep.dueHeap.empty() && ep.dueHeap.front().at <= now) {
      std::pop_heap(ep.dueHeap.begin(), ep.dueHeap.end());
      const DueItem item = ep.dueHeap.back();
      ep.dueHeap.pop_back();
      Entry* e = lookup(item.id);
      if (e == nullptr || e->dueSeq[i] != item.seq) continue;  // stale
      e->dueSeq[i] = 0;
      ep.ready.push_back(item.id);
    }
  }

  // When the sender of URL `i` must look again with nothing ready: the next due time or the
  // next expiry, at the latest one resend period from now.
  SteadyClock::time_point nextWake(std::size_t i, SteadyClock::time_point now,
                                   SystemClock::time_point sysNow) const {
    SteadyClock::time_point at = now + options.resendInterval;
    const Endpoint& ep = endpoints[i];
    if (!ep.dueHeap.empty()) at = std::min(at, ep.dueHeap.front().at);
    if (!expiryHeap.empty()) {
      const auto in =
          std::chrono::duration_cast<SteadyClock::duration>(expiryHeap.front().at - sysNow);
      at = std::min(at, now + std::max(in, SteadyClock::duration::zero()));
    }
    return at;
  }

  PostResult post(std::size_t i, const std::string& body) {
    PostResult r;
    try {
      std::string token = options.bearerToken;
      if (!options.bearerTokenFile.empty()) {
        std::string error;
        token = readToken(options.bearerTokenFile, &error);
        if (!error.empty()) {
          r.error = error;
          return r;
        }
      }
      web::http::http_request req(web::http::methods::POST);
      req.headers().add(U("User-Agent"), U("kube-customs/" KC_VERSION));
      if (!token.empty()) req.headers().add(U("Authorization"), "Bearer " + token);
      req.set_body(body, "application/json");
      web::http::http_response resp = endpoints[i].http->request(req, cancel.get_token()).get();
      const auto status = resp.status_code();
      if (status >= 200 && status < 300) {
        r.ok = true;
        return r;
      }
      std::string detail;
      try {
        detail = resp.extract_utf8string(true).get();
      } catch (...) {
      }
      if (detail.size() > kMaxErrorBody) detail.resize(kMaxErrorBody);
      while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();
      r.error = "HTTP " + std::to_string(status) + (detail.empty() ? "" : ": " + detail);
      r.permanent = status == 400;
    } catch (const pplx::task_canceled&) {
      r.error = "canceled at stop deadline";
    } catch (const std::exception& e) {
      r.error = e.what();
    } catch (...) {
      r.error = "unknown error";
    }
    return r;
  }

  void sender(std::size_t i) {
    Endpoint& ep = endpoints[i];
    const std::string& url = ep.url;
    std::chrono::milliseconds backoff{0};
    SteadyClock::time_point retryAt{};
    SteadyClock::time_point lastPost{};
    std::unique_lock lk(mu);
    for (;;) {
      const auto now = SteadyClock::now();
      const auto sysNow = SystemClock::now();
      sweep(sysNow);
      ep.holding = false;
      ep.wakeAt = SteadyClock::time_point::max();  // awake: fire() need not notify

      // Pick the batch: in normal running, what is due, in due order; while stopping, what
      // this URL has never been told (scans of the alerts held, but only in the final drain).
      const bool draining = stopping;
      std::vector<std::pair<std::uint64_t, std::uint64_t>> picked;  // id, version
      std::vector<Alert> batch;
      if (draining) {
        for (const auto& fp : order) {
          const Entry& e = entries.at(fp);
          if (e.sentVersion[i] == e.version) continue;
          picked.emplace_back(e.id, e.version);
          batch.push_back(e.alert);
          if (batch.size() >= options.maxBatch) break;
        }
        if (batch.empty() || now >= stopDeadline) break;
        if (now < retryAt) {
          cv.wait_until(lk, std::min(retryAt, stopDeadline));
          continue;
        }
      } else {
        stageDue(i, now);
        while (!ep.ready.empty() && lookup(ep.ready.front()) == nullptr) ep.ready.pop_front();
        if (ep.ready.empty()) {
          ep.wakeAt = nextWake(i, now, sysNow);
          cv.wait_until(lk, ep.wakeAt);
          continue;
        }
        const auto notBefore = std::max(retryAt, lastPost + options.batchWait);
        if (now < notBefore && (now < retryAt || ep.ready.size() < options.maxBatch)) {
          // Held back until the gap after the last post passes (more alerts join the batch)
          // or the batch is full; fire() wakes this thread only for the latter.
          ep.holding = true;
          ep.fullBatchMayGo = now >= retryAt;
          ep.wakeAt = notBefore;
          cv.wait_until(lk, std::min(notBefore, nextWake(i, now, sysNow)));
          continue;
        }
        while (!ep.ready.empty() && batch.size() < options.maxBatch) {
          const std::uint64_t id = ep.ready.front();
          ep.ready.pop_front();
          const Entry* e = lookup(id);
          if (e == nullptr) continue;  // forgotten since it was staged
          picked.emplace_back(id, e->version);
          batch.push_back(e->alert);
        }
        if (batch.empty()) continue;
      }

      const std::string body = encodeAlerts(batch);
      lk.unlock();
      PostResult r = post(i, body);
      lastPost = SteadyClock::now();
      if (r.ok) {
        alertsSent += batch.size();
        callHook(hooks.sent, url, batch.size());
      } else {
        ++sendFailures;
        callHook(hooks.failed, url, r.error);
      }
      lk.lock();

      if (r.ok || r.permanent) {
        // A rejected body is not retried as is; the next resend or update tries again.
        backoff = std::chrono::milliseconds{0};
        retryAt = {};
        const auto sysDone = SystemClock::now();
        for (const auto& [id, version] : picked) {
          Entry* e = lookup(id);
          if (e == nullptr) continue;
          e->sentVersion[i] = std::max(e->sentVersion[i], version);
          if (draining) continue;  // not in the heap; the senders end with the drain
          if (e->explicitResolve && e->alert.endsAt <= sysDone && deliveredEverywhere(*e)) {
            erase(*e);  // the resolution reached every URL: nothing more to say
            continue;
          }
          // Updated while it was posted: due again now; else at the next resend.
          schedule(*e, i, e->version == version ? lastPost + options.resendInterval : lastPost);
        }
      } else {
        backoff =
            backoff.count() == 0 ? options.retryInitial : std::min(backoff * 2, options.retryMax);
        retryAt = lastPost + backoff;
        // Retried first, as they are (an update since is sent with them).
        if (!draining) {
          for (auto it = picked.rbegin(); it != picked.rend(); ++it) ep.ready.push_front(it->first);
        }
      }
    }
    ++sendersDone;
    doneCv.notify_all();
  }
};

AlertmanagerClient::AlertmanagerClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AlertmanagerClient::CreateResult AlertmanagerClient::create(AlertmanagerOptions options,
                                                            AlertmanagerHooks hooks) {
  CreateResult result;
  try {
    if (options.urls.empty()) {
      result.error = "no Alertmanager URL configured";
      return result;
    }
    if (options.maxAlerts == 0 || options.maxBatch == 0) {
      result.error = "maxAlerts and maxBatch must be positive";
      return result;
    }
    if (options.resendInterval.count() <= 0 || options.timeout.count() <= 0 ||
        options.alertLifetime.count() <= 0 || options.retryInitial.count() <= 0 ||
        options.retryMax < options.retryInitial) {
      result.error =
          "timeout, resendInterval, alertLifetime and retryInitial must be positive, "
          "retryMax at least retryInitial";
      return result;
    }
    if (!options.caFile.empty()) {
      boost::system::error_code ec;
      boost::asio::ssl::context probe(boost::asio::ssl::context::tls_client);
      probe.load_verify_file(options.caFile, ec);
      if (ec) {
        result.error = "caFile " + options.caFile + ": " + ec.message();
        return result;
      }
    }
    if (!options.bearerTokenFile.empty()) {
      std::string error;
      readToken(options.bearerTokenFile, &error);
      if (!error.empty()) {
        result.error = error;
        return result;
      }
    }

    auto impl = std::make_unique<Impl>();
    for (std::size_t i = 0; i < options.urls.size(); ++i) {
      const std::string& raw = options.urls[i];
      const std::string where = "urls[" + std::to_string(i) + "] \"" + raw + "\": ";
      if (!web::uri::validate(raw)) {
        result.error = where + "not a valid URL";
        return result;
      }
      web::uri base(raw);
      if (base.scheme() != "http" && base.scheme() != "https") {
        result.error = where + "scheme must be http or https";
        return result;
      }
      if (base.host().empty()) {
        result.error = where + "no host";
        return result;
      }
      if (!base.query().empty() || !base.fragment().empty()) {
        result.error = where + "a base URL takes no query or fragment";
        return result;
      }
      web::uri_builder builder(base);
      builder.append_path(U("api/v2/alerts"));
      const web::uri target = builder.to_uri();

      web::http::client::http_client_config config;
      config.set_timeout(options.timeout);
      config.set_validate_certificates(true);
      if (!options.caFile.empty()) {
        const std::string ca = options.caFile;
        config.set_ssl_context_callback(
            [ca](boost::asio::ssl::context& ctx) { ctx.load_verify_file(ca); });
      }
      Impl::Endpoint ep;
      ep.url = target.to_string();
      ep.http = std::make_unique<web::http::client::http_client>(target, config);
      impl->endpoints.push_back(std::move(ep));
    }
    impl->options = std::move(options);
    impl->hooks = std::move(hooks);

    Impl* raw = impl.get();
    for (std::size_t i = 0; i < raw->endpoints.size(); ++i) {
      // The sender's failure boundary: what escapes one round costs the alerts of that round,
      // is logged and counted, and the sender starts again (after a second, so that a fault
      // that repeats cannot spin).
      raw->senders.emplace_back([raw, i] {
        while (!internal::guarded(internal::Component::kAlertmanager, raw->endpoints[i].url,
                                  [&] { raw->sender(i); }))
          std::this_thread::sleep_for(std::chrono::seconds(1));
      });
    }
    result.client.reset(new AlertmanagerClient(std::move(impl)));
  } catch (const std::exception& e) {
    result.client.reset();
    result.error = std::string("cannot create the Alertmanager client: ") + e.what();
  }
  return result;
}

AlertmanagerClient::~AlertmanagerClient() {
  if (impl_) stop(std::chrono::milliseconds{0});
}

bool AlertmanagerClient::fire(Alert alert) {
  Impl& s = *impl_;
  try {
    std::map<std::string, std::string> labels;
    bool bad = false;
    for (auto& [name, value] : alert.labels) {
      if (!validLabelName(name)) bad = true;
      // Alertmanager drops empty label values too; doing it here keeps fingerprints equal.
      if (!value.empty()) labels[name] = sanitizeUtf8(value, s.options.maxAnnotationBytes);
    }
    if (!alert.alertname.empty()) labels["alertname"] = sanitizeUtf8(alert.alertname, 256);
    const auto now = SystemClock::now();
    if (alert.startsAt == SystemClock::time_point{}) alert.startsAt = now;
    if (alert.endsAt == SystemClock::time_point{}) {
      alert.endsAt = alert.startsAt + s.options.alertLifetime;
    }
    if (bad || labels.count("alertname") == 0 || alert.endsAt <= now ||
        alert.endsAt <= alert.startsAt) {
      ++s.alertsRejected;
      return false;
    }
    alert.alertname = labels["alertname"];
    alert.labels = std::move(labels);
    for (auto& [name, value] : alert.annotations) {
      value = sanitizeUtf8(value, s.options.maxAnnotationBytes);
    }
    alert.generatorURL = sanitizeUtf8(alert.generatorURL, s.options.maxAnnotationBytes);

    std::size_t dropped = 0;
    bool accepted = false;
    bool wake = false;
    {
      std::lock_guard lk(s.mu);
      if (s.stopping) {
        dropped = 1;
      } else {
        accepted = true;
        const std::string fp = fingerprint(alert.labels);
        const auto steadyNow = SteadyClock::now();
        auto it = s.entries.find(fp);
        if (it != s.entries.end() && it->second.alert.endsAt > now) {
          Impl::Entry& e = it->second;
          e.alert.startsAt = std::min(e.alert.startsAt, alert.startsAt);
          // A later endsAt needs no new expiry item: the current one is put back when its
          // time comes and the alert still runs.
          e.alert.endsAt = std::max(e.alert.endsAt, alert.endsAt);
          e.alert.annotations = std::move(alert.annotations);
          e.alert.generatorURL = std::move(alert.generatorURL);
          e.explicitResolve = false;
          ++e.version;
          wake = s.makeDue(e, steadyNow);
          s.order.splice(s.order.end(), s.order, e.order);
        } else {
          if (it != s.entries.end()) s.erase(it);  // ended, not swept yet: a new alert
          if (s.entries.size() >= s.options.maxAlerts) s.sweep(now);
          while (s.entries.size() >= s.options.maxAlerts) {
            s.erase(s.entries.find(s.order.front()));
            ++dropped;
          }
          wake = s.makeDue(s.insert(fp, std::move(alert), steadyNow), steadyNow);
        }
      }
    }
    if (wake) s.cv.notify_all();
    if (dropped > 0) {
      s.alertsDropped += dropped;
      callHook(s.hooks.dropped, dropped);
    }
    return accepted;
  } catch (const std::exception&) {
    ++s.alertsRejected;  // allocation failure; nothing else here throws
    return false;
  }
}

bool AlertmanagerClient::resolve(const std::string& alertname,
                                 const std::map<std::string, std::string>& labels) {
  Impl& s = *impl_;
  try {
    std::map<std::string, std::string> key;
    for (const auto& [name, value] : labels) {
      if (!value.empty()) key[name] = sanitizeUtf8(value, s.options.maxAnnotationBytes);
    }
    if (!alertname.empty()) key["alertname"] = sanitizeUtf8(alertname, 256);
    bool wake = false;
    {
      std::lock_guard lk(s.mu);
      if (s.stopping) return false;
      auto it = s.entries.find(fingerprint(key));
      const auto now = SystemClock::now();
      if (it == s.entries.end() || it->second.alert.endsAt <= now) return false;
      Impl::Entry& e = it->second;
      e.alert.endsAt = std::max(now, e.alert.startsAt + std::chrono::milliseconds{1});
      e.explicitResolve = true;
      ++e.version;
      s.scheduleExpiry(e, e.alert.endsAt);  // earlier than its current item
      wake = s.makeDue(e, SteadyClock::now());
    }
    if (wake) s.cv.notify_all();
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

bool AlertmanagerClient::stop(std::chrono::milliseconds deadline) {
  Impl& s = *impl_;
  std::lock_guard serial(s.stopMu);  // one stop() at a time joins the threads
  std::unique_lock lk(s.mu);
  if (s.stopped) return s.stopResult;
  if (!s.stopping) {
    s.stopping = true;
    s.stopDeadline = SteadyClock::now() + std::max(deadline, std::chrono::milliseconds{0});
    s.cv.notify_all();
  }
  const bool finished =
      s.doneCv.wait_until(lk, s.stopDeadline, [&] { return s.sendersDone == s.senders.size(); });
  if (!finished) {
    s.cancel.cancel();  // interrupts requests in flight
    s.cv.notify_all();
  }
  lk.unlock();
  for (auto& t : s.senders) {
    if (t.joinable()) t.join();
  }
  lk.lock();
  s.sweep(SystemClock::now());
  bool all = true;
  for (const auto& [fp, e] : s.entries) {
    if (!s.deliveredEverywhere(e)) all = false;
  }
  s.stopped = true;
  s.stopResult = all;
  return all;
}

AlertmanagerStats AlertmanagerClient::stats() const {
  const Impl& s = *impl_;
  AlertmanagerStats st;
  st.alertsSent = s.alertsSent.load();
  st.sendFailures = s.sendFailures.load();
  st.alertsDropped = s.alertsDropped.load();
  st.alertsRejected = s.alertsRejected.load();
  std::lock_guard lk(s.mu);
  st.alertsHeld = s.entries.size();
  return st;
}

}  // namespace kc::audit
