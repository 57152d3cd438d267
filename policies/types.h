#pragma once
// Inputs and outputs of the policy engine. The engine does no I/O: callers (the admission
// webhook, the audit consumer, the `check` CLI) build an EvalInput from what they decoded and
// format the Verdict for their own door. Values are views into the caller's buffers and must
// outlive the evaluation. Thread-safe: plain data.

#include <simdjson.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace kc::policy {

// A JSON null that lives for the whole process. A default-constructed simdjson element is not
// a valid value (reading it crashes), so absent objects are this instead.
inline simdjson::dom::element nullElement() {
  static simdjson::dom::parser* parser = new simdjson::dom::parser();  // never freed: shared
  static const simdjson::dom::element kNull = [] {
    simdjson::dom::element e;
    const auto err = parser->parse("null", 4).get(e);
    (void)err;
    return e;
  }();
  return kNull;
}

// The kind of the options object the API server sends with a CONNECT on a pod subresource
// ("exec" -> PodExecOptions, "attach" -> PodAttachOptions, else PodPortForwardOptions).
inline std::string_view podSessionOptionsKind(std::string_view subresource) {
  return subresource == "exec"     ? "PodExecOptions"
         : subresource == "attach" ? "PodAttachOptions"
                                   : "PodPortForwardOptions";
}

// What a session on a pod subresource is, for messages: "exec into pod", "attach to pod",
// "port-forward to pod".
inline std::string_view podSessionPhrase(std::string_view subresource) {
  return subresource == "exec"     ? "exec into pod"
         : subresource == "attach" ? "attach to pod"
                                   : "port-forward to pod";
}

// How a policy acts on a violation.
enum class Mode { kEnforce, kWarn, kAudit };
std::string_view modeName(Mode m);

struct UserRef {
  std::string_view username;
  std::vector<std::string_view> groups;
};

// One object to judge, as the API server (or an audit event) presents it.
struct PodModel;  // policies/pod_spec.h

// A point past which the caller wants an evaluation stopped. The engine reads no clock of its
// own: it asks the caller's `clock`, at the first look and then once per `workPerLook` units of
// work (a unit: one container judged by one rule), so an ordinary review costs one clock read
// and a pathological one a read every few milliseconds of judging. No clock: no deadline.
struct Deadline {
  using Clock = std::chrono::steady_clock;
  Clock::time_point at = Clock::time_point::max();
  Clock::time_point (*clock)() = nullptr;
  std::size_t workPerLook = 4096;
};

// One evaluation's looks at its Deadline. The engine counts the work it does (add) and asks at
// the points where it can stop: before each policy, between a policy's rule groups, every
// kDeadlineStride containers inside the image rules. Once passed, it stays passed. Not
// thread-safe: one per evaluation.
class DeadlineCheck {
 public:
  explicit DeadlineCheck(const Deadline& d) : deadline_(d) {}
  void add(std::size_t units) { work_ += units; }
  bool passed() {
    if (deadline_.clock == nullptr) return false;
    if (passed_) return true;
    if (looked_ && work_ < deadline_.workPerLook) return false;
    looked_ = true;
    work_ = 0;
    passed_ = deadline_.clock() >= deadline_.at;
    return passed_;
  }

 private:
  const Deadline& deadline_;
  std::size_t work_ = 0;
  bool looked_ = false;
  bool passed_ = false;
};

// Containers judged between two looks at the deadline inside one rule.
inline constexpr std::size_t kDeadlineStride = 64;

struct EvalInput {
  std::string_view operation;    // CREATE, UPDATE, DELETE, CONNECT
  std::string_view group;        // kind's group ("" for core, "apps", "batch")
  std::string_view version;      // kind's version ("v1")
  std::string_view kind;         // Pod, Deployment, ...
  std::string_view subResource;  // "", "ephemeralcontainers", "exec", ...
  std::string_view namespace_;
  std::string_view name;
  UserRef user;
  simdjson::dom::element object = nullElement();     // null when absent
  simdjson::dom::element oldObject = nullElement();  // null when absent
  // Optional: the model of `object` when the caller has already extracted it
  // (extractPod(object, kind) == kOk); saves extracting it again.
  const PodModel* pod = nullptr;
  // Leave out policies whose mode for this object is warn (a caller that drops warnings, such
  // as the audit door by default, saves evaluating them and composing their messages).
  bool skipWarnMode = false;
  bool dryRun = false;
  // Evaluation time, for exception expiry. The engine never reads the clock itself.
  std::chrono::sys_seconds now{};
  // Past it the evaluation stops and the verdict says so (Verdict::deadlineExceeded).
  Deadline deadline;
};

// One finding of one rule against one object. The same record feeds deny messages, warnings,
// audit annotations, audit findings and the CLI's JSON output.
struct Violation {
  std::string policy;     // policy document name, e.g. "pod-security"
  std::string rule;       // stable rule id, e.g. "pss.allowPrivilegeEscalation"
  std::string container;  // container name, empty when pod-level or several containers
  std::string field;      // JSON path of the offending field, e.g. "spec.containers[0].image"
  std::string message;    // human text, e.g. PSA's "allowPrivilegeEscalation != false (...)"
  Mode mode = Mode::kEnforce;
  std::vector<std::string> containers;  // every container the violation names (Pod Security)
};

struct Verdict {
  bool allowed = true;
  std::string message;  // deny message when !allowed, formatted for people
  std::vector<std::string> warnings;
  std::map<std::string, std::string> auditAnnotations;
  std::vector<Violation> violations;  // every violation, whatever its mode
  // The evaluation stopped at EvalInput::deadline before every policy had judged the object:
  // the violations, message and warnings are those found until then. A verdict that already
  // denies would deny with more time too; one that allows means nothing.
  bool deadlineExceeded = false;
};

}  // namespace kc::policy
