#pragma once
// Decoding of Kubernetes API server audit events (audit.k8s.io/v1 and v1beta1) into a compact
// view. Accepts a single Event, an EventList, a JSON array of events, AKS diagnostic records
// (`properties.log` as a string or an object, optionally inside `{"records": [...]}`), GKE
// Cloud Audit Log entries (`protoPayload`) and EKS audit events as CloudWatch Logs delivers
// them: a subscription payload (`{"messageType": "DATA_MESSAGE", "logEvents": [{"message":
// "<event>"}]}`), the same gzipped and base64-encoded as a Lambda function receives it
// (`{"awslogs": {"data": "..."}}`), or a FilterLogEvents answer (`{"events": [...]}`). Input is
// untrusted: every document is size- and depth-capped, a bad event is counted by reason and
// skipped, and the rest of the document goes on.
//
// Thread-safety: an EventParser is not thread-safe (it owns simdjson parsers); use one per
// thread. The Event passed to the callback is a view into the parser's buffers and is valid
// only during the callback.

#include <simdjson.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "controller/events/dedupe.h"

namespace kc::audit {

// Why an event (or a whole document) was rejected. Bounded set: safe as a metric label.
enum class RejectReason : uint8_t {
  kTooLarge,            // document or event over the size cap
  kTooDeep,             // nesting over the depth cap
  kInvalidUtf8,         // not valid UTF-8
  kInvalidJson,         // syntax error, truncated line, trailing content
  kWrongType,           // a known field has the wrong JSON type
  kMissingField,        // auditID, stage or verb absent
  kUnsupportedVersion,  // apiVersion other than audit.k8s.io/v1 or v1beta1
  kNotAnEvent,          // a JSON value that is none of the accepted shapes
  kBadEncoding,         // CloudWatch Logs data (awslogs.data) that is not base64 of gzip
  kCount
};
inline constexpr size_t kRejectReasonCount = static_cast<size_t>(RejectReason::kCount);
// Stable snake_case name, e.g. "too_large", for logs and metric labels.
std::string_view rejectReasonName(RejectReason r);

// Where the event came from, as recognized from its shape.
enum class EventFormat : uint8_t { kKubernetes, kAks, kGke, kEks };

struct UserInfo {
  std::string_view username;
  std::string_view uid;
  std::vector<std::string_view> groups;
  // user.extra: the first value of each key (at most kMaxExtra keys, the first ones; values
  // that are not strings are skipped). Bound service account tokens carry
  // "authentication.kubernetes.io/pod-name", "pod-uid", "node-name" and "credential-id".
  std::vector<std::pair<std::string_view, std::string_view>> extra;
  static constexpr size_t kMaxExtra = 16;
  // The first value of extra key `key`; empty when absent.
  std::string_view extraValue(std::string_view key) const {
    for (const auto& [k, v] : extra) {
      if (k == key) return v;
    }
    return {};
  }
};

struct ObjectRef {
  std::string_view resource;
  std::string_view subresource;
  std::string_view namespace_;
  std::string_view name;
  std::string_view apiGroup;  // "" for the core group
  std::string_view apiVersion;
  std::string_view uid;
};

// Compact view of one audit event. All string_views point into the parser's buffers (or to
// static literals for values derived from GKE entries, or, for the requestURI a GKE entry lacks
// and the parser rebuilds, to a string that lives while the callback runs).
struct Event {
  EventFormat format = EventFormat::kKubernetes;
  std::string_view apiVersion;  // may be empty: events without apiVersion are accepted
  std::string_view auditID;
  std::string_view stage;  // RequestReceived, ResponseStarted, ResponseComplete, Panic
  std::string_view level;  // None, Metadata, Request, RequestResponse
  std::string_view verb;
  std::string_view requestURI;
  std::string_view userAgent;
  UserInfo user;
  bool hasImpersonatedUser = false;
  UserInfo impersonatedUser;
  std::vector<std::string_view> sourceIPs;
  bool hasObjectRef = false;
  ObjectRef objectRef;
  int responseCode = 0;  // responseStatus.code; 0 when absent
  std::vector<std::pair<std::string_view, std::string_view>> annotations;
  bool truncated = false;  // annotation audit.k8s.io/truncated == "true": bodies are absent
  std::string_view authorizationDecision;  // annotation authorization.k8s.io/decision
  std::string_view requestReceivedTimestamp;
  std::string_view stageTimestamp;  // as written; may be empty
  int64_t timeMicros = 0;           // stageTimestamp, else requestReceivedTimestamp, else timestamp
                           // (v1beta1, GKE); microseconds since the epoch; 0 when none parses
  bool hasRequestObject = false;
  bool hasResponseObject = false;
  simdjson::dom::element requestObject;   // a JSON null element when absent
  simdjson::dom::element responseObject;  // a JSON null element when absent
  std::string_view annotation(std::string_view key) const;
  // The fields that identify the request (dedupe.h).
  RequestIdentity request() const {
    return {auditID, verb, requestURI, user.username, requestReceivedTimestamp};
  }
};

struct ParserLimits {
  size_t maxDocumentBytes = 12u << 20;  // a webhook batch or one JSON line
  size_t maxEventBytes = 3u << 20;      // one event (the apiserver's own default is ~3 MiB)
  size_t maxDepth = 128;                // JSON nesting
};

// Counters of one parse call (or accumulated by the caller with +=).
struct ParseStats {
  uint64_t documents = 0;
  uint64_t events = 0;  // events delivered to the callback
  std::array<uint64_t, kRejectReasonCount> rejected{};

