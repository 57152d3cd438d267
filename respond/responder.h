#pragma once
// The response to a suspicious container on a node: keep its evidence, isolate it, release it.
// Used by `kube-customs respond` (by hand) and by the node role (automatically, for findings at
// or above the configured severities; respond/auto_responder.h).
//
//   Responder r(options);
//   ContainerRef c; r.resolve("3f2a", std::nullopt, "", c, error);
//   Outcome e = r.evidence(c, findingJson, /*includeEnv=*/false);   // STATE_DIR/evidence/<name>
//   Outcome i = r.isolate(c, {"manual", "container-exec", "high", "why"}, /*dryRun=*/false);
//   Outcome u = r.release(c, /*dryRun=*/false);
//
// Evidence is a directory of files (the finding, the runtime's configuration of the container
// with environment values left out unless asked, its last log lines, its processes, its
// file-system changes, its sockets) and a manifest of their SHA-256 sums and times; it is
// written under a temporary name and renamed when complete, so a bundle that exists is whole.
// Isolation is reversible and recorded (STATE_DIR/node-isolations.json): Docker containers are
// paused and disconnected from every network; containerd tasks are paused (containerd has no
// network of its own: a pod's network is isolated with its NetworkPolicy). A step that fails
// undoes the ones before it: nothing is left half-isolated.
// Never isolated: a pod's sandbox, the pods of system namespaces, allow-listed containers.
// Thread-safety: one Responder per thread (it makes its runtime clients per call); the records
// file is shared between processes under a lock.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "node/container.h"
#include "node/containerd_client.h"
#include "node/docker_client.h"
#include "node/node_rules.h"

namespace kc::respond {

// node.respond.isolate: off (never, not even by hand), manual (only `respond isolate`), high or
// critical (also automatically, for node findings at or above that severity).
enum class IsolateMode : std::uint8_t { kOff, kManual, kHigh, kCritical };
bool parseIsolateMode(std::string_view text, IsolateMode& out);
std::string_view isolateModeName(IsolateMode m);

struct RespondOptions {
  std::string stateDir;  // evidence/ and node-isolations.json go here
  std::string dockerSocket;
  std::string containerdSocket;
  node::DockerLimits dockerLimits;
  node::ContainerdLimits containerdLimits;
  std::string procRoot = "/proc";                // the host's
  std::string kubeletLogRoot = "/var/log/pods";  // the kubelet's container logs
  std::size_t logTailLines = 1000;
  std::size_t maxSockets = 10000;
  std::size_t maxProcesses = 4096;
  std::uint64_t maxBundleBytes = 64ull << 20;     // one bundle; files past it are left out
  std::size_t maxBundles = 100;                   // kept; the oldest are removed first
  std::uint64_t maxEvidenceBytes = 512ull << 20;  // all bundles together
  IsolateMode isolate = IsolateMode::kOff;
  node::OutsideAllowList allowed;             // never isolated
  std::vector<std::string> systemNamespaces;  // globs; their pods are never isolated
};

// One container on this node.
struct ContainerRef {
  node::Runtime runtime = node::Runtime::kDocker;
  std::string namespace_;  // containerd's; "" for Docker
  std::string id;          // the full id
  std::string name;
  std::string image;
};

// What a response did, for people and for the records.
struct Outcome {
  bool ok = false;
  bool refused = false;  // not done on purpose (a guard, the mode, nothing to do): not a failure
  std::string error;     // why it failed or was refused ("" when ok)
  std::vector<std::string> steps;  // what was done (or, with dryRun, would be), in order
  std::vector<std::string> notes;  // parts not available, and why
  std::string path;                // evidence: the bundle's directory
};

// Why a container is isolated.
struct IsolationReason {
  std::string by = "manual";  // "manual" or "auto"
  std::string rule;           // the finding's rule, when one
  std::string severity;
  std::string summary;
};

// An isolation in force, as recorded.
struct IsolationRecord {
  ContainerRef container;
  IsolationReason reason;
  std::string at;  // RFC 3339 UTC
  bool pausedByUs = false;
  std::vector<node::ContainerNetwork> networks;  // disconnected; reconnected on release
};
nlohmann::json toJson(const IsolationRecord& r);

class Responder {
 public:
  explicit Responder(RespondOptions options);

  // The container `idOrName` (a full id, a unique id prefix of 4 or more characters, or a
  // name) on `runtime` (nullopt: Docker first, then containerd's namespaces; `ns` limits the
  // containerd search). False and `error` when no runtime knows it, or more than one container
  // matches.
  bool resolve(std::string_view idOrName, std::optional<node::Runtime> runtime,
               const std::string& ns, ContainerRef& out, std::string& error);

  // Writes an evidence bundle; `findingJson` ("" for none) is stored as finding.json. `name`
  // ("" for a fresh one) is the bundle's directory name under STATE_DIR/evidence.
  Outcome evidence(const ContainerRef& c, const std::string& findingJson, bool includeEnv,
                   const std::string& name = "");
  // Isolates `c` (see above); refused when the mode is off, for guarded containers, and for
  // containers that are not running; ok and nothing done when it is isolated already.
  Outcome isolate(const ContainerRef& c, const IsolationReason& why, bool dryRun);
  // Undoes what isolate recorded for `c`: unpause (when it paused it), reconnect.
  Outcome release(const ContainerRef& c, bool dryRun);
  // The isolations in force (from the records file); false and `error` when it cannot be read.
  bool isolations(std::vector<IsolationRecord>& out, std::string& error) const;
  // Finds a record by full id, id prefix or name (for releasing a container that is gone).
  std::optional<IsolationRecord> recordFor(std::string_view idOrName, std::string& error) const;

  // A fresh bundle name: <UTC time>-<runtime>-<12 hex of the id>-<sequence>.
  static std::string bundleName(const ContainerRef& c);
  std::string evidenceDir() const { return options_.stateDir + "/evidence"; }
  const RespondOptions& options() const { return options_; }

  // Why `c` must never be isolated ("" when it may be), from its labels and the allow-list.
  std::string guard(const node::Container& c) const;

 private:
  // The files of one bundle, written into its temporary directory (responder.cc).
  struct Bundle;
  // Each runtime's part of a bundle: false with out.error (or the bundle's) when it failed.
  bool evidenceDocker(const ContainerRef& c, bool includeEnv, Bundle& w, Outcome& out);
  bool evidenceContainerd(const ContainerRef& c, bool includeEnv, Bundle& w, Outcome& out);
  void prune() const;
  bool saveRecords(const std::vector<IsolationRecord>& records, std::string& error) const;
  bool loadRecords(std::vector<IsolationRecord>& out, std::string& error) const;

  RespondOptions options_;
};

// Environment values left out: "NAME=value" becomes "NAME" in a Docker inspect answer
// (Config.Env) or an OCI spec (process.env). Exposed for tests.
void redactEnv(nlohmann::json& container, bool ociSpec);

// Whether JSON `text` nests deeper than `maxDepth` (objects and arrays), outside strings: a
// check before a recursive parser reads text from outside.
bool jsonDeeperThan(std::string_view text, std::size_t maxDepth);

// The SHA-256 of `data` as 64 lower-case hex digits.
std::string sha256Hex(std::string_view data);

}  // namespace kc::respond
