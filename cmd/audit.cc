// `kube-customs audit replay` and `kube-customs baseline show|accept`: the audit door offline,
// with the same pipeline and detections as the running audit role.

#include <sched.h>

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string_view>
#include <vector>

#include "cmd/audit_role.h"
#include "cmd/commands.h"
#include "cmd/flags.h"
#include "cmd/output.h"
#include "common/files.h"
#include "common/log.h"
#include "controller/audit_service.h"
#include "policies/store/policy_store.h"

namespace kc::cmd {
namespace {

constexpr const char* kReplayUsage =
    "usage: kube-customs audit replay FILE|- [-o text|json] [--policies DIR | --no-policies]\n"
    "                                 [--baseline FILE [--update-baseline]]\n"
    "                                 [--learning-period-hours H] [--memory FILE]\n"
    "                                 [--config FILE] [--explain-rejected]\n"
    "Runs the audit detections over audit events (JSON lines as the log backend writes them,\n"
    "or EventList / array documents) and prints one finding per line. The admission policies\n"
    "are re-applied (built-in defaults unless --policies or --no-policies); the baseline rules\n"
    "run only with --baseline. --memory FILE carries the detector's memory of workloads (who\n"
    "is behind each, what was already reported for it) and the sessions already reported\n"
    "(beside it, FILE without .jsonl plus .requests.journal) from one replay to the next: loaded\n"
    "before, saved after. --config FILE takes the detection tuning (audit.detections), the\n"
    "learning period and the policy directory of a serve configuration file (the flags win).\n"
    "A summary goes to stderr: events, findings, duplicates, rejected, and the rejected by\n"
    "reason. --explain-rejected also prints, to stderr, the line number and reason of each\n"
    "rejection (the first 1000; then how many more).\n";

// --explain-rejected lists at most this many rejections, then counts the rest.
constexpr uint64_t kMaxExplained = 1000;

constexpr const char* kBaselineUsage =
    "usage: kube-customs baseline show --file FILE\n"
    "       kube-customs baseline accept --file FILE --finding JSON\n"
    "       kube-customs baseline accept --file FILE --namespace NS --kind KIND\n"
    "                                    --dimension creator|image-source|user-agent --value V\n";

int runReplay(const std::vector<std::string>& args) {
  Flags flags({"o", "output", "policies", "baseline", "learning-period-hours", "memory", "config"},
              {"help", "no-policies", "update-baseline", "explain-rejected"});
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
    policy::PolicyStore store(flags.get("policies").value_or(cfg.policies.dir), {});
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
  audit::AuditServiceOptions options;
  options.detector = detectorOptionsFrom(cfg);
  options.detector.policies = [policies] { return policies; };
  options.learningPeriodMicros = static_cast<int64_t>(learningHours * 3600 * 1e6);
  options.strictState = true;
  const auto baselineFile = flags.get("baseline");
  const auto memoryFile = flags.get("memory");
  // The baseline rules run only with --baseline; --memory carries the memory and, beside it,
  // the sessions already reported, from one replay to the next.
  if (baselineFile) options.state.baseline = *baselineFile;
  if (memoryFile) options.state.memory = *memoryFile;
  // Replay hands the parser big chunks: simdjson's stage 1 of the next batch can run on another
  // CPU, when the process may use one (on one CPU the helper only takes turns with this thread).
  cpu_set_t cpus;
  options.pipeline.stage1Thread =
      sched_getaffinity(0, sizeof cpus, &cpus) != 0 || CPU_COUNT(&cpus) > 1;
  const bool json = output == "json";
  // JSON lines are serialized directly (the same bytes as toJson(f).dump()) and written in
  // blocks.
  std::string jsonOut;
  auto flushJson = [&jsonOut] {
    std::cout.write(jsonOut.data(), static_cast<std::streamsize>(jsonOut.size()));
    noteStdoutWrite();
    jsonOut.clear();
  };
  options.onFinding = [json, &jsonOut, &flushJson](const audit::Finding& f) {
    if (json) {
      audit::appendJson(jsonOut, f);
      jsonOut.push_back('\n');
      if (jsonOut.size() >= (64u << 10)) flushJson();
    } else {
      std::cout << audit::severityName(f.severity) << "\t" << f.rule << "\t" << f.namespace_ << "/"
                << f.name << "\t" << f.user << "\t" << f.summary << "\n";
      noteStdoutWrite();
    }
  };
  prometheus::Registry registry;
  audit::AuditService service(std::move(options), registry);
  if (!service.open(error)) {
    std::cerr << "kube-customs audit replay: " << error << "\n";
    return 2;
  }
  if (service.memoryDamaged() > 0)
    std::cerr << "kube-customs audit replay: " << *memoryFile << ": " << service.memoryDamaged()
              << " damaged line(s) skipped\n";
  const std::string path = flags.positional()[0];
  std::FILE* in = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (in == nullptr) {
    std::cerr << "kube-customs audit replay: cannot open " << path << "\n";
    return 2;
  }
  // Each rejection, as the parser meets it.
  uint64_t explained = 0;
  audit::AuditService::RejectedLine explain;
  if (flags.has("explain-rejected")) {
    explain = [&explained](uint64_t line, std::string_view reason) {
      if (explained++ < kMaxExplained)
        std::cerr << "rejected line " << line << ": " << reason << "\n";
    };
  }
  const audit::AuditService::ReplayResult r = service.replay(in, flushJson, explain);
  if (!r.ok && !r.error.empty())
    std::cerr << "kube-customs audit replay: " << path << ": " << r.error << "\n";
  const uint64_t tooLong = r.tooLong;
  const bool ok = r.ok;
  if (in != stdin) std::fclose(in);
  flushJson();
  const audit::AuditPipeline& pipeline = service.pipeline();
  const auto& s = pipeline.parseStats();
  std::cerr << "replayed " << pipeline.events() << " events: " << pipeline.findings()
            << " findings, " << pipeline.duplicates() << " duplicates, "
            << s.rejectedTotal() + tooLong << " rejected\n";
  // Why, so that a file that produced nothing says what was wrong with it.
  if (s.rejectedTotal() + tooLong > 0) {
    std::cerr << "rejected by reason:";
    const char* sep = " ";
    for (std::size_t i = 0; i < audit::kRejectReasonCount; ++i) {
      const auto reason = static_cast<audit::RejectReason>(i);
      const uint64_t n =
          s.rejectedFor(reason) + (reason == audit::RejectReason::kTooLarge ? tooLong : 0);
      if (n == 0) continue;
      std::cerr << sep << audit::rejectReasonName(reason) << " " << n;
      sep = ", ";
    }
    std::cerr << "\n";
  }
  if (explained > kMaxExplained)
    std::cerr << "rejected lines not listed: " << explained - kMaxExplained
              << " (--explain-rejected lists the first " << kMaxExplained << ")\n";
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
  const bool updateBaseline = baselineFile && flags.has("update-baseline");
  if (!stdoutWritten("audit replay")) {
    if (memoryFile || updateBaseline)
      std::cerr << "kube-customs audit replay: the state files were left unchanged\n";
    return 1;
  }
  if (!service.saveAtEnd(updateBaseline, error)) {
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
    audit::StatePaths paths;
    paths.baseline = file;
    lock.emplace(paths.baselineLock());
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
