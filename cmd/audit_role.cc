#include "cmd/audit_role.h"

#include <cerrno>
#include <cstring>
#include <optional>

#include "common/internal_errors.h"
#include "common/log.h"
#include "controller/object_memory.h"
#include "controller/reported_requests.h"

namespace kc::cmd {

audit::Alert alertFor(const audit::Finding& f, std::chrono::system_clock::time_point now) {
  audit::Alert a;
  a.alertname = "KubeCustomsAuditFinding";
  a.labels = {{"rule", f.rule},
              {"severity", std::string(audit::severityName(f.severity))},
              {"namespace", f.namespace_}};
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
  if (!f.violations.empty()) {
    std::string v;
    for (const auto& x : f.violations) v += (v.empty() ? "" : "; ") + x;
    a.annotations["violations"] = v;
  }
  a.annotations["runbook_url"] = "docs/runbook.md";
  a.startsAt = now;
  return a;
}

void logFinding(const audit::Finding& f) {
  nlohmann::json fields = audit::toJson(f);
  fields[log::field::kEventType] = log::event::kAuditFinding;
  log::write(log::Level::kWarn, f.summary, fields);
}

audit::DetectorOptions detectorOptionsFrom(const Config& cfg) {
  const DetectionsConfig& d = cfg.audit.detections;
  audit::DetectorOptions opts;
  opts.trustedIdentities = d.trustedIdentities;
  opts.privilegedIdentities = d.privilegedIdentities;
  opts.reportControlPlaneMirrorPods = d.reportControlPlaneMirrorPods;
  opts.reportWarnViolations = d.reportWarnViolations;
  opts.maxTrackedObjects = d.maxTrackedObjects;
  opts.maxTrackedRequests = d.maxTrackedRequests;
  return opts;
}

namespace {

// The webhook backend runs when the API server can authenticate to it.
bool webhookEnabled(const Config& cfg) {
  return !cfg.tls.clientCAFile.empty() || !cfg.audit.bearerTokens.empty();
}

}  // namespace

AuditRole::AuditRole(const Config& cfg, prometheus::Registry& registry,
                     audit::DetectorOptions::PolicySource policies,
                     metrics::ServerMetrics& serverMetrics)
    : cfg_(cfg),
      metrics_(registry),
      serverMetrics_(serverMetrics),
      baseline_(
          audit::BaselineOptions{static_cast<int64_t>(cfg.audit.learningPeriodHours * 3600 * 1e6)}),
      queue_(cfg.audit.queueMaxBytes) {
  baselinePath_ =
      cfg.audit.baselineFile.empty() ? cfg.stateDir + "/baseline.json" : cfg.audit.baselineFile;
  memoryPath_ =
      cfg.audit.memoryFile.empty() ? cfg.stateDir + "/audit-memory.jsonl" : cfg.audit.memoryFile;
  memoryWriter_ = std::make_unique<files::BackgroundWriter>(
      memoryPath_, 0600, [path = memoryPath_](const std::string& error) {
        log::error("cannot save the audit memory",
                   {{log::field::kPath, path}, {log::field::kError, error}});
      });
  requestsJournal_ =
      std::make_unique<audit::DedupeJournal>(audit::reportedRequestsJournalPathFor(memoryPath_));
  audit::DetectorOptions opts = detectorOptionsFrom(cfg);
  opts.policies = std::move(policies);
  opts.baseline = &baseline_;
  detector_ = std::make_unique<audit::Detector>(std::move(opts));
  audit::PipelineOptions popts;
  popts.limits.maxDocumentBytes = std::max(cfg.audit.webhookMaxBodyBytes, cfg.audit.maxEventBytes);
  popts.limits.maxEventBytes = cfg.audit.maxEventBytes;
  pipeline_ = std::make_unique<audit::AuditPipeline>(
      popts, *detector_, &metrics_, [this](const audit::Finding& f) {
        logFinding(f);
        if (alerts_) alerts_->fire(alertFor(f, std::chrono::system_clock::now()));
      });
  audit::ReceiverOptions ropts;
  ropts.bearerTokens = cfg.audit.bearerTokens;
  ropts.allowedClientNames = cfg.audit.allowedClientNames;
  ropts.retryAfterSeconds = cfg.audit.retryAfterSeconds;
  if (webhookEnabled(cfg))
    spool_ = std::make_unique<audit::Spool>(cfg.audit.webhookSpoolFile.empty()
                                                ? cfg.stateDir + "/audit-webhook.spool"
                                                : cfg.audit.webhookSpoolFile);
  receiver_ = std::make_unique<audit::WebhookReceiver>(
      ropts, queue_,
      audit::ReceiverHooks{
          [this](std::string_view r) { serverMetrics_.badRequest(r); },
          [this] { metrics_.queueFull(); },
          [this](std::size_t) { metrics_.queueBytes(static_cast<double>(queue_.bytes())); },
          [this](const std::string& e) {
            metrics_.spoolError();
            log::error("audit batch not acknowledged: the spool cannot store it",
                       {{log::field::kPath, spool_->path()}, {log::field::kError, e}});
          }},
      spool_.get());
}

AuditRole::~AuditRole() {
  if (worker_.joinable()) stop(std::chrono::milliseconds(0));
}

bool AuditRole::loadBaseline(std::string& error) {
  std::string loadError;
  if (baseline_.load(baselinePath_, &loadError)) return true;
  // A file that cannot be read (permissions, I/O) is the operator's to fix: refusing to start
  // says so. One that reads but is not a baseline (empty, truncated, another version) would
  // refuse every restart: it is moved aside for the operator and learning starts over.
  std::string text;
  if (!files::readFile(baselinePath_, text, size_t{1} << 30) && errno != EFBIG) {
    error = "cannot load the baseline " + baselinePath_ + ": " + loadError;
    return false;
  }
  metrics_.stateFileError("baseline");
  std::string moveError;
  const std::string aside = files::moveAside(baselinePath_, moveError);
  if (aside.empty()) {
    error = "cannot load the baseline " + baselinePath_ + ": " + loadError + "; " + moveError;
    return false;
  }
  baseline_.load(baselinePath_);  // no file now: empty, learning from the next event
  log::warn(
      "baseline damaged: moved aside, learning starts over (values accepted in it can be "
      "accepted again from the copy)",
      {{log::field::kPath, baselinePath_}, {"moved_to", aside}, {log::field::kError, loadError}});
  return true;
}

bool AuditRole::recoverSpool(std::string& error) {
  if (!spool_) return true;
  audit::Spool::Recovery recovered;
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
    queue_.pushRecovered(audit::Batch{std::move(p.body), "webhook", p.seq});
  }
  if (!recovered.pending.empty())
    log::info("audit webhook batches acknowledged before the stop and not judged: queued again",
              {{log::field::kPath, spool_->path()},
               {"batches", recovered.pending.size()},
               {"bytes", bytes}});
  return true;
}

