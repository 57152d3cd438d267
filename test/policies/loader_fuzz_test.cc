// Replays the policy loader's libFuzzer seed corpus as an ordinary test.

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

TEST_CASE("LoaderFuzz.ReplaysSeedCorpusWithoutCrashing", "[loader][fuzz]") {
  const auto dir = std::filesystem::path(KC_SOURCE_DIR) / "test" / "policies" / "corpus" / "loader";
  REQUIRE(std::filesystem::is_directory(dir));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string data = ss.str();
    INFO(entry.path().filename().string());
    CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size()) == 0);
    ++files;
  }
  CHECK(files >= 5);
}

}  // namespace
