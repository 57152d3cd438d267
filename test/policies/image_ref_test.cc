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

TEST_CASE("ImageRef.DropsAnExplicitPort443FromTheRegistry", "[image_ref]") {
  // The runtimes reach a registry at https port 443 when it has no port: `ghcr.io:443` is
  // `ghcr.io`, in the name that is shown, learnt and compared, and in canonical().
  CHECK(parsed("ghcr.io:443/evil/x:1").registry == "ghcr.io");
  CHECK(parsed("ghcr.io:443/evil/x:1").canonical() == "ghcr.io/evil/x:1");
  CHECK(parsed("ghcr.io:00443/evil/x").name() == "ghcr.io/evil/x");
  CHECK(parsed("GHCR.IO:443/evil/x").name() == "ghcr.io/evil/x");
  CHECK(parsed("registry-1.docker.io:443/kalilinux/kali-last-release:2024.4").canonical() ==
        "docker.io/kalilinux/kali-last-release:2024.4");
  CHECK(parsed("index.docker.io:443/bcsecurity/empire:v5").name() == "docker.io/bcsecurity/empire");
  CHECK(parsed("REGISTRY-1.DOCKER.IO:443/kalilinux/kali-rolling").name() ==
        "docker.io/kalilinux/kali-rolling");
  CHECK(parsed("registry-1.docker.io:00443/kalilinux/kali-rolling").name() ==
        "docker.io/kalilinux/kali-rolling");
  // docker.io itself, with a port or in upper case, is docker.io, official images included.
  CHECK(parsed("docker.io:443/nginx:1").name() == "docker.io/library/nginx");
  CHECK(parsed("DOCKER.IO/nginx").name() == "docker.io/library/nginx");
  CHECK(parsed("localhost:443/app").registry == "localhost");
  CHECK(parsed("[::1]:443/team/app:1").registry == "[::1]");
  CHECK(parsed("[::1]:0443/team/app").canonical() == "[::1]/team/app");
  CHECK(parsed("10.0.0.1:443/team/app").registry == "10.0.0.1");
  // Any other port is another registry.
  CHECK(parsed("ghcr.io:5000/evil/x").registry == "ghcr.io:5000");
  CHECK(parsed("ghcr.io:4430/evil/x").registry == "ghcr.io:4430");
  CHECK(parsed("ghcr.io:44/evil/x").registry == "ghcr.io:44");
  CHECK(parsed("ghcr.io:0/evil/x").registry == "ghcr.io:0");
  CHECK(parsed("[::1]:5000/team/app").registry == "[::1]:5000");
  CHECK(parsed("docker.io:5000/nginx").name() == "docker.io:5000/nginx");
  // A one-label host keeps its port (and its case): `acme/x` would be Docker Hub's acme/x.
  CHECK(parsed("acme:443/x").canonical() == "acme:443/x");
  CHECK(parsed(parsed("acme:443/x").canonical()).registry == "acme:443");
  CHECK(parsed("Acme/x").registry == "Acme");
}

TEST_CASE("ImageRef.RegistryHubDockerComIsDockerIo", "[image_ref]") {
  CHECK(parsed("registry.hub.docker.com/kalilinux/kali-rolling").name() ==
        "docker.io/kalilinux/kali-rolling");
  CHECK(parsed("Registry.Hub.Docker.COM:443/library/nginx:1").name() == "docker.io/library/nginx");
  CHECK(parsed("registry.hub.docker.com/nginx").name() == "docker.io/library/nginx");
  CHECK(parsed("registry.hub.docker.com.evil.com/x/y").registry ==
        "registry.hub.docker.com.evil.com");
  CHECK(parsed("registry.hub.docker.com:5000/x/y").registry == "registry.hub.docker.com:5000");
}

