// libFuzzer target for the image reference parser and image globs. Invariants: parsing never
// crashes; a parsed reference's canonical form parses back to the same reference; a parsed glob
// always matches or rejects without crashing; a reference's own name, plain or exact ("=name"),
// matches it. The seed corpus in test/policies/corpus/image_ref
// is replayed by an ordinary test, which links this file without libFuzzer.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "policies/image_ref.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  kc::policy::ImageRef ref;
  if (kc::policy::parseImageRef(text, ref)) {
    kc::policy::ImageRef again;
    if (!kc::policy::parseImageRef(ref.canonical(), again)) std::abort();
    if (again.canonical() != ref.canonical() || again.registry != ref.registry ||
        again.repository != ref.repository || again.tag != ref.tag || again.digest != ref.digest) {
      std::abort();
    }
    kc::policy::ImageGlob self;
    if (kc::policy::ImageGlob::parse(ref.name(), self) && !self.matches(ref)) std::abort();
    kc::policy::ImageGlob exact;  // "=name" matches its own repository too
    if (kc::policy::ImageGlob::parse("=" + ref.name(), exact) && !exact.matches(ref)) std::abort();
  }
  kc::policy::ImageGlob glob;
  if (kc::policy::ImageGlob::parse(text, glob)) {
    kc::policy::ImageRef probe;
    if (kc::policy::parseImageRef("docker.io/openpolicyagent/opa:0.60.0", probe))
      (void)glob.matches(probe);
  }
  return 0;
}