  uint64_t rejectedTotal() const;
  uint64_t rejectedFor(RejectReason r) const { return rejected[static_cast<size_t>(r)]; }
  ParseStats& operator+=(const ParseStats& o);
};

// Parses RFC 3339 timestamps ("2024-05-01T10:00:00.123456Z", offsets allowed) to
// microseconds since the epoch. nullopt when malformed.
std::optional<int64_t> parseRfc3339Micros(std::string_view s);

class EventParser {
 public:
  using Callback = std::function<void(const Event&)>;

  explicit EventParser(ParserLimits limits = {});

  // Parses one JSON document (one line of the log backend, or one webhook body) and calls
  // onEvent for every valid event in it, in order. Never throws on bad input.
  ParseStats parse(std::string_view document, const Callback& onEvent);

  // Same, for a buffer of JSON lines (each non-blank line one document, a line holding
  // several complete documents yields them all). Uses simdjson's batched parse_many and falls
  // back to one line at a time around bad lines. padded: the caller guarantees at least
  // simdjson::SIMDJSON_PADDING readable bytes after the buffer (FileSource batches do), so
  // no copy is made.
  ParseStats parseLines(std::string_view buffer, const Callback& onEvent, bool padded = false);

  const ParserLimits& limits() const { return limits_; }
  // Bytes of document parse() can take without allocating (it keeps no more than
  // kKeptDocumentCapacity after a document larger than that).
  size_t documentCapacity() const { return outer_.capacity(); }
  // A DOM can take many times its text, and a parser keeps what it grew to: parse() frees its
  // parser after a document over this size (a webhook batch of the API server is a few MiB at
  // most; its own cap is ParserLimits::maxDocumentBytes).
  static constexpr size_t kKeptDocumentCapacity = 4u << 20;

  // parseLines: let simdjson find the structure of the next batch on a helper thread while
  // this one decodes the current batch. Off by default: it pays only with batches of several
  // MiB per call and a second core (the thread and its parser live for one call).
  void setStage1Thread(bool on) { stream_.threaded = on; }

  // Called on each rejection counted in the ParseStats, with its reason and the text of the
  // document it is in (the line; for an item of an EventList, the whole list), which lies
  // within the buffer given to parse() or parseLines(padded) (an unpadded parseLines copies).
  // Empty (the default): nothing is called.
  using RejectHook = std::function<void(RejectReason, std::string_view document)>;
  void setRejectHook(RejectHook hook) { onReject_ = std::move(hook); }

 private:
  void reject(ParseStats& stats, RejectReason r);
  ParseStats parseLinesPadded(std::string_view buffer, const Callback& onEvent);
  ParseStats parseLinesOneByOne(std::string_view buffer, const Callback& onEvent);
  void visitDocument(simdjson::dom::element root, std::string_view doc, ParseStats& stats,
                     const Callback& onEvent);
  void visitValue(simdjson::dom::element v, size_t approxBytes, EventFormat format,
                  bool allowWrappers, ParseStats& stats, const Callback& onEvent);
  // An event held as a JSON string (AKS `properties.log`, a CloudWatch log event's `message`).
  void visitEmbedded(std::string_view text, EventFormat format, ParseStats& stats,
                     const Callback& onEvent);
  // CloudWatch Logs: the log events of a subscription payload or a FilterLogEvents answer.
  void visitLogEvents(simdjson::dom::element logEvents, ParseStats& stats, const Callback& onEvent);
  // `awslogs.data`: base64 of a gzipped subscription payload.
  void visitAwsLogs(simdjson::dom::element awslogs, ParseStats& stats, const Callback& onEvent);
  void decodeGke(simdjson::dom::object entry, simdjson::dom::element proto, ParseStats& stats,
                 const Callback& onEvent);

  ParserLimits limits_;
  simdjson::dom::parser outer_;
  simdjson::dom::parser inner_;    // AKS `properties.log`, CloudWatch `message` strings
  simdjson::dom::parser decoded_;  // a CloudWatch payload decoded from `awslogs.data`
  std::string decodedText_;
  simdjson::dom::parser stream_;  // parse_many over JSON lines
  std::string padded_;            // copy of unpadded input for parse_many
  Event event_;                   // reused to keep vector capacity
  RejectHook onReject_;
  std::string_view document_;  // the document being read, for onReject_
};

}  // namespace kc::audit
