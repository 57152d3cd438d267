#include "controller/audit_service.h"

#include <simdjson.h>
#include <string.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>

#include "common/internal_errors.h"
#include "common/log.h"
#include "controller/detect/object_memory.h"
#include "controller/ingest/mapped_lines.h"

namespace kc::audit {

Alert alertFor(const Finding& f, std::chrono::system_clock::time_point now) {
  Alert a;
  // The node door's findings (node/) carry their runtime and node.
  const bool node = !f.runtime.empty();
  a.alertname = node ? "KubeCustomsNodeFinding" : "KubeCustomsAuditFinding";
  a.labels = {{"rule", f.rule},
              {"severity", std::string(severityName(f.severity))},
              {"namespace", f.namespace_}};
  if (node) a.labels["node"] = f.node;
  // Only what the finding has: an empty annotation would read as a value.
  auto put = [&](const char* key, const std::string& value) {
    if (!value.empty()) a.annotations[key] = value;
  };
  put("summary", f.summary);
  put("technique", f.techniqueName.empty() || f.technique.empty()
                       ? f.technique
                       : f.technique + " " + f.techniqueName);
  put("user", f.user);
  put("auditID", f.auditID);
  put("kind", f.kind);
  put("name", f.name);
  if (!f.images.empty()) {
    std::string images;
    for (const auto& i : f.images) images += (images.empty() ? "" : ",") + i;
    a.annotations["image"] = images;
  }
  if (f.kind == "Pod" || f.resource == "pods") a.annotations["pod"] = f.name;
  if (!f.command.empty()) a.annotations["command"] = f.command;
  if (!f.requestUser.empty()) a.annotations["request_user"] = f.requestUser;
  put("runtime", f.runtime);
  put("container_id", f.containerID);
  put("container_name", f.containerName);
  if (node) put("image", f.image);
  // The node responder's marks: where the evidence bundle is, whether isolation was asked.
  if (auto it = f.details.find("evidence"); node && it != f.details.end())
    put("evidence", it->second);
  if (auto it = f.details.find("isolation"); node && it != f.details.end())
    put("isolation", it->second);
  if (!f.violations.empty()) {
    std::string v;
    for (const auto& x : f.violations) v += (v.empty() ? "" : "; ") + x;
    a.annotations["violations"] = v;
  }
  a.annotations["runbook_url"] = "docs/runbook.md";
  a.startsAt = now;
  return a;
}

void logFinding(const Finding& f) {
  nlohmann::json fields = toJson(f);
  fields[log::field::kEventType] =
      f.runtime.empty() ? log::event::kAuditFinding : log::event::kNodeFinding;
  log::write(log::Level::kWarn, f.summary, fields);
}

namespace {

// Replaces the NUL bytes of `text` with line ends.
void nulsToLineEnds(char* text, std::size_t n) {
  char* const end = text + n;
  for (char* p = text; p != end; ++p) {
    p = static_cast<char*>(std::memchr(p, '\0', static_cast<std::size_t>(end - p)));
    if (p == nullptr) return;
    *p = '\n';
  }
}

// Feeds a stream that cannot be mapped (stdin, a pipe; regular files go through
// readMappedLines) to the pipeline in chunks of whole lines; a line longer than `maxLine` is
// skipped to its newline and counted as dropped. NUL bytes end lines, as in readMappedLines. A
// reader thread fills buffers that keep simdjson's padding after the text (so the parser copies
// nothing) while this thread parses and runs the detections on the previous one; only the partial
// last line of a chunk is copied, to the front of the next buffer. At most kBuffers chunks exist at
// any time. `flush` runs after each chunk (output written while the input is still read).
// `onChunk` (optional) is called with each chunk before it is parsed, and `onTooLong` (optional)
// for each over-long line skipped, in input order with the chunks.
bool replayStream(std::FILE* in, AuditPipeline& pipeline, AuditMetrics& metrics,
                  std::size_t maxLine, uint64_t& tooLong, const std::function<void()>& flush,
                  const std::function<void(std::string_view chunk)>& onChunk,
                  const std::function<void()>& onTooLong) {
  constexpr std::size_t kChunk = 4u << 20;
  constexpr std::size_t kPadding = simdjson::SIMDJSON_PADDING;
  constexpr std::size_t kBuffers = 3;
  struct Chunk {
    std::vector<char> buf;
    std::size_t len = 0;   // whole lines (or, last, the unterminated tail of the input)
    uint64_t tooLong = 0;  // over-long lines skipped before these
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Chunk> full, empty;  // full: read, waiting to be processed
  bool done = false, stop = false, readError = false;
  for (std::size_t i = 0; i < kBuffers; ++i) empty.emplace_back();

  std::thread reader([&] {
    std::vector<char> carry;  // the partial line at the end of the last chunk
    bool skipping = false;
    for (;;) {
      Chunk c;
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return !empty.empty() || stop; });
        if (stop) return;
        c = std::move(empty.front());
        empty.pop_front();
      }
      std::size_t len = carry.size();
      if (c.buf.size() < len + kChunk + kPadding) c.buf.resize(len + kChunk + kPadding);
      if (len > 0) std::memcpy(c.buf.data(), carry.data(), len);
      carry.clear();
      std::size_t n = 0;
      bool eof = false;
      // Read until the chunk holds a newline (or the input ends).
      for (;;) {
        n = std::fread(c.buf.data() + len, 1, kChunk, in);
        if (n == 0) {
          eof = true;
          break;
        }
        const std::size_t start = len;
        len += n;
        // NUL bytes end lines, as in a regular file (readMappedLines) and the log follower, so
        // that the event written after a run of them is read.
        nulsToLineEnds(c.buf.data() + start, n);
        if (skipping) {
          const char* nl = static_cast<const char*>(std::memchr(c.buf.data() + start, '\n', n));
          if (nl == nullptr) {
            len = start;
            continue;
          }
          const std::size_t from = static_cast<std::size_t>(nl - c.buf.data()) + 1;
          std::memmove(c.buf.data() + start, c.buf.data() + from, len - from);
          len = start + (len - from);
          skipping = false;
        }
        // The text before `start` holds no newline: search only what was just read.
        const void* nl = ::memrchr(c.buf.data() + start, '\n', len - start);
        if (nl != nullptr) {
          const std::size_t last =
              static_cast<std::size_t>(static_cast<const char*>(nl) - c.buf.data()) + 1;
          carry.assign(c.buf.data() + last, c.buf.data() + len);
          len = last;
          break;
        }
        if (len > maxLine) {
          ++tooLong;
          ++c.tooLong;
          metrics.dropped("replay", "too_large");
          len = 0;
          skipping = true;
        }
        if (c.buf.size() < len + kChunk + kPadding) c.buf.resize(len + kChunk + kPadding);
      }
      if (eof && skipping) len = 0;  // the over-long last line ends with the input
      c.len = len;
      std::lock_guard lk(mu);
      (len > 0 || c.tooLong > 0 ? full : empty).push_back(std::move(c));
      if (eof) {
        readError = std::ferror(in) != 0;
        done = true;
      }
      cv.notify_all();
      if (eof) return;
    }
  });

