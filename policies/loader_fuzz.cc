// libFuzzer target for the policy loader. Invariants: loading never crashes or throws, a result
// has a policy set exactly when it has no errors, and every error names its file. The seed
// corpus in test/policies/corpus/loader is replayed by an ordinary test
// (policies_loader_fuzz_test).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "policies/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;  // the loader's callers cap files far below this
  kc::policy::PolicyFile file{"fuzz.yaml", std::string(reinterpret_cast<const char*>(data), size)};
  kc::policy::LoadResult r = kc::policy::loadPolicies({file});
  if (r.ok() != (r.policies != nullptr)) std::abort();
  for (const auto& e : r.errors) {
    if (e.file != "fuzz.yaml" || e.message.empty()) std::abort();
  }
  return 0;
}