TEST_CASE("ImageGlob.Port443IsTheSameRegistry", "[image_ref]") {
  // Confirmed bypasses of registry-anchored patterns.
  CHECK(globMatches("kalilinux/**", "registry-1.docker.io:443/kalilinux/kali-last-release:2024.4"));
  CHECK(globMatches("bcsecurity/empire", "index.docker.io:443/bcsecurity/empire:v5"));
  CHECK(globMatches("kalilinux/**", "REGISTRY-1.DOCKER.IO:443/kalilinux/kali-last-release"));
  CHECK(globMatches("kalilinux/**", "registry-1.docker.io:00443/kalilinux/kali-last-release"));
  CHECK(globMatches("kalilinux/**", "docker.io:443/kalilinux/kali-last-release"));
  CHECK(globMatches("ghcr.io/evil/**", "ghcr.io:443/evil/x:1"));
  CHECK(globMatches("ghcr.io/evil/**", "GHCR.IO:443/evil/x"));
  CHECK(globMatches("ghcr.io/evil", "ghcr.io:00443/evil/x"));
  CHECK(globMatches("ghcr.io", "ghcr.io:443/evil/x"));
  CHECK(globMatches("*.gcr.io", "eu.gcr.io:443/p/app"));
  CHECK(globMatches("localhost", "localhost:443/app"));
  CHECK(globMatches("[::1]/team", "[::1]:443/team/app:1"));
  CHECK(globMatches("[::1]", "[::1]:443/team/app"));
  // A pattern written with :443 names the port-less registry too.
  CHECK(globMatches("ghcr.io:443/evil", "ghcr.io/evil/x"));
  CHECK(globMatches("ghcr.io:0443/evil", "ghcr.io:443/evil/x"));
  CHECK(globMatches("[::1]:443/team", "[::1]/team/app"));
  CHECK(globMatches("registry-1.docker.io:443/kalilinux", "kalilinux/kali-rolling"));
  // One-label hosts: `acme:443` and `Acme` are one host, and neither is Docker Hub's acme/.
  CHECK(globMatches("acme:443/x", "Acme/x"));
  CHECK(globMatches("acme:443/x", "ACME:0443/x"));
  CHECK_FALSE(globMatches("acme/x", "acme:443/x"));
  // Other ports are other registries.
  CHECK_FALSE(globMatches("ghcr.io/evil/**", "ghcr.io:5000/evil/x"));
  CHECK_FALSE(globMatches("ghcr.io/evil/**", "ghcr.io:4430/evil/x"));
  CHECK_FALSE(globMatches("ghcr.io", "ghcr.io:8443/evil/x"));
  CHECK_FALSE(globMatches("ghcr.io:5000", "ghcr.io:443/evil/x"));
  CHECK_FALSE(globMatches("[::1]/team", "[::1]:5000/team/app"));
  CHECK_FALSE(globMatches("kalilinux/**", "docker.io:5000/kalilinux/kali-rolling"));
  CHECK(globMatches("ghcr.io:*/evil", "ghcr.io:5000/evil/x"));
  CHECK_FALSE(globMatches("ghcr.io:*/evil", "ghcr.io:443/evil/x"));
  // Normalised forms, as compared (and as the loader compares allowed with denied).
  ImageGlob g;
  REQUIRE(ImageGlob::parse("GHCR.IO:443/evil/**", g));
  CHECK(g.normalized() == "ghcr.io/evil/**");
  REQUIRE(ImageGlob::parse("Registry.Hub.Docker.com:00443/kalilinux", g));
  CHECK(g.normalized() == "docker.io/kalilinux");
  REQUIRE(ImageGlob::parse("[::1]:443", g));
  CHECK(g.normalized() == "[::1]");
  REQUIRE(ImageGlob::parse("[::1]:5000/team", g));
  CHECK(g.normalized() == "[::1]:5000/team");
}

TEST_CASE("ImageGlob.RegistryHubDockerComIsDockerIo", "[image_ref]") {
  CHECK(globMatches("kalilinux/**", "registry.hub.docker.com/kalilinux/kali-rolling"));
  CHECK(globMatches("docker.io/kalilinux", "REGISTRY.HUB.DOCKER.COM/kalilinux/kali-rolling"));
  CHECK(globMatches("registry.hub.docker.com/ngrok", "ngrok/ngrok:3"));
  CHECK(globMatches("nginx", "registry.hub.docker.com/nginx:1.25"));
  CHECK_FALSE(globMatches("kalilinux/**", "registry.hub.docker.com.evil.com/kalilinux/kali"));
}

