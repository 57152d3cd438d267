// Replays the containerd decoders' libFuzzer seed corpus as an ordinary test, and checks that
// the decoders read the seeds as the daemon meant them.

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "node/containerd_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

const std::filesystem::path kCorpus =
    std::filesystem::path(KC_SOURCE_DIR) / "test" / "node" / "corpus" / "containerd_fuzz";

std::string seed(const std::string& name) {
  std::ifstream in(kCorpus / name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_CASE("ContainerdFuzz.ReplaysSeedCorpusWithoutCrashing", "[node][containerd][fuzz]") {
  REQUIRE(std::filesystem::is_directory(kCorpus));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kCorpus)) {
    const std::string data = seed(entry.path().filename().string());
    INFO(entry.path().filename().string());
    CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size()) == 0);
    ++files;
  }
  CHECK(files >= 10);
}

TEST_CASE("ContainerdFuzz.SeedsDecodeAsTheDaemonMeantThem", "[node][containerd][fuzz]") {
  kc::node::ContainerdLimits limits;
  std::string error;
  kc::node::ContainerdEvent e;
  REQUIRE(
      kc::node::parseContainerdEnvelope(seed("event_exec_started").substr(1), limits, e, error));
  CHECK(e.kind == kc::node::ContainerdEventKind::kExecStarted);
  CHECK(e.execId == "x1");
  CHECK(e.pid == 5000);
  REQUIRE(kc::node::parseContainerdEnvelope(seed("event_url_type").substr(1), limits, e, error));
  CHECK(e.kind == kc::node::ContainerdEventKind::kOther);
  CHECK_FALSE(
      kc::node::parseContainerdEnvelope(seed("event_bad_payload").substr(1), limits, e, error));

  kc::node::Container c;
  REQUIRE(kc::node::parseOciSpec(seed("spec_privileged_host_root").substr(1), limits, c, error));
  CHECK(c.privileged);
  CHECK(c.hostNetwork);
  CHECK(c.hostPID);
  REQUIRE(c.binds.size() == 1);
  CHECK(c.binds[0].hostPath == "/");
  CHECK_FALSE(kc::node::parseOciSpec(seed("spec_wrong_type").substr(1), limits, c, error));
  CHECK(error == "process.capabilities.bounding: expected array of strings");
}

}  // namespace
