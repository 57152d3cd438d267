#pragma once
// Holds the current policy set and reloads it from a directory of policy documents (in a
// cluster, a ConfigMap volume: files are symlinks through `..data`, swapped atomically). A
// reload that fails keeps the last good set, logs every error with file and line, and sets
// kube_customs_policy_load_success to 0; readiness fails only while nothing has ever loaded.
// Two guards keep the door shut while files move: a set with policies is never replaced by an
// empty one (files moved away or renamed) unless allowEmpty says so, and a change is loaded only
// once the files read the same across `settle` (a file rewritten in place is not loaded half
// written). Without a directory the policies built into the binary (policies/defaults) are used.
// Thread-safe: current() from any thread; reload() from one thread at a time.

#include <atomic>
#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "policies/engine.h"
#include "policies/loader.h"

namespace kc::policy {

// The policy documents compiled into the binary from policies/defaults/.
std::vector<policy::PolicyFile> embeddedDefaultPolicies();

// Reads every *.yaml / *.yml file of `dir` (following symlinks, skipping hidden entries such as
// a ConfigMap's `..data`), sorted by name. False and `error` when the directory is unreadable.
bool readPolicyDir(const std::string& dir, std::vector<policy::PolicyFile>& out,
                   std::string& error);

class PolicyStore {
 public:
  struct Hooks {
    // After every load attempt: success, and the number of policies now in force.
    std::function<void(bool ok, std::size_t policies)> onLoad;
  };
  struct Options {
    // Let a reload replace a set with policies by an empty one (refused otherwise).
    bool allowEmpty = false;
    // A change is loaded once the files have read the same for this long (zero: at once).
    std::chrono::milliseconds settle{0};
  };
  using Clock = std::chrono::steady_clock;

  // `dir` empty: the embedded defaults.
  PolicyStore(std::string dir, Hooks hooks);
  PolicyStore(std::string dir, Hooks hooks, Options options);

  // Loads when the files changed since the last attempt (always on the first call) and the
  // change has settled, or at once when `now` is true (an operator's SIGHUP). Returns true when
  // a new set was installed. Errors are logged and kept in lastErrors().
  bool reload(bool now = false, Clock::time_point at = Clock::now());

  std::shared_ptr<const policy::PolicySet> current() const;
  bool everLoaded() const { return everLoaded_.load(); }
  std::vector<policy::LoadMessage> lastErrors() const;
  const std::string& dir() const { return dir_; }

 private:
  // True when the change read as `fp` may be loaded now: it was read the same `settle` ago.
  bool settled(const std::string& fp, bool now, Clock::time_point at);

  const std::string dir_;
  const Hooks hooks_;
  const Options options_;
  mutable std::mutex mutex_;
  std::shared_ptr<const policy::PolicySet> current_;
  std::string lastFingerprint_;
  std::string pendingFingerprint_;  // a change seen but not yet settled
  Clock::time_point pendingSince_{};
  bool attempted_ = false;
  std::vector<policy::LoadMessage> lastErrors_;
  std::atomic<bool> everLoaded_{false};
};

}  // namespace kc::policy