  // Whatever happens here, the reader is stopped and joined.
  struct Join {
    std::mutex& mu;
    std::condition_variable& cv;
    bool& stop;
    std::thread& t;
    ~Join() {
      {
        std::lock_guard lk(mu);
        stop = true;
      }
      cv.notify_all();
      t.join();
    }
  } join{mu, cv, stop, reader};
  for (;;) {
    Chunk c;
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return !full.empty() || done; });
      if (full.empty()) break;
      c = std::move(full.front());
      full.pop_front();
    }
    if (onTooLong) {
      for (uint64_t i = 0; i < c.tooLong; ++i) onTooLong();
    }
    if (c.len > 0) {
      // Everything after the text, the padding included, is readable.
      const std::string_view text(c.buf.data(), c.len);
      if (onChunk) onChunk(text);
      pipeline.processLines(text, "replay", true);
      flush();
    }
    c.tooLong = 0;
    std::lock_guard lk(mu);
    empty.push_back(std::move(c));
    cv.notify_all();
  }
  std::lock_guard lk(mu);
  return !readError;
}

}  // namespace

AuditService::AuditService(AuditServiceOptions options, prometheus::Registry& registry)
    : options_(std::move(options)),
      metrics_(registry),
      state_(options_.state),
      baseline_(BaselineOptions{options_.learningPeriodMicros}),
      queue_(options_.queueMaxBytes) {
  DetectorOptions dopts = options_.detector;
  dopts.baseline = options_.state.baseline.empty() ? nullptr : &baseline_;
  detector_ = std::make_unique<Detector>(std::move(dopts));
  if (options_.webhook)
    spool_ = std::make_unique<Spool>(
        options_.state.spool.empty() ? std::string("audit-webhook.spool") : options_.state.spool);
  receiver_ = std::make_unique<WebhookReceiver>(
      options_.receiver, queue_,
      ReceiverHooks{
          [this](std::string_view r) {
            if (options_.badRequest) options_.badRequest(r);
          },
          [this] { metrics_.queueFull(); },
          [this](std::size_t) { metrics_.queueBytes(static_cast<double>(queue_.bytes())); },
          [this](const std::string& e) {
            metrics_.spoolError();
            log::error("audit batch not acknowledged: the spool cannot store it",
                       {{log::field::kPath, spool_->path()}, {log::field::kError, e}});
          }},
      spool_.get());
}

