// libFuzzer target for loading the detector's memory file (built with -DKC_BUILD_FUZZERS=ON
// and clang). Whatever the text, loading must not crash, and what was loaded must save and
// load back to the same text (the file format round-trips every state it can express).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "controller/detect/object_memory.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  kc::audit::ObjectTracker first(16);
  (void)kc::audit::loadObjectMemoryText(input, "fuzz", first);
  const std::string saved = kc::audit::objectMemoryText(first);
  kc::audit::ObjectTracker second(16);
  const kc::audit::ObjectMemoryLoad again = kc::audit::loadObjectMemoryText(saved, "saved", second);
  if (!again.ok || again.damaged != 0 || again.loaded != first.size()) std::abort();
  if (kc::audit::objectMemoryText(second) != saved) std::abort();
  return 0;
}
