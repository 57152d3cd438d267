#include "controller/state_dir.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <utility>

#include "controller/events/reported_requests.h"
#include "controller/ingest/log_ingest.h"

namespace kc::audit {

StatePaths StatePaths::under(const std::string& dir) {
  StatePaths p;
  p.checkpoint = dir + "/audit-checkpoint.json";
  p.baseline = dir + "/baseline.json";
  p.memory = dir + "/audit-memory.jsonl";
  p.spool = dir + "/audit-webhook.spool";
  return p;
}

std::string StatePaths::baselineLock() const { return baseline.empty() ? "" : baseline + ".lock"; }

std::string StatePaths::logJournal() const {
  return checkpoint.empty() ? "" : LogIngest::journalPathFor(checkpoint);
}

std::string StatePaths::reportedRequests() const {
  return memory.empty() ? "" : reportedRequestsJournalPathFor(memory);
}

std::string StatePaths::reportedRequestsOld() const {
  return memory.empty() ? "" : reportedRequestsPathFor(memory);
}

bool prepareStateDir(const std::string& dir, std::string& error) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) return true;
  if (!std::filesystem::create_directories(dir, ec) && ec) {
    error = "cannot create the state directory " + dir + ": " + ec.message();
    return false;
  }
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  return true;
}

StateDir::StateDir(StatePaths paths) : paths_(std::move(paths)) {}

DedupeSecret StateDir::adoptSecret(const ReportedRequestsState& requests) const {
  if (!paths_.checkpoint.empty()) {
    std::optional<DedupeSecret> logSecret;
    DedupeJournal(paths_.logJournal(), DedupeSecret::processDefault()).load(nullptr, &logSecret);
    if (logSecret) return *logSecret;
  }
  if (requests.secret) return *requests.secret;
  return DedupeSecret::random();
}

StateDir::BaselineLoad StateDir::loadBaseline(Baseline& baseline, bool moveAsideDamaged) {
  BaselineLoad r;
  if (paths_.baseline.empty()) {
    r.ok = true;
    return r;
  }
  std::string loadError;
  if (baseline.load(paths_.baseline, &loadError)) {
    baselineStamp_ = files::stampOf(paths_.baseline);
    r.ok = true;
    return r;
  }
  // A file that cannot be read (permissions, I/O) is the operator's to fix: refusing to start
  // says so. One that reads but is not a baseline (empty, truncated, another version) would
  // refuse every restart: it is moved aside for the operator and learning starts over.
  std::string text;
  if (!moveAsideDamaged ||
      (!files::readFile(paths_.baseline, text, size_t{1} << 30) && errno != EFBIG)) {
    r.error = moveAsideDamaged ? "cannot load the baseline " + paths_.baseline + ": " + loadError
                               : loadError;
    return r;
  }
  r.damaged = true;
  std::string moveError;
  r.movedTo = files::moveAside(paths_.baseline, moveError);
  if (r.movedTo.empty()) {
    r.error = "cannot load the baseline " + paths_.baseline + ": " + loadError + "; " + moveError;
    return r;
  }
  baseline.load(paths_.baseline);  // no file now: empty, learning from the next event
  baselineStamp_ = files::stampOf(paths_.baseline);
  r.ok = true;
  r.error = loadError;
  return r;
}

StateDir::BaselineSave StateDir::saveBaseline(Baseline& baseline, bool changed) {
  BaselineSave r;
  if (paths_.baseline.empty()) return r;
  // `kube-customs baseline accept` changes the file under us: take its values in before the
  // file is replaced, under the lock the command holds while it reads and rewrites the file.
  files::ExclusiveLock lock(paths_.baselineLock());
  if (!lock.locked()) {
    r.ok = false;
    r.wrote = true;
    r.error = "cannot lock " + lock.error();
    return r;
  }
  const files::FileStamp stamp = files::stampOf(paths_.baseline);
  if (!(stamp == baselineStamp_)) {
    baselineStamp_ = stamp;
    Baseline fromFile;
    std::string error;
    if (fromFile.load(paths_.baseline, &error))
      r.adopted = baseline.adoptAccepted(fromFile);
    else
      r.adoptError = error;
  }
  if (!changed && r.adopted == 0) return r;
  r.wrote = true;
  r.ok = baseline.save(paths_.baseline, &r.error);
  baselineStamp_ = files::stampOf(paths_.baseline);
  return r;
}

ObjectMemoryLoad StateDir::loadMemory(ObjectTracker& tracker) const {
  if (paths_.memory.empty()) {
    ObjectMemoryLoad r;
    r.ok = true;
    return r;
  }
  return loadObjectMemory(paths_.memory, tracker);
}

bool StateDir::saveMemory(const ObjectTracker& tracker, std::string* error) const {
  return paths_.memory.empty() || saveObjectMemory(tracker, paths_.memory, error);
}

ReportedRequestsState StateDir::loadReportedRequests() const {
  ReportedRequestsState r;
  if (paths_.memory.empty()) return r;
  const std::string journal = paths_.reportedRequests();
  std::error_code ec;
  if (std::filesystem::exists(journal, ec) ||
      !std::filesystem::exists(paths_.reportedRequestsOld(), ec)) {
    r.found = std::filesystem::exists(journal, ec);
    r.keys = DedupeJournal(journal, DedupeSecret::processDefault())
                 .load(&r.damaged, &r.secret, &r.stale);
    return r;
  }
  // The format replay wrote before the journal: read once, replaced by the journal at the
  // next save. The cap is the journal's: what the detector cannot hold it drops, oldest first.
  const ReportedRequestsLoad old =
      audit::loadReportedRequests(paths_.reportedRequestsOld(), size_t{1} << 24);
  r.found = old.found;
  r.oldFormat = true;
  r.ok = old.ok;
  r.error = old.error;
  r.damaged = old.damaged;
  if (old.ok) {
    r.secret = old.secret;
    r.keys = old.keys;
  }
  return r;
}

std::unique_ptr<DedupeJournal> StateDir::reportedRequestsJournal(const DedupeSecret& secret) const {
  if (paths_.memory.empty()) return nullptr;
  return std::make_unique<DedupeJournal>(paths_.reportedRequests(), secret);
}

bool StateDir::saveReportedRequests(const DedupeSecret& secret, const std::vector<DedupeKey>& keys,
                                    std::string* error) const {
  if (paths_.memory.empty()) return true;
  if (!DedupeJournal(paths_.reportedRequests(), secret).rewrite(keys, error)) return false;
  const std::string old = paths_.reportedRequestsOld();
  if (std::remove(old.c_str()) != 0 && errno != ENOENT) {
    if (error) *error = "cannot remove " + old + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace kc::audit