AuditService::~AuditService() {
  if (worker_.joinable()) stop(std::chrono::milliseconds(0));
}

void AuditService::handleFinding(const Finding& f) {
  if (options_.onFinding) options_.onFinding(f);
  if (alerts_) alerts_->fire(alertFor(f, std::chrono::system_clock::now()));
}

bool AuditService::open(std::string& error) {
  const StateDir::BaselineLoad b = state_.loadBaseline(baseline_, !options_.strictState);
  if (b.damaged) metrics_.stateFileError("baseline");
  if (!b.ok) {
    error = b.error;
    return false;
  }
  if (!b.movedTo.empty())
    log::warn(
        "baseline damaged: moved aside, learning starts over (values accepted in it can be "
        "accepted again from the copy)",
        {{log::field::kPath, options_.state.baseline},
         {"moved_to", b.movedTo},
         {log::field::kError, b.error}});
  // The memory only sharpens attribution and the suppression of repeats: without it the
  // detector starts empty, as on a first run.
  const ObjectMemoryLoad memory = state_.loadMemory(detector_->objects());
  if (!memory.ok) {
    if (options_.strictState) {
      error = memory.error;
      return false;
    }
    metrics_.stateFileError("memory");
    log::warn("audit memory unreadable; starting without it",
              {{log::field::kPath, options_.state.memory}, {log::field::kError, memory.error}});
  } else if (memory.loaded > 0 || memory.damaged > 0) {
    log::info("audit memory loaded", {{log::field::kPath, options_.state.memory},
                                      {"objects", memory.loaded},
                                      {"damaged_lines", memory.damaged}});
  }
  memoryDamaged_ = memory.damaged;
  // Sessions reported before: their keys mean something under the secret they were hashed
  // with. The log's dedupe journal has the final word on the secret (its keys must match the
  // events read again); if it holds another one, the saved sessions are left out.
  requests_ = state_.loadReportedRequests();
  if (!requests_.ok) {
    error = (requests_.oldFormat ? options_.state.reportedRequestsOld()
                                 : options_.state.reportedRequests()) +
            ": " + requests_.error;
    if (options_.strictState) return false;
    log::warn("reported requests unreadable; starting without them", {{log::field::kError, error}});
    error.clear();
    requests_ = {};
  }
  secret_ = state_.adoptSecret(requests_);
  PipelineOptions popts = options_.pipeline;
  popts.secret = secret_;
  pipeline_ = std::make_unique<AuditPipeline>(popts, *detector_, &metrics_,
                                              [this](const Finding& f) { handleFinding(f); });
  if (requests_.secret && *requests_.secret == secret_) {
    detector_->restoreReportedRequests(requests_.keys);
    if (!requests_.keys.empty() || requests_.damaged > 0 || requests_.stale > 0)
      log::info("reported requests loaded", {{log::field::kPath, options_.state.reportedRequests()},
                                             {"requests", requests_.keys.size()},
                                             {"damaged", requests_.damaged},
                                             {"stale", requests_.stale}});
  } else if (!requests_.keys.empty()) {
    log::warn(
        "reported requests saved under another secret than the dedupe journal's; "
        "left out (sessions open across the restart may be reported again)",
        {{log::field::kPath, options_.state.reportedRequests()}});
  }
  requests_.keys.clear();
  return true;
}

