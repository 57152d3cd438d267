// `kube-customs audit replay` and `kube-customs baseline show|accept`: the audit door offline,
// with the same pipeline and detections as the running audit role.

#include <sched.h>
#include <simdjson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "cmd/audit_role.h"
#include "cmd/commands.h"
#include "cmd/flags.h"
#include "cmd/output.h"
#include "common/files.h"
#include "common/log.h"
#include "controller/mapped_lines.h"
#include "controller/object_memory.h"
#include "controller/pipeline.h"
#include "controller/reported_requests.h"
#include "webhook/policy_store.h"

namespace kc::cmd {
namespace {

constexpr const char* kReplayUsage =
    "usage: kube-customs audit replay FILE|- [-o text|json] [--policies DIR | --no-policies]\n"
    "                                 [--baseline FILE [--update-baseline]]\n"
    "                                 [--learning-period-hours H] [--memory FILE]\n"
    "                                 [--config FILE]\n"
    "Runs the audit detections over audit events (JSON lines as the log backend writes them,\n"
    "or EventList / array documents) and prints one finding per line. The admission policies\n"
    "are re-applied (built-in defaults unless --policies or --no-policies); the baseline rules\n"
    "run only with --baseline. --memory FILE carries the detector's memory of workloads (who\n"
    "is behind each, what was already reported for it) and the sessions already reported\n"
    "(beside it, FILE without .jsonl plus .requests.json) from one replay to the next: loaded\n"
    "before, saved after. --config FILE takes the detection tuning (audit.detections), the\n"
    "learning period and the policy directory of a serve configuration file (the flags win).\n";

constexpr const char* kBaselineUsage =
    "usage: kube-customs baseline show --file FILE\n"
    "       kube-customs baseline accept --file FILE --finding JSON\n"
    "       kube-customs baseline accept --file FILE --namespace NS --kind KIND\n"
    "                                    --dimension creator|image-source|user-agent --value V\n";

// Feeds a stream that cannot be mapped (stdin, a pipe; regular files go through
// readMappedLines) to the pipeline in chunks of whole lines; a line longer than `maxLine` is
// skipped to its newline and counted as dropped. A reader thread fills buffers that keep
// simdjson's padding after the text (so the parser copies nothing) while this thread parses
// and runs the detections on the previous one; only the partial last line of a chunk is
// copied, to the front of the next buffer. At most kBuffers chunks exist at any time.
// `flush` runs after each chunk (output written while the input is still read).
bool replayStream(std::FILE* in, audit::AuditPipeline& pipeline, audit::AuditMetrics& metrics,
                  std::size_t maxLine, uint64_t& tooLong, const std::function<void()>& flush) {
  constexpr std::size_t kChunk = 4u << 20;
  constexpr std::size_t kPadding = simdjson::SIMDJSON_PADDING;
  constexpr std::size_t kBuffers = 3;
  struct Chunk {
    std::vector<char> buf;
    std::size_t len = 0;  // whole lines (or, last, the unterminated tail of the input)
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
          metrics.dropped("replay", "too_large");
          len = 0;
          skipping = true;
        }
        if (c.buf.size() < len + kChunk + kPadding) c.buf.resize(len + kChunk + kPadding);
      }
      if (eof && skipping) len = 0;  // the over-long last line ends with the input
      c.len = len;
      std::lock_guard lk(mu);
      (len > 0 ? full : empty).push_back(std::move(c));
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
    // Everything after the text, the padding included, is readable.
    pipeline.processLines(std::string_view(c.buf.data(), c.len), "replay", true);
    flush();
    std::lock_guard lk(mu);
    empty.push_back(std::move(c));
    cv.notify_all();
  }
  std::lock_guard lk(mu);
  return !readError;
}

