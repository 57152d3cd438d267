// Replays the Docker Engine API decoders' libFuzzer seed corpus as an ordinary test, and checks
// that the decoders read the seeds as the daemon meant them.

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "node/docker_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

const std::filesystem::path kCorpus =
    std::filesystem::path(KC_SOURCE_DIR) / "test" / "node" / "corpus" / "docker_fuzz";

std::string seed(const std::string& name) {
  std::ifstream in(kCorpus / name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_CASE("DockerFuzz.ReplaysSeedCorpusWithoutCrashing", "[node][docker][fuzz]") {
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

TEST_CASE("DockerFuzz.SeedsDecodeAsTheDaemonMeantThem", "[node][docker][fuzz]") {
  kc::node::DockerLimits limits;
  std::string error;
  kc::node::Container c;
  REQUIRE(kc::node::parseContainerInspect(seed("inspect_privileged").substr(1), limits, c, error));
  CHECK(c.name == "priv1");
  CHECK(c.image == "ngrok/ngrok:latest");
  CHECK(c.privileged);
  CHECK(c.binds.size() == 2);
  CHECK(c.pid == 20493);

  // Without Mounts, HostConfig.Binds is read: absolute host paths only, options after the
  // second colon.
  REQUIRE(kc::node::parseContainerInspect(seed("inspect_binds_without_mounts").substr(1), limits, c,
                                          error));
  REQUIRE(c.binds.size() == 1);
  CHECK(c.binds[0].hostPath == "/var/run/docker.sock");
  CHECK(c.binds[0].containerPath == "/var/run/docker.sock");
  CHECK(c.binds[0].readOnly);
  CHECK(kc::node::classify(c).sandbox);

  CHECK_FALSE(
      kc::node::parseContainerInspect(seed("inspect_wrong_type").substr(1), limits, c, error));
  CHECK(error == "HostConfig.Privileged: expected boolean");
  // simdjson refuses text that is not UTF-8.
  CHECK_FALSE(
      kc::node::parseContainerInspect(seed("inspect_invalid_utf8").substr(1), limits, c, error));
}

}  // namespace