bool AuditService::recoverSpool(std::string& error) {
  if (!spool_) return true;
  Spool::Recovery recovered;
  if (!spool_->open(recovered, error)) {
    error = "cannot open the audit webhook spool: " + error;
    return false;
  }
  if (recovered.damaged > 0)
    log::warn("audit webhook spool: a record cut short was dropped (never acknowledged)",
              {{log::field::kPath, spool_->path()}});
  std::size_t bytes = 0;
  for (auto& p : recovered.pending) {
    bytes += p.body.size();
    queue_.pushRecovered(Batch{std::move(p.body), "webhook", p.seq});
  }
  if (!recovered.pending.empty())
    log::info("audit webhook batches acknowledged before the stop and not judged: queued again",
              {{log::field::kPath, spool_->path()},
               {"batches", recovered.pending.size()},
               {"bytes", bytes}});
  return true;
}

bool AuditService::startLog() {
  if (options_.logPath.empty()) return true;
  LogIngestOptions lo;
  lo.file.path = options_.logPath;
  lo.file.checkpointPath = options_.state.checkpoint;
  lo.file.maxLineBytes = options_.maxLineBytes;
  lo.file.maxBytesPerPoll = options_.logMaxBytesPerPoll;
  ingest_ = std::make_unique<LogIngest>(lo, *pipeline_, &metrics_);
  const LogIngestStart started = ingest_->start();
  if (!started.journalError.empty())
    log::error("cannot write the dedupe journal", {{log::field::kPath, ingest_->journalPath()},
                                                   {log::field::kError, started.journalError}});
  if (started.journalDamaged > 0 || started.journalStale > 0)
    log::warn("dedupe journal: records skipped", {{log::field::kPath, ingest_->journalPath()},
                                                  {"damaged", started.journalDamaged},
                                                  {"stale", started.journalStale}});
  if (!started.checkpointError.empty()) {
    metrics_.stateFileError("checkpoint");
    log::warn("audit checkpoint unreadable; reading the log from the start",
              {{log::field::kError, started.checkpointError}});
  }
  watch_ = std::make_unique<FileWatch>(options_.logPath, [this] {
    logChanged_.store(true);
    queue_.wake();
  });
  std::string watchError;
  if (!watch_->start(watchError)) {
    watch_.reset();
    log::warn("audit log changes are not watched; polling only",
              {{log::field::kPath, options_.logPath}, {log::field::kError, watchError}});
  }
  log::info("following the audit log",
            {{log::field::kPath, options_.logPath}, {"watched", watch_ != nullptr}});
  return true;
}

