// Replays the fuzzing corpus of the AdmissionReview decoder as an ordinary test, so plain CI
// catches regressions found by fuzzing.

#include <catch2/catch.hpp>
#include <filesystem>

#include "test/test_util.h"
#include "webhook/admission_review.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

TEST_CASE("AdmissionReviewFuzzCorpusReplaysWithoutCrash", "[admission][fuzz]") {
  const std::string dir = std::string(KC_SOURCE_DIR) + "/test/webhook/corpus/admission_review";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string data = kc::testing::readFile(entry.path());
    INFO(entry.path());
    CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()) ==
          0);
    ++files;
  }
  CHECK(files >= 5);
}

}  // namespace
