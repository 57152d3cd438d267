#pragma once
// The detector's memory of pod-carrying objects (ObjectTracker: who is responsible for each
// workload, which findings its template already produced, what its containers ran), saved to
// and restored from a file, so that a restart of the audit consumer keeps attributing pods to
// the person behind their workload and does not report a workload's pods again for what the
// workload itself was reported for.
//
// File format: JSON lines. The first line is a header,
//   {"kind":"KubeCustomsObjectMemory","version":1,"objects":N}
// then one object per line, least recently used first, so that loading them in order rebuilds
// the same recency order (and a smaller tracker keeps the most recent ones):
//   {"uid":..,"kind":..,"namespace":..,"name":..,"owner":..,"actor":..,"actorUserAgent":..,
//    "changers":[..],"hasContainers":true,"containers":[{"name":..,"image":..,"command":..}],
//    "keys":[..]}
// and "byName":false on an object another one has taken its name from (found by uid only).
// Saving replaces the file atomically (temporary file, fsync, rename).
//
// The file is input like any other: a line that is not valid JSON, has a field of the wrong
// type, or exceeds a cap (line 16 MiB, string 8 KiB, 64 keys, 16 changers, 64 containers) is
// skipped and counted; the lines around it still load. Saving leaves out objects over those
// caps (only hostile events make them), so that every saved object loads back.
//
// Thread-safety: none; call from the thread that owns the tracker.

#include <cstddef>
#include <string>
#include <string_view>

#include "controller/detect/ownership.h"

namespace kc::audit {

struct ObjectMemoryLoad {
  bool ok = false;     // false: the file exists but cannot be read, or its header is wrong
  size_t loaded = 0;   // objects restored
  size_t damaged = 0;  // lines skipped (see above)
  std::string error;   // when !ok
};

// The file's text for what `tracker` holds.
std::string objectMemoryText(const ObjectTracker& tracker);

// Writes every object `tracker` holds to `path`. False and `error` on failure (the previous
// file, if any, is then untouched).
bool saveObjectMemory(const ObjectTracker& tracker, const std::string& path, std::string* error);

// Adds the objects saved in `path` to `tracker` (ObjectTracker::restore, oldest first). A missing
// file is an empty memory (ok, nothing loaded).
ObjectMemoryLoad loadObjectMemory(const std::string& path, ObjectTracker& tracker);

// The same from the file's text (`source` names it in errors).
ObjectMemoryLoad loadObjectMemoryText(std::string_view text, const std::string& source,
                                      ObjectTracker& tracker);

}  // namespace kc::audit