int runReplay(const std::vector<std::string>& args) {
  Flags flags({"o", "output", "policies", "baseline", "learning-period-hours", "memory", "config"},
              {"help", "no-policies", "update-baseline"});
  std::string error;
  const bool parsed = flags.parse(args, error);
  if (parsed && flags.has("help")) {
    std::cout << kReplayUsage;
    return 0;
  }
  if (!parsed || flags.positional().size() != 1) {
    std::cerr << "kube-customs audit replay: " << (error.empty() ? "need one FILE or -" : error)
              << "\n"
              << kReplayUsage;
    return 2;
  }
  const std::string output = flags.get("o").value_or(flags.get("output").value_or("text"));
  if (output != "text" && output != "json") {
    std::cerr << kReplayUsage;
    return 2;
  }
  // The tuning of a serve configuration file, so that replay judges as the role does.
  Config cfg;
  if (auto file = flags.get("config")) {
    std::string text;
    if (!files::readFile(*file, text)) {
      std::cerr << "kube-customs audit replay: cannot read config file " << files::readError(*file)
                << "\n";
      return 2;
    }
    std::vector<ConfigError> errors = applyConfigYaml(text, cfg);
    if (errors.empty()) errors = validateConfig(cfg);
    for (const auto& e : errors)
      std::cerr << "kube-customs audit replay: " << e.toString(*file) << "\n";
    if (!errors.empty()) return 2;
  }
  std::shared_ptr<const policy::PolicySet> policies = policy::PolicySet::empty();
  if (!flags.has("no-policies")) {
    webhook::PolicyStore store(flags.get("policies").value_or(cfg.policies.dir), {});
    log::setLevel(log::Level::kError);
    if (!store.reload()) {
      for (const auto& e : store.lastErrors())
        std::cerr << "kube-customs audit replay: " << e.toString() << "\n";
      return 2;
    }
    policies = store.current();
  }
  log::setLevel(log::Level::kError);
  double learningHours = cfg.audit.learningPeriodHours;
  if (auto h = flags.get("learning-period-hours")) {
    try {
      learningHours = std::stod(*h);
    } catch (...) {
      learningHours = -1;
    }
    if (learningHours < 0) {
      std::cerr << "kube-customs audit replay: --learning-period-hours needs a number >= 0\n";
      return 2;
    }
  }
  audit::Baseline baseline(
      audit::BaselineOptions{static_cast<int64_t>(learningHours * 3600 * 1e6)});
  const auto baselineFile = flags.get("baseline");
  if (baselineFile && !baseline.load(*baselineFile, &error)) {
    std::cerr << "kube-customs audit replay: " << error << "\n";
    return 2;
  }
  audit::DetectorOptions dopts = detectorOptionsFrom(cfg);
  dopts.policies = [policies] { return policies; };
  dopts.baseline = baselineFile ? &baseline : nullptr;
  audit::Detector detector(std::move(dopts));
  const auto memoryFile = flags.get("memory");
  if (memoryFile) {
    const audit::ObjectMemoryLoad m = audit::loadObjectMemory(*memoryFile, detector.objects());
    if (!m.ok) {
      std::cerr << "kube-customs audit replay: " << m.error << "\n";
      return 2;
    }
    if (m.damaged > 0)
      std::cerr << "kube-customs audit replay: " << *memoryFile << ": " << m.damaged
                << " damaged line(s) skipped\n";
    // The sessions reported by the previous replay, under the secret they were hashed with.
    const std::string requestsFile = audit::reportedRequestsPathFor(*memoryFile);
    const audit::ReportedRequestsLoad r =
        audit::loadReportedRequests(requestsFile, cfg.audit.detections.maxTrackedRequests);
    if (!r.ok) {
      std::cerr << "kube-customs audit replay: " << requestsFile << ": " << r.error << "\n";
      return 2;
    }
    if (r.found) {
      audit::setDedupeSecret(r.secret);
      detector.restoreReportedRequests(r.keys);
    }
  }
  prometheus::Registry registry;
  audit::AuditMetrics metrics(registry);
  const bool json = output == "json";
  // JSON lines are serialized directly (the same bytes as toJson(f).dump()) and written in
  // blocks.
  std::string jsonOut;
  auto flushJson = [&jsonOut] {
    std::cout.write(jsonOut.data(), static_cast<std::streamsize>(jsonOut.size()));
    noteStdoutWrite();
    jsonOut.clear();
  };
  audit::PipelineOptions popts;
  // Replay hands the parser big chunks: simdjson's stage 1 of the next batch can run on another
  // CPU, when the process may use one (on one CPU the helper only takes turns with this thread).
  cpu_set_t cpus;
  popts.stage1Thread = sched_getaffinity(0, sizeof cpus, &cpus) != 0 || CPU_COUNT(&cpus) > 1;
  audit::AuditPipeline pipeline(
      popts, detector, &metrics, [json, &jsonOut, &flushJson](const audit::Finding& f) {
        if (json) {
          audit::appendJson(jsonOut, f);
          jsonOut.push_back('\n');
          if (jsonOut.size() >= (64u << 10)) flushJson();
        } else {
          std::cout << audit::severityName(f.severity) << "\t" << f.rule << "\t" << f.namespace_
                    << "/" << f.name << "\t" << f.user << "\t" << f.summary << "\n";
          noteStdoutWrite();
        }
      });
  const std::string path = flags.positional()[0];
  std::FILE* in = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (in == nullptr) {
    std::cerr << "kube-customs audit replay: cannot open " << path << "\n";
    return 2;
  }
  uint64_t tooLong = 0;
  bool ok;
  struct stat st {};
  if (in != stdin && fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode)) {
    // A regular file is parsed where the page cache holds it (no copy, no reader thread).
    const audit::MappedReadResult r = audit::readMappedLines(
        fileno(in), static_cast<uint64_t>(st.st_size), [&](std::string_view chunk) {
          pipeline.processLines(chunk, "replay", /*padded=*/true);
          flushJson();
        });
    tooLong = r.tooLong;
    if (r.tooLong > 0) metrics.dropped("replay", "too_large", static_cast<double>(r.tooLong));
    if (!r.ok) std::cerr << "kube-customs audit replay: " << path << ": " << r.error << "\n";
    ok = r.ok;
  } else {
    ok = replayStream(in, pipeline, metrics, audit::ParserLimits{}.maxDocumentBytes, tooLong,
                      flushJson);
  }
  if (in != stdin) std::fclose(in);
  flushJson();
  const auto& s = pipeline.parseStats();
  std::cerr << "replayed " << pipeline.events() << " events: " << pipeline.findings()
            << " findings, " << pipeline.duplicates() << " duplicates, "
            << s.rejectedTotal() + tooLong << " rejected\n";
  // What is over a size cap is skipped whole: every event of an EventList over the document
  // cap went unjudged, which must not pass for a clean replay.
  const uint64_t tooLarge = s.rejectedFor(audit::RejectReason::kTooLarge) + tooLong;
  if (tooLarge > 0)
    std::cerr << "kube-customs audit replay: " << tooLarge
              << " document(s) or event(s) over the size caps ("
              << (audit::ParserLimits{}.maxDocumentBytes >> 20) << " MiB a document, "
              << (audit::ParserLimits{}.maxEventBytes >> 20)
              << " MiB an event) skipped, their events not judged; an EventList over the "
                 "document cap can be replayed as JSON lines of its items: jq -c '.items[]' "
                 "FILE | kube-customs audit replay -\n";
  // Findings that were not printed must not be recorded as reported (the memory) or as
  // flagged (the baseline): the state files stay as they were, so that a replay with a
  // working output reports them.
  if (!stdoutWritten("audit replay")) {
    if (memoryFile || (baselineFile && flags.has("update-baseline")))
      std::cerr << "kube-customs audit replay: the state files were left unchanged\n";
    return 1;
  }
  if (baselineFile && flags.has("update-baseline") && !baseline.save(*baselineFile, &error)) {
    std::cerr << "kube-customs audit replay: " << error << "\n";
    return 1;
  }
  if (memoryFile && !audit::saveObjectMemory(detector.objects(), *memoryFile, &error)) {
    std::cerr << "kube-customs audit replay: " << error << "\n";
    return 1;
  }
  if (memoryFile && !files::writeFileAtomic(audit::reportedRequestsPathFor(*memoryFile),
                                            audit::reportedRequestsText(
                                                audit::dedupeSecret(), detector.reportedRequests()),
                                            0600, error)) {
    std::cerr << "kube-customs audit replay: " << error << "\n";
    return 1;
  }
  return ok && tooLarge == 0 ? 0 : 1;
}