void AuditService::startReportedRequestsJournal() {
  requestsJournal_ = state_.reportedRequestsJournal(secret_);
  if (!requestsJournal_) return;
  // Rewritten whole under the secret in force, which also drops what the cap evicted; from
  // now on each session is appended as it is reported, before its batch's position is
  // committed, so no kill leaves a reported session unrecorded.
  const std::vector<DedupeKey> kept = detector_->reportedRequests();
  std::string journalError;
  if (!requestsJournal_->rewrite(kept, &journalError))
    log::error("cannot write the reported requests",
               {{log::field::kPath, requestsJournal_->path()}, {log::field::kError, journalError}});
  else if (requests_.oldFormat)
    state_.saveReportedRequests(secret_, kept, nullptr);  // removes the file of the old format
  requestsJournalRecords_ = kept.size();
  // A reported session is journaled once its finding is out (logged, handed to Alertmanager),
  // not when the detector decides it: a kill -9 in between then repeats the finding after the
  // restart instead of losing it.
  detector_->setDecidedHook([this](const DedupeKey& key) { decidedKeys_.push_back(key); });
  pipeline_->setAfterFindings([this] {
    if (decidedKeys_.empty()) return;
    std::string err;
    requestsJournalRecords_ += decidedKeys_.size();
    if (requestsJournalRecords_ > 2 * options_.detector.maxTrackedRequests) {
      const std::vector<DedupeKey> keys = detector_->reportedRequests();
      requestsJournalRecords_ = keys.size();
      if (!requestsJournal_->rewrite(keys, &err))
        log::error("cannot record a reported request",
                   {{log::field::kPath, requestsJournal_->path()}, {log::field::kError, err}});
    } else if (!requestsJournal_->append(decidedKeys_)) {
      log::error("cannot record a reported request", {{log::field::kPath, requestsJournal_->path()},
                                                      {log::field::kError, std::strerror(errno)}});
    }
    decidedKeys_.clear();
  });
}

bool AuditService::start(std::string& error) {
  if (!open(error)) return false;
  if (!recoverSpool(error)) return false;
  if (!options_.state.memory.empty())
    memoryWriter_ = std::make_unique<files::BackgroundWriter>(
        options_.state.memory, 0600, [path = options_.state.memory](const std::string& e) {
          log::error("cannot save the audit memory",
                     {{log::field::kPath, path}, {log::field::kError, e}});
        });
  startLog();
  startReportedRequestsJournal();
  if (!options_.alerts.urls.empty()) {
    auto created = AlertmanagerClient::create(
        options_.alerts,
        {[this](const std::string&, std::size_t n) { metrics_.alertSent(static_cast<double>(n)); },
         [this](const std::string& url, const std::string& e) {
           metrics_.alertSendFailed();
           log::warn("alert delivery failed", {{"url", url}, {log::field::kError, e}});
         },
         [this](std::size_t n) { metrics_.alertDropped(static_cast<double>(n)); }});
    if (!created.ok()) {
      error = "alertmanager: " + created.error;
      return false;
    }
    alerts_ = std::move(created.client);
  }
  lastSave_ = std::chrono::steady_clock::now();
  // The worker's failure boundary: what escapes the loop (each event already has its own) is
  // logged and counted, and the loop starts again after a second.
  worker_ = std::thread([this] {
    while (!internal::guarded(internal::Component::kAuditWorker, "audit worker", [&] { run(); }))
      std::this_thread::sleep_for(std::chrono::seconds(1));
  });
  return true;
}

std::vector<http::Route> AuditService::routes() {
  if (!options_.webhook) {
    log::warn(
        "audit webhook backend disabled: set tls.clientCAFile (--audit-client-ca) or "
        "audit.bearerTokens to authenticate the API server");
    return {};
  }
  return {receiver_->route("/audit/webhook", options_.webhookMaxBodyBytes)};
}

