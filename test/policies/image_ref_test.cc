#include "policies/image_ref.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace kc::policy {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

ImageRef parsed(std::string_view text) {
  ImageRef r;
  std::string err;
  INFO(text);
  REQUIRE(parseImageRef(text, r, &err));
  return r;
}

std::string parseError(std::string_view text) {
  ImageRef r;
  std::string err;
  CHECK_FALSE(parseImageRef(text, r, &err));
  return err;
}

TEST_CASE("ImageRef.AddsDockerIoAndLibraryToOfficialImages", "[image_ref]") {
  auto r = parsed("nginx");
  CHECK(r.registry == "docker.io");
  CHECK(r.repository == "library/nginx");
  CHECK_FALSE(r.hasTag());
  CHECK(r.canonical() == "docker.io/library/nginx");
  CHECK(parsed("bitnami/redis:7").name() == "docker.io/bitnami/redis");
  CHECK(parsed("index.docker.io/library/nginx:1").registry == "docker.io");
  // In any case (found by the image_ref fuzzer: a glob of the name did not match the image).
  CHECK(parsed("index.docker.iO/p").registry == "docker.io");
  CHECK(parsed("INDEX.DOCKER.IO/ngrok/ngrok:latest").name() == "docker.io/ngrok/ngrok");
  CHECK(parsed("docker.io/nginx").repository == "library/nginx");
}

TEST_CASE("ImageRef.TreatsRegistryPortAsNoTag", "[image_ref]") {
  auto r = parsed("host:5000/img");
  CHECK(r.registry == "host:5000");
  CHECK(r.repository == "img");
  CHECK_FALSE(r.hasTag());
  auto t = parsed("host:5000/team/img:1.2");
  CHECK(t.registry == "host:5000");
  CHECK(t.tag == "1.2");
}

TEST_CASE("ImageRef.RecognisesLocalhostAsRegistry", "[image_ref]") {
  auto r = parsed("localhost/app:dev");
  CHECK(r.registry == "localhost");
  CHECK(r.repository == "app");
  CHECK(r.tag == "dev");
}

TEST_CASE("ImageRef.ParsesTagAndDigestTogether", "[image_ref]") {
  auto r = parsed("ghcr.io/org/app:v1@" + kDigest);
  CHECK(r.tag == "v1");
  CHECK(r.digest == kDigest);
  auto d = parsed("alpine@" + kDigest);
  CHECK_FALSE(d.hasTag());
  CHECK(d.hasDigest());
}

TEST_CASE("ImageRef.RejectsMalformedDigests", "[image_ref]") {
  CHECK(parseError("alpine@sha256:" + std::string(63, 'a')).find("64") != std::string::npos);
  CHECK(parseError("alpine@sha256:" + std::string(64, 'A')).find("lowercase") != std::string::npos);
  CHECK(parseError("alpine@md5:abc").find("sha256:") != std::string::npos);
}

TEST_CASE("ImageRef.RejectsInvalidNames", "[image_ref]") {
  CHECK(parseError("") == "image reference is empty");
  CHECK(parseError("docker.io/Library/nginx") == "repository name must be lowercase");
  CHECK_FALSE(parseError("a//b").empty());
  CHECK_FALSE(parseError(":latest").empty());
  CHECK_FALSE(parseError("nginx:-bad").empty());
  CHECK_FALSE(parseError("my_registry.com/app").empty());  // underscore in a domain
}

bool globMatches(std::string_view pattern, std::string_view image) {
  ImageGlob g;
  std::string err;
  REQUIRE(ImageGlob::parse(pattern, g, &err));
  return g.matches(parsed(image));
}

TEST_CASE("ImageGlob.MatchesOnPathSegmentBoundariesOnly", "[image_ref]") {
  CHECK(globMatches("openpolicyagent", "openpolicyagent/opa:0.60"));
  CHECK_FALSE(globMatches("openpolicyagent", "openpolicyagentnotreally/x"));
  CHECK(globMatches("docker.io/openpolicyagent/*", "openpolicyagent/gatekeeper:v3"));
  CHECK_FALSE(globMatches("docker.io/openpolicyagent/*", "openpolicyagentnotreally/x"));
  CHECK(globMatches("gcr.io", "gcr.io/project/app:1"));
  CHECK_FALSE(globMatches("gcr.io", "gcr.io.evil.com/project/app:1"));
  // A denied tool on Docker Hub, named through the upper-cased index alias.
  CHECK(globMatches("docker.io/ngrok/*", "INDEX.Docker.IO/ngrok/ngrok:latest"));
  CHECK(globMatches("ngrok/ngrok", "index.docker.iO/ngrok/ngrok"));
  CHECK(globMatches("*.gcr.io", "eu.gcr.io/p/app"));
  CHECK_FALSE(globMatches("*.gcr.io", "gcr.io/p/app"));
}

TEST_CASE("ImageGlob.DockerHubsRegistryEndpointIsDockerIo", "[image_ref]") {
  // registry-1.docker.io serves Docker Hub itself: a deny rule on docker.io must hold there.
  CHECK(parsed("registry-1.docker.io/kalilinux/kali-rolling").name() ==
        "docker.io/kalilinux/kali-rolling");
  CHECK(parsed("Registry-1.Docker.IO/library/nginx:1").name() == "docker.io/library/nginx");
  CHECK(globMatches("docker.io/kalilinux/*", "registry-1.docker.io/kalilinux/kali-rolling"));
  CHECK(globMatches("kalilinux/kali-rolling", "REGISTRY-1.docker.io/kalilinux/kali-rolling"));
  // And a pattern written with either alias names docker.io.
  CHECK(globMatches("registry-1.docker.io/ngrok/*", "ngrok/ngrok:3"));
  CHECK(globMatches("index.docker.io", "nginx:1.25"));
  CHECK_FALSE(globMatches("registry-1.docker.io", "ghcr.io/x/y"));
  // Look-alike hosts stay other registries.
  CHECK(parsed("registry-1.docker.io.evil.com/kalilinux/kali").registry ==
        "registry-1.docker.io.evil.com");
  CHECK_FALSE(globMatches("docker.io/kalilinux/*", "registry-2.docker.io/kalilinux/kali-rolling"));
}