bool AuditRole::start(std::string& error) {
  if (!loadBaseline(error)) return false;
  if (!recoverSpool(error)) return false;
  baselineStamp_ = files::stampOf(baselinePath_);
  // The memory only sharpens attribution and the suppression of repeats: without it the
  // detector starts empty, as on a first run.
  const audit::ObjectMemoryLoad memory = audit::loadObjectMemory(memoryPath_, detector_->objects());
  if (!memory.ok) {
    metrics_.stateFileError("memory");
    log::warn("audit memory unreadable; starting without it",
              {{log::field::kPath, memoryPath_}, {log::field::kError, memory.error}});
  } else if (memory.loaded > 0 || memory.damaged > 0) {
    log::info("audit memory loaded", {{log::field::kPath, memoryPath_},
                                      {"objects", memory.loaded},
                                      {"damaged_lines", memory.damaged}});
  }
  // Sessions reported before a restart: their keys mean something under the secret they were
  // hashed with, which is adopted now, before any key is computed. The log's dedupe journal,
  // read next, has the final word on the secret (its keys must match); if it holds another one,
  // the saved sessions are left out.
  size_t requestsDamaged = 0, requestsStale = 0;
  std::optional<audit::DedupeSecret> requestsSecret;
  std::vector<audit::DedupeKey> reported =
      requestsJournal_->load(&requestsDamaged, &requestsSecret, &requestsStale);
  if (requestsSecret) audit::setDedupeSecret(*requestsSecret);
  if (!cfg_.audit.logPath.empty()) {
    audit::LogIngestOptions lo;
    lo.file.path = cfg_.audit.logPath;
    lo.file.checkpointPath = cfg_.audit.checkpointFile.empty()
                                 ? cfg_.stateDir + "/audit-checkpoint.json"
                                 : cfg_.audit.checkpointFile;
    lo.file.maxLineBytes = cfg_.audit.maxEventBytes;
    lo.file.maxBytesPerPoll = cfg_.audit.logMaxBytesPerPoll;
    ingest_ = std::make_unique<audit::LogIngest>(lo, *pipeline_, &metrics_);
    const audit::LogIngestStart started = ingest_->start();
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
    watch_ = std::make_unique<audit::FileWatch>(cfg_.audit.logPath, [this] {
      logChanged_.store(true);
      queue_.wake();
    });
    std::string watchError;
    if (!watch_->start(watchError)) {
      watch_.reset();
      log::warn("audit log changes are not watched; polling only",
                {{log::field::kPath, cfg_.audit.logPath}, {log::field::kError, watchError}});
    }
    log::info("following the audit log",
              {{log::field::kPath, cfg_.audit.logPath}, {"watched", watch_ != nullptr}});
  }
  if (requestsSecret && audit::dedupeSecret() == *requestsSecret) {
    detector_->restoreReportedRequests(reported);
    if (!reported.empty() || requestsDamaged > 0 || requestsStale > 0)
      log::info("reported requests loaded", {{log::field::kPath, requestsJournal_->path()},
                                             {"requests", reported.size()},
                                             {"damaged", requestsDamaged},
                                             {"stale", requestsStale}});
  } else if (!reported.empty()) {
    log::warn(
        "reported requests saved under another secret than the dedupe journal's; "
        "left out (sessions open across the restart may be reported again)",
        {{log::field::kPath, requestsJournal_->path()}});
  }
  // Rewritten whole under the process's secret, which also drops what the cap evicted; from
  // now on each session is appended as it is reported, before its batch's position is
  // committed, so no kill leaves a reported session unrecorded.
  const std::vector<audit::DedupeKey> kept = detector_->reportedRequests();
  std::string journalError;
  if (!requestsJournal_->rewrite(kept, &journalError))
    log::error("cannot write the reported requests",
               {{log::field::kPath, requestsJournal_->path()}, {log::field::kError, journalError}});
  requestsJournalRecords_ = kept.size();
  // A reported session is journaled once its finding is out (logged, handed to Alertmanager),
  // not when the detector decides it: a kill -9 in between then repeats the finding after the
  // restart instead of losing it.
  detector_->setDecidedHook([this](const audit::DedupeKey& key) { decidedKeys_.push_back(key); });
  pipeline_->setAfterFindings([this] {
    if (decidedKeys_.empty()) return;
    std::string err;
    requestsJournalRecords_ += decidedKeys_.size();
    if (requestsJournalRecords_ > 2 * cfg_.audit.detections.maxTrackedRequests) {
      const std::vector<audit::DedupeKey> keys = detector_->reportedRequests();
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
  if (!cfg_.alertmanager.urls.empty()) {
    audit::AlertmanagerOptions ao;
    ao.urls = cfg_.alertmanager.urls;
    ao.caFile = cfg_.alertmanager.caFile;
    ao.bearerTokenFile = cfg_.alertmanager.bearerTokenFile;
    ao.resendInterval = millis(cfg_.alertmanager.resendIntervalSeconds);
    ao.alertLifetime = millis(cfg_.alertmanager.alertLifetimeSeconds);
    auto created = audit::AlertmanagerClient::create(
        ao,
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

std::vector<http::Route> AuditRole::routes() {
  if (!webhookEnabled(cfg_)) {
    log::warn(
        "audit webhook backend disabled: set tls.clientCAFile (--audit-client-ca) or "
        "audit.bearerTokens to authenticate the API server");
    return {};
  }
  return {receiver_->route("/audit/webhook", cfg_.audit.webhookMaxBodyBytes)};
}

void AuditRole::pollFile() {
  if (!ingest_) return;
  std::string error;
  ingest_->poll(&error, [this] { return stopping_.load(); });
  positionSaved_.store(error.empty());
  if (!error.empty())
    log::error("cannot persist the audit log position", {{log::field::kError, error}});
  logReadErrors();
}

void AuditRole::logReadErrors() {
  const uint64_t errors = ingest_->fileStats().readErrors;
  if (errors == readErrorsLogged_) return;
  const std::string& error = ingest_->lastReadError();
  const auto now = std::chrono::steady_clock::now();
  if (error == readErrorLogged_ && now - readErrorLoggedAt_ < std::chrono::minutes(1)) return;
  log::error("cannot read the audit log; it is opened again at the next poll",
             {{log::field::kPath, cfg_.audit.logPath},
              {log::field::kError, error},
              {"errors", errors - readErrorsLogged_}});
  readErrorsLogged_ = errors;
  readErrorLogged_ = error;
  readErrorLoggedAt_ = now;
}

size_t AuditRole::adoptBaselineAccepts() {
  const files::FileStamp stamp = files::stampOf(baselinePath_);
  if (stamp == baselineStamp_) return 0;
  baselineStamp_ = stamp;
  audit::Baseline fromFile;
  std::string error;
  if (!fromFile.load(baselinePath_, &error)) {
    log::warn("cannot read the baseline file for accepted values; it will be rewritten",
              {{log::field::kPath, baselinePath_}, {log::field::kError, error}});
    return 0;
  }
  const size_t adopted = baseline_.adoptAccepted(fromFile);
  if (adopted > 0)
    log::info("baseline: values accepted in the file adopted",
              {{log::field::kPath, baselinePath_}, {"values", adopted}});
  return adopted;
}

void AuditRole::saveState(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - lastSave_ < millis(cfg_.audit.stateSaveIntervalSeconds)) return;
  {
    // `kube-customs baseline accept` changes the file under us: take its values in before the
    // file is replaced, under the lock the command holds while it reads and rewrites the file.
    files::ExclusiveLock lock(baselinePath_ + ".lock");
    const bool adopted = adoptBaselineAccepts() > 0;
    if (!force && !adopted && pipeline_->events() == eventsAtLastSave_) {
      lastSave_ = now;
      return;
    }
    std::string error;
    const bool saved = baseline_.save(baselinePath_, &error);
    baselineSaved_.store(saved);
    if (!saved)
      log::error("cannot save the baseline",
                 {{log::field::kPath, baselinePath_}, {log::field::kError, error}});
    baselineStamp_ = files::stampOf(baselinePath_);
  }
  memoryWriter_->submit(audit::objectMemoryText(detector_->objects()));
  eventsAtLastSave_ = pipeline_->events();
  lastSave_ = now;
}

void AuditRole::run() {
  const auto poll = millis(cfg_.audit.pollIntervalSeconds);
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

void AuditRole::stop(std::chrono::milliseconds deadline) {
  stopping_.store(true);
  if (watch_) watch_->stop();
  queue_.close();
  if (worker_.joinable()) worker_.join();
  memoryWriter_->flush();  // the worker's last save
  if (alerts_) alerts_->stop(deadline);
}

}  // namespace kc::cmd