void AuditService::pollFile() {
  if (!ingest_) return;
  std::string error;
  ingest_->poll(&error, [this] { return stopping_.load(); });
  positionSaved_.store(error.empty());
  if (!error.empty())
    log::error("cannot persist the audit log position", {{log::field::kError, error}});
  logReadErrors();
}

void AuditService::logReadErrors() {
  const uint64_t errors = ingest_->fileStats().readErrors;
  if (errors == readErrorsLogged_) return;
  const std::string& error = ingest_->lastReadError();
  const auto now = std::chrono::steady_clock::now();
  if (error == readErrorLogged_ && now - readErrorLoggedAt_ < std::chrono::minutes(1)) return;
  log::error("cannot read the audit log; it is opened again at the next poll",
             {{log::field::kPath, options_.logPath},
              {log::field::kError, error},
              {"errors", errors - readErrorsLogged_}});
  readErrorsLogged_ = errors;
  readErrorLogged_ = error;
  readErrorLoggedAt_ = now;
}

void AuditService::saveState(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - lastSave_ < options_.stateSaveInterval) return;
  const bool changed = force || pipeline_->events() != eventsAtLastSave_;
  const StateDir::BaselineSave b = state_.saveBaseline(baseline_, changed);
  if (!b.adoptError.empty())
    log::warn("cannot read the baseline file for accepted values; it will be rewritten",
              {{log::field::kPath, options_.state.baseline}, {log::field::kError, b.adoptError}});
  if (b.adopted > 0)
    log::info("baseline: values accepted in the file adopted",
              {{log::field::kPath, options_.state.baseline}, {"values", b.adopted}});
  if (!b.wrote) {
    lastSave_ = now;
    return;
  }
  baselineSaved_.store(b.ok);
  if (!b.ok)
    log::error("cannot save the baseline",
               {{log::field::kPath, options_.state.baseline}, {log::field::kError, b.error}});
  if (memoryWriter_) memoryWriter_->submit(objectMemoryText(detector_->objects()));
  eventsAtLastSave_ = pipeline_->events();
  lastSave_ = now;
}

void AuditService::run() {
  const auto poll = options_.pollInterval;
  auto nextPoll = std::chrono::steady_clock::now();
  for (;;) {
    const bool stopping = stopping_.load();
    // A backlog of the log is read poll after poll, only looking at the queue in between.
    const bool backlog = ingest_ && ingest_->backlog();
    if (auto batch = queue_.pop(stopping || backlog ? std::chrono::milliseconds(0) : poll / 2)) {
      pipeline_->processDocument(batch->body, batch->source);
      metrics_.queueBytes(static_cast<double>(queue_.bytes()));
      std::string spoolError;
      if (batch->spoolSeq != 0 && !spool_->done(batch->spoolSeq, spoolError)) {
        // The batch may be judged again after a restart (its events then count as repeats).
        metrics_.spoolError();
        log::error("cannot mark an audit batch done in the spool",
                   {{log::field::kPath, spool_->path()}, {log::field::kError, spoolError}});
      }
    } else if (stopping) {
      break;  // queue closed and drained
    }
    // Not when stopping: the log keeps what is not read yet, and the position is committed.
    // A change seen by the watch is read at once; the poll interval is the fallback.
    const bool changed = logChanged_.exchange(false);
    if (!stopping && (backlog || changed || std::chrono::steady_clock::now() >= nextPoll)) {
      pollFile();
      nextPoll = std::chrono::steady_clock::now() + poll;
    }
    saveState(false);
  }
  saveState(true);
}

void AuditService::stop(std::chrono::milliseconds deadline) {
  stopping_.store(true);
  if (watch_) watch_->stop();
  queue_.close();
  if (worker_.joinable()) worker_.join();
  if (memoryWriter_) memoryWriter_->flush();  // the worker's last save
  if (alerts_) alerts_->stop(deadline);
}