TEST_CASE("ImageGlob.RejectsUpperCaseRepositoryPaths", "[image_ref]") {
  // Repository names are lower case: these would load and never match anything.
  for (const char* pattern :
       {"Acme/Miner", "**/Evil", "docker.io/Acme/tool", "Nginx", "acme/Tool", "Acme/miner",
        "ghcr.io/Evil/*", "GHCR.IO/Evil", "localhost:5000/App", "[::1]/Team", "**/X*"}) {
    INFO(pattern);
    ImageGlob g;
    std::string err;
    CHECK_FALSE(ImageGlob::parse(pattern, g, &err));
    CHECK(err.find("\"" + std::string(pattern) + "\"") != std::string::npos);
    CHECK(err.find("lower case") != std::string::npos);
  }
  ImageGlob g;
  std::string err;
  REQUIRE_FALSE(ImageGlob::parse("docker.io/Acme/tool", g, &err));
  CHECK(err ==
        "image pattern \"docker.io/Acme/tool\" has upper-case letters in its repository path; "
        "repository names are always lower case, so it would never match (write "
        "\"docker.io/acme/tool\")");
  // Registry hosts are case-insensitive: upper case there is fine, and compared in lower case.
  CHECK(globMatches("GHCR.IO/evil/**", "ghcr.io/evil/x:1"));
  CHECK(globMatches("GHCR.IO/evil", "Ghcr.Io/evil/x"));
  CHECK(globMatches("Docker.IO/acme/tool", "acme/tool:1"));
  CHECK(globMatches("INDEX.DOCKER.IO/acme", "acme/tool:1"));
  CHECK(globMatches("LOCALHOST:5000/app", "localhost:5000/app"));
  CHECK(globMatches("LocalHost", "localhost/app"));
  CHECK(globMatches("*.GCR.IO", "eu.gcr.io/p/app"));
  CHECK(globMatches("[::ABCD]:443/team", "[::abcd]/team/app"));
  REQUIRE(ImageGlob::parse("GHCR.IO/evil", g));
  CHECK(g.normalized() == "ghcr.io/evil");
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
  return ni < n.size() && globMatchSegments(p[pi], n[ni]) &&
         splitsModel(p, pi + 1, n, ni + 1, prefix);
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
  // ':' only as a registry port.
  CHECK_FALSE(ImageGlob::parse("ghcr.io/a:1/b", g, &err));
  CHECK_FALSE(ImageGlob::parse("ghcr.io:latest/a", g, &err));
  CHECK(err.find("port") != std::string::npos);
  CHECK_FALSE(ImageGlob::parse("nginx:1.25", g, &err));
  CHECK(err.find("tag") != std::string::npos);
  CHECK_FALSE(ImageGlob::parse("nginx:*", g, &err));
  CHECK(err.find("tag") != std::string::npos);
  // IPv6 registries: as in references, bracketed, without wildcards.
  CHECK(ImageGlob::parse("[::1]", g, &err));
  CHECK(ImageGlob::parse("[fe80::1]:5000/team", g, &err));
  CHECK_FALSE(ImageGlob::parse("[::1", g, &err));
  CHECK_FALSE(ImageGlob::parse("[::*]/x", g, &err));
  CHECK_FALSE(ImageGlob::parse("ghcr.io/[x]", g, &err));
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

namespace kc::policy {
namespace {

TEST_CASE("ImageRef.AcceptsSha512DigestsAsTheOciSpecDoes", "[image_ref]") {
  const std::string sha512 = "sha512:" + std::string(128, 'c');
  auto r = parsed("ghcr.io/org/app:v1@" + sha512);
  CHECK(r.digest == sha512);
  CHECK(r.canonical() == "ghcr.io/org/app:v1@" + sha512);
  CHECK(parseError("alpine@sha512:" + std::string(64, 'c')) ==
        "digest must be \"sha512:\" followed by 128 hex characters, got 64");
  CHECK(parseError("alpine@sha512:" + std::string(128, 'C')) ==
        "digest must be \"sha512:\" followed by 128 lowercase hex characters");
  CHECK(parseError("alpine@sha384:" + std::string(96, 'c')).find("must start with \"sha256:\"") !=
        std::string::npos);
}

bool matchesPattern(std::string_view pattern, std::string_view image) {
  ImageGlob g;
  std::string err;
  INFO(pattern << " " << err);
  REQUIRE(ImageGlob::parse(pattern, g, &err));
  ImageRef r;
  REQUIRE(parseImageRef(image, r));
  return g.matches(r);
}

TEST_CASE("ImageGlob.ExactPatternsMatchOneRepositoryOnly", "[image_ref]") {
  CHECK(matchesPattern("=ghcr.io/acme/api", "ghcr.io/acme/api:1.2"));
  CHECK_FALSE(matchesPattern("=ghcr.io/acme/api", "ghcr.io/acme/api/debug:1.2"));
  CHECK(matchesPattern("ghcr.io/acme/api", "ghcr.io/acme/api/debug:1.2"));  // the prefix rule
  CHECK(matchesPattern("=nginx", "nginx:1.27"));
  CHECK(matchesPattern("=nginx", "docker.io/library/nginx@sha256:" + std::string(64, 'a')));
  CHECK_FALSE(matchesPattern("=nginx", "nginx/extra"));
  CHECK(matchesPattern("=ghcr.io/acme/*", "ghcr.io/acme/web"));
  CHECK_FALSE(matchesPattern("=ghcr.io/acme/*", "ghcr.io/acme/web/debug"));
  CHECK(matchesPattern("=**/xmrig", "evil.io/a/b/xmrig:6"));
  CHECK_FALSE(matchesPattern("=**/xmrig", "evil.io/xmrig/helper:6"));
  ImageGlob g;
  std::string err;
  CHECK_FALSE(ImageGlob::parse("=", g, &err));
  CHECK_FALSE(ImageGlob::parse("==nginx", g, &err));
  REQUIRE(ImageGlob::parse("=GHCR.IO/acme/api", g, &err));
  CHECK(g.pattern() == "=GHCR.IO/acme/api");
  CHECK(g.normalized() == "=ghcr.io/acme/api");
}

}  // namespace
}  // namespace kc::policy