int runBaseline(const std::vector<std::string>& args) {
  if (args.empty() || (args[0] != "show" && args[0] != "accept")) {
    std::cerr << kBaselineUsage;
    return 2;
  }
  Flags flags({"file", "finding", "namespace", "kind", "dimension", "value"}, {"help"});
  std::string error;
  if (!flags.parse({args.begin() + 1, args.end()}, error) || !flags.get("file")) {
    std::cerr << "kube-customs baseline: " << (error.empty() ? "--file is required" : error) << "\n"
              << kBaselineUsage;
    return 2;
  }
  const std::string file = *flags.get("file");
  // A running audit role takes the same lock to adopt accepts before it rewrites the file.
  std::optional<files::ExclusiveLock> lock;
  if (args[0] == "accept") {
    lock.emplace(file + ".lock");
    if (!lock->locked()) {
      std::cerr << "kube-customs baseline: cannot lock " << lock->error() << "\n";
      return 1;
    }
  }
  // The file's own learning period, kept as it is when the file is rewritten.
  audit::BaselineOptions options;
  options.learningFromFile = true;
  audit::Baseline baseline(options);
  if (!baseline.load(file, &error)) {
    std::cerr << "kube-customs baseline: " << error << "\n";
    return 2;
  }
  if (args[0] == "show") {
    std::cout << baseline.show().dump(2) << "\n";
    return stdoutWritten("baseline") ? 0 : 1;
  }
  bool ok;
  if (auto finding = flags.get("finding")) {
    nlohmann::json j = nlohmann::json::parse(*finding, nullptr, false);
    if (j.is_discarded()) {
      std::cerr << "kube-customs baseline: --finding is not valid JSON\n";
      return 2;
    }
    ok = baseline.acceptFinding(j, &error);
  } else {
    audit::BaselineDimension dim;
    if (!flags.get("namespace") || !flags.get("kind") || !flags.get("value") ||
        !audit::parseDimension(flags.get("dimension").value_or(""), dim)) {
      std::cerr << kBaselineUsage;
      return 2;
    }
    ok = baseline.accept(*flags.get("namespace"), *flags.get("kind"), dim, *flags.get("value"),
                         &error);
  }
  if (!ok) {
    std::cerr << "kube-customs baseline: " << error << "\n";
    return 1;
  }
  if (!baseline.save(file, &error)) {
    std::cerr << "kube-customs baseline: " << error << "\n";
    return 1;
  }
  std::cerr << "accepted into " << file
            << " (a running audit role adopts it at its next state save)\n";
  return 0;
}

}  // namespace

int runAudit(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "replay") {
    std::cerr << kReplayUsage;
    return 2;
  }
  return runReplay({args.begin() + 1, args.end()});
}

int runBaselineCommand(const std::vector<std::string>& args) { return runBaseline(args); }

}  // namespace kc::cmd
