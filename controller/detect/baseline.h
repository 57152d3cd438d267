#pragma once
// The learned baseline of creations: per (namespace, kind), which identities create objects,
// from which image sources (registry/repository) and with which user agents (normalized to the
// client's name, e.g. "kubectl"). During the learning period (counted from the first observed
// event's time, never from the clock) everything is learned silently; afterwards each value not
// seen before for its key is reported once as a novelty and remembered as "flagged" until an
// operator accepts it. Persisted as JSON (atomic replace) and reloaded at start.
//
// Bounded: at most maxValuesPerDimension values per key and dimension, and maxKeys keys. When a
// bound is hit, new values are still reported after learning but no longer remembered (so they
// keep being reported: a full baseline fails loud, not silent); `saturated()` counts them.
//
// Thread-safety: every public method is safe to call concurrently (one internal mutex), so the
// CLI or an HTTP handler can show or accept while the pipeline observes.

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kc::audit {

struct BaselineOptions {
  int64_t learningMicros = 7LL * 24 * 3600 * 1'000'000;  // a week covers weekly release cycles
  size_t maxValuesPerDimension = 256;
  size_t maxKeys = 20'000;
  // load() and fromJson() take the learning period stored with the baseline instead of
  // learningMicros: for tools that show or edit the file (the audit role's own comes from its
  // configuration).
  bool learningFromFile = false;
};

// The dimensions a baseline learns, with their stable names ("creator", "image-source",
// "user-agent") and the finding rule each novelty becomes.
enum class BaselineDimension { kCreator, kImageSource, kUserAgent };
std::string_view dimensionName(BaselineDimension d);
std::string_view dimensionRule(BaselineDimension d);  // "unexpected-creator", ...
// A dimension's name or rule id; "unexpected-namespace-creator" is the creator of namespaces
// (namespace "", kind "Namespace").
bool parseDimension(std::string_view text, BaselineDimension& out);

// "kubectl/v1.30.1 (linux/amd64) kubernetes/abc" -> "kubectl"; "Go-http-client/2.0" ->
// "Go-http-client"; "" -> "unknown". Keeps only the product token (bounded to 64 characters).
std::string normalizeUserAgent(std::string_view userAgent);
// "ngrok/ngrok:latest" -> "docker.io/ngrok/ngrok"; unparseable references are kept as given
// (bounded), prefixed with "invalid:".
std::string imageSource(std::string_view image);

struct CreationObservation {
  std::string namespace_;
  std::string kind;
  std::string creator;                    // attributed identity
  std::string userAgent;                  // raw or normalized; normalized here
  std::vector<std::string> imageSources;  // from imageSource()
  int64_t timeMicros = 0;                 // the event's time
  bool creatorOnly = false;               // learn and judge the creator alone (namespaces)
};

struct Novelty {
  BaselineDimension dimension;
  std::string value;
  bool newKey = false;  // the (namespace, kind) was never seen before
};

class Baseline {
 public:
  explicit Baseline(BaselineOptions options = {});

  // Learns the observation; returns the novelties to report (none while learning).
  std::vector<Novelty> observe(const CreationObservation& obs);

  // True while the learning period lasts at `nowMicros` (and before any event was seen).
  bool learning(int64_t nowMicros) const;
  int64_t learningStartMicros() const;

  // The whole baseline as JSON (the persisted form).
  nlohmann::json show() const;
  // Accepts a value into the baseline (flagged -> accepted, or adds it as accepted).
  bool accept(std::string_view ns, std::string_view kind, BaselineDimension dimension,
              std::string_view value, std::string* error = nullptr);
  // Accepts what a finding JSON (Finding's toJson) names: rule unexpected-*, namespace, kind,
  // details.value.
  bool acceptFinding(const nlohmann::json& finding, std::string* error = nullptr);

  // Atomic write (temporary file in the same directory, fsync, rename).
  bool save(const std::string& path, std::string* error = nullptr) const;
  // Replaces the contents with the file's. A missing file is not an error (returns true, empty).
  bool load(const std::string& path, std::string* error = nullptr);
  bool fromJson(const nlohmann::json& j, std::string* error = nullptr);
  // Accepts every value `other` holds as accepted (e.g. the file, after `kube-customs baseline
  // accept` changed it under a running process). Returns how many changed state here.
  size_t adoptAccepted(const Baseline& other);

  size_t keyCount() const;
  uint64_t saturated() const;

  enum class State { kLearned, kFlagged, kAccepted };

 private:
  struct Value {
    State state = State::kLearned;
    int64_t firstSeenMicros = 0;
  };
  struct Entry {
    std::map<std::string, Value> values[3];
  };

  nlohmann::json showLocked() const;
  bool fromJsonLocked(const nlohmann::json& j, std::string* error);

  BaselineOptions options_;
  mutable std::mutex mu_;
  int64_t startMicros_ = 0;               // first event time; 0 = none yet
  std::map<std::string, Entry> entries_;  // key: namespace + "/" + kind
  uint64_t saturated_ = 0;
};

}  // namespace kc::audit
