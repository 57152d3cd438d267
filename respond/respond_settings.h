#pragma once
// The response to the node door's findings (`node.respond.*`): evidence bundles and isolation.
// Read through common/settings.h.

#include <cstddef>
#include <string>

#include "common/settings.h"

namespace kc::respond {

struct RespondConfig {
  // Node findings at or above this severity get an evidence bundle automatically: low, medium,
  // high, critical, or off.
  std::string evidenceMinSeverity = "high";
  double evidencePerMinute = 6;  // automatic bundles at most, per node (a token bucket)
  // off (never, not even by hand), manual (only `kube-customs respond isolate`), high or
  // critical (also automatically, for node findings at or above that severity).
  std::string isolate = "off";
  int logTailLines = 1000;
  bool includeEnv = false;  // environment values in the bundle (names only when false)
  std::string kubeletLogRoot = "/var/log/pods";
  std::size_t maxBundles = 100;                 // kept; the oldest removed first
  std::size_t maxEvidenceBytes = 512ull << 20;  // all bundles together
  std::size_t maxBundleBytes = 64ull << 20;     // one bundle
};

settings::Section<RespondConfig> respondSection();  // node.respond

}  // namespace kc::respond