TEST_CASE("ImageGlob.NamesOfficialImagesWithOrWithoutLibrary", "[image_ref]") {
  CHECK(globMatches("nginx", "nginx:1.25"));
  CHECK(globMatches("library/nginx", "docker.io/nginx"));
  CHECK_FALSE(globMatches("nginx", "nginxinc/nginx-unprivileged"));
}

TEST_CASE("ImageGlob.DoubleStarSpansSegmentsAndRegistries", "[image_ref]") {
  CHECK(globMatches("**/xmrig", "ghcr.io/someone/xmrig:latest"));
  CHECK(globMatches("**/xmrig", "xmrig"));
  CHECK_FALSE(globMatches("**/xmrig", "ghcr.io/someone/xmrig-exporter"));
  CHECK(globMatches("**/*ngrok*", "quay.io/x/ngrok-agent"));
  CHECK(globMatches("localhost:5000", "localhost:5000/team/app"));
}

// Every way of splitting the name among the `**`s, tried one by one: the model the matcher
// must agree with.
bool splitsModel(const std::vector<std::string>& p, size_t pi, const std::vector<std::string>& n,
                 size_t ni, bool prefix) {
  if (pi == p.size()) return ni == n.size() || (prefix && ni > 0);
  if (p[pi] == "**") {
    for (size_t k = ni; k <= n.size(); ++k) {
      if (splitsModel(p, pi + 1, n, k, prefix)) return true;
    }
    return false;
  }
  return ni < n.size() && globMatchSegments(p[pi], n[ni]) && splitsModel(p, pi + 1, n, ni + 1, prefix);
}

std::string joined(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : "/") + p;
  return s;
}

TEST_CASE("ImageGlob.DoubleStarsMatchAsTryingEverySplitWould", "[image_ref]") {
  std::mt19937 rng(11);
  const std::vector<std::string> patternSegs = {"a", "b", "a*", "?", "*", "**", "**"};
  const std::vector<std::string> nameSegs = {"a", "b", "ab", "ba"};
  int matched = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<std::string> p{"r.io"}, n{"r.io"};
    for (size_t i = 1 + rng() % 6; i > 0; --i) p.push_back(patternSegs[rng() % patternSegs.size()]);
    for (size_t i = 1 + rng() % 6; i > 0; --i) n.push_back(nameSegs[rng() % nameSegs.size()]);
    INFO(joined(p) << " against " << joined(n));
    // Whole names (globMatchSegments), and names with everything below (ImageGlob::matches).
    const bool whole = splitsModel(p, 0, n, 0, false);
    CHECK(globMatchSegments(joined(p), joined(n)) == whole);
    ImageGlob g;
    REQUIRE(ImageGlob::parse(joined(p), g));
    ImageRef ref;
    REQUIRE(parseImageRef(joined(n), ref));
    const bool below = splitsModel(p, 0, n, 0, true);
    CHECK(g.matches(ref) == below);
    matched += below;
  }
  CHECK(matched > 2000);  // both outcomes are well represented
  CHECK(matched < 18000);
}

TEST_CASE("ImageGlob.ManyDoubleStarsCostPolynomialTime", "[image_ref]") {
  // 300 `**` and a last segment that never matches, against a name of 60 segments: trying
  // every split is astronomically many; the matcher does at most 301 x 61 steps.
  std::string pattern;
  for (int i = 0; i < 300; ++i) pattern += "**/";
  pattern += "x";
  std::string name = "r.io";
  for (int i = 0; i < 59; ++i) name += "/a";
  CHECK_FALSE(globMatchSegments(pattern, name));
  CHECK(globMatchSegments(pattern, name + "/x"));
  ImageGlob g;
  REQUIRE(ImageGlob::parse(pattern, g));
  CHECK_FALSE(g.matches(parsed(name)));
}

TEST_CASE("ImageGlob.RejectsInvalidPatterns", "[image_ref]") {
  ImageGlob g;
  std::string err;
  CHECK_FALSE(ImageGlob::parse("", g, &err));
  CHECK_FALSE(ImageGlob::parse("nginx:latest", g, &err));
  CHECK(err.find("tag") != std::string::npos);
  CHECK_FALSE(ImageGlob::parse("nginx@sha256:abc", g, &err));
  CHECK_FALSE(ImageGlob::parse("a//b", g, &err));
  CHECK_FALSE(ImageGlob::parse("a**b/c", g, &err));
  CHECK_FALSE(ImageGlob::parse("a b", g, &err));
  CHECK(ImageGlob::parse("host:5000/team/*", g, &err));
  CHECK(g.normalized() == "host:5000/team/*");
}

TEST_CASE("ImageRefFuzz.ReplaysSeedCorpusWithoutCrashing", "[image_ref][fuzz]") {
  const auto dir =
      std::filesystem::path(KC_SOURCE_DIR) / "test" / "policies" / "corpus" / "image_ref";
  REQUIRE(std::filesystem::is_directory(dir));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string data = ss.str();
    INFO(entry.path().filename().string());
    CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size()) == 0);
    ++files;
  }
  CHECK(files >= 10);
}

}  // namespace
}  // namespace kc::policy