namespace {

// The line number of each rejection of a replay: the chunks handed to the parser are whole lines
// in input order, so a rejected document's line is the chunk's first line plus the line ends
// before it in the chunk (counted as rejections come, in order). A chunk's own line ends are
// counted when it starts: its memory may be gone once it was parsed (a map window).
class LineCounter {
 public:
  // The next chunk, after the previous one was parsed.
  void startChunk(std::string_view chunk) {
    finishChunk();
    chunk_ = chunk;
    counted_ = 0;
    after_ = line_ + static_cast<uint64_t>(std::count(chunk.begin(), chunk.end(), '\n'));
  }
  // A line skipped between chunks (too long to be handed over): its number.
  uint64_t skipLine() {
    finishChunk();
    return line_++;
  }
  // The line of `document`, text within the current chunk.
  uint64_t lineOf(std::string_view document) {
    const char* p = document.data();
    if (chunk_.data() != nullptr && p >= chunk_.data() && p <= chunk_.data() + chunk_.size()) {
      const std::size_t at = static_cast<std::size_t>(p - chunk_.data());
      if (at > counted_) {
        line_ +=
            static_cast<uint64_t>(std::count(chunk_.data() + counted_, chunk_.data() + at, '\n'));
        counted_ = at;
      }
    }
    return line_;
  }

 private:
  void finishChunk() {
    if (chunk_.data() == nullptr) return;
    line_ = after_;
    chunk_ = {};
    counted_ = 0;
  }
  std::string_view chunk_;   // empty between chunks
  std::size_t counted_ = 0;  // bytes of chunk_ whose line ends are counted in line_
  uint64_t line_ = 1;
  uint64_t after_ = 1;  // the line after chunk_
};

}  // namespace

AuditService::ReplayResult AuditService::replay(std::FILE* in, const std::function<void()>& flush,
                                                const RejectedLine& onRejected) {
  ReplayResult result;
  // Line numbers are counted only when asked for.
  LineCounter lines;
  std::function<void(std::string_view)> onChunk;
  std::function<void()> onTooLong;
  if (onRejected) {
    pipeline_->setRejectHook([&](RejectReason r, std::string_view document) {
      onRejected(lines.lineOf(document), rejectReasonName(r));
    });
    onChunk = [&](std::string_view chunk) { lines.startChunk(chunk); };
    onTooLong = [&] { onRejected(lines.skipLine(), rejectReasonName(RejectReason::kTooLarge)); };
  }
  struct Unhook {
    AuditPipeline& p;
    bool hooked;
    ~Unhook() {
      if (hooked) p.setRejectHook(nullptr);
    }
  } unhook{*pipeline_, static_cast<bool>(onRejected)};
  struct stat st {};
  if (in != stdin && fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode)) {
    // A regular file is parsed where the page cache holds it (no copy, no reader thread).
    const MappedReadResult r = readMappedLines(
        fileno(in), static_cast<uint64_t>(st.st_size),
        [&](std::string_view chunk) {
          if (onChunk) onChunk(chunk);
          pipeline_->processLines(chunk, "replay", /*padded=*/true);
          flush();
        },
        onTooLong);
    result.tooLong = r.tooLong;
    if (r.tooLong > 0) metrics_.dropped("replay", "too_large", static_cast<double>(r.tooLong));
    result.ok = r.ok;
    result.error = r.error;
  } else {
    result.ok = replayStream(in, *pipeline_, metrics_, ParserLimits{}.maxDocumentBytes,
                             result.tooLong, flush, onChunk, onTooLong);
  }
  return result;
}

bool AuditService::saveAtEnd(bool baseline, std::string& error) {
  if (baseline) {
    const StateDir::BaselineSave b = state_.saveBaseline(baseline_, true);
    if (!b.ok) {
      error = b.error;
      return false;
    }
  }
  if (!state_.saveMemory(detector_->objects(), &error)) return false;
  return state_.saveReportedRequests(secret_, detector_->reportedRequests(), &error);
}

}  // namespace kc::audit
