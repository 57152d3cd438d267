#include "controller/detect/baseline.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test/test_util.h"

namespace kc::audit {
namespace {

constexpr int64_t kDay = 24LL * 3600 * 1'000'000;
constexpr int64_t kT0 = 1'767'225'600'000'000;  // 2026-01-01T00:00:00Z

CreationObservation obs(std::string ns, std::string kind, std::string creator, std::string ua,
                        std::vector<std::string> images, int64_t t) {
  CreationObservation o;
  o.namespace_ = std::move(ns);
  o.kind = std::move(kind);
  o.creator = std::move(creator);
  o.userAgent = std::move(ua);
  for (const auto& i : images) o.imageSources.push_back(imageSource(i));
  o.timeMicros = t;
  return o;
}

const std::string kKubectl = "kubectl/v1.30.1 (linux/amd64) kubernetes/7c48c2b";
const std::string kHelm = "Helm/3.14.4";

TEST_CASE("NormalizesUserAgentsToTheClientName", "[baseline]") {
  CHECK(normalizeUserAgent("kubectl/v1.30.1 (linux/amd64) kubernetes/7c48c2b") == "kubectl");
  CHECK(normalizeUserAgent(
            "kube-controller-manager/v1.30.1 (linux/amd64) "
            "kubernetes/7c48c2b/system:serviceaccount:kube-system:replicaset-controller") ==
        "kube-controller-manager");
  CHECK(normalizeUserAgent("Go-http-client/2.0") == "Go-http-client");
  CHECK(normalizeUserAgent("curl/8.5.0") == "curl");
  CHECK(normalizeUserAgent("python-requests/2.31.0") == "python-requests");
  CHECK(normalizeUserAgent("  ") == "unknown");
  CHECK(normalizeUserAgent("") == "unknown");
  CHECK(normalizeUserAgent(std::string(500, 'a')).size() == 64);
}

TEST_CASE("ImageSourceIsRegistryAndRepository", "[baseline]") {
  CHECK(imageSource("ngrok/ngrok:latest") == "docker.io/ngrok/ngrok");
  CHECK(imageSource("nginx") == "docker.io/library/nginx");
  CHECK(imageSource("registry.example.com:5000/shop/web@sha256:"
                    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") ==
        "registry.example.com:5000/shop/web");
  CHECK(imageSource("UPPER/Case").rfind("invalid:", 0) == 0);
}

TEST_CASE("LearnsSilentlyThenReportsFirstSeenValuesOnce", "[baseline]") {
  Baseline b(BaselineOptions{7 * kDay, 16, 100});
  CHECK(b.learning(kT0));
  CHECK(b.observe(obs("shop", "Deployment", "ci", kHelm, {"registry.example.com/shop/web:1"}, kT0))
            .empty());
  CHECK(b.learningStartMicros() == kT0);
  CHECK(b.observe(obs("shop", "Deployment", "alice", kKubectl, {"nginx:1.25"}, kT0 + 6 * kDay))
            .empty());
  CHECK_FALSE(b.learning(kT0 + 7 * kDay));

  // Known values: nothing.
  CHECK(b.observe(obs("shop", "Deployment", "ci", kHelm, {"registry.example.com/shop/web:2"},
                      kT0 + 8 * kDay))
            .empty());
  // A new creator with a new client and a new image source.
  auto n = b.observe(
      obs("shop", "Deployment", "mallory", "curl/8.5.0", {"ngrok/ngrok:latest"}, kT0 + 8 * kDay));
  REQUIRE(n.size() == 3);
  CHECK(n[0].dimension == BaselineDimension::kCreator);
  CHECK(n[0].value == "mallory");
  CHECK(n[1].dimension == BaselineDimension::kImageSource);
  CHECK(n[1].value == "docker.io/ngrok/ngrok");
  CHECK(n[2].dimension == BaselineDimension::kUserAgent);
  CHECK(n[2].value == "curl");
  CHECK_FALSE(n[0].newKey);
  // Reported once: the value is now flagged.
  CHECK(b.observe(obs("shop", "Deployment", "mallory", "curl/8.5.0", {"ngrok/ngrok:latest"},
                      kT0 + 9 * kDay))
            .empty());
  // A namespace never seen for a kind: every dimension is new, and the key is new.
  auto fresh = b.observe(obs("sandbox", "Pod", "alice", kKubectl, {"nginx:1.25"}, kT0 + 9 * kDay));
  REQUIRE(fresh.size() == 3);
  CHECK(fresh[0].newKey);
}

TEST_CASE("AcceptMovesFlaggedValuesToAcceptedAndPreSeeds", "[baseline]") {
  Baseline b(BaselineOptions{kDay, 16, 100});
  b.observe(obs("shop", "Pod", "ci", kHelm, {"nginx:1"}, kT0));
  b.observe(obs("shop", "Pod", "bob", kKubectl, {"nginx:1"}, kT0 + 2 * kDay));
  std::string err;
  REQUIRE(b.accept("shop", "Pod", BaselineDimension::kCreator, "bob", &err));
  REQUIRE(b.accept("shop", "Pod", BaselineDimension::kImageSource, "ghcr.io/acme/tool", &err));
  auto j = b.show();
  REQUIRE(j["keys"].size() == 1);
  const auto& creators = j["keys"][0]["creator"];
  bool bobAccepted = false;
  for (const auto& v : creators) {
    if (v["value"] == "bob") bobAccepted = v["state"] == "accepted";
  }
  CHECK(bobAccepted);
  // The pre-seeded image source is not reported.
  CHECK(
      b.observe(obs("shop", "Pod", "ci", kHelm, {"ghcr.io/acme/tool:3"}, kT0 + 3 * kDay)).empty());

  nlohmann::json finding = {{"rule", "unexpected-user-agent"},
                            {"namespace", "shop"},
                            {"kind", "Pod"},
                            {"details", {{"dimension", "user-agent"}, {"value", "curl"}}}};
  REQUIRE(b.acceptFinding(finding, &err));
  CHECK(b.observe(obs("shop", "Pod", "ci", "curl/8.0", {"nginx:1"}, kT0 + 3 * kDay)).empty());

  CHECK_FALSE(b.acceptFinding({{"rule", "pod-exec"}, {"namespace", "shop"}}, &err));
  CHECK(err.find("not a baseline rule") != std::string::npos);
  CHECK_FALSE(b.acceptFinding(nlohmann::json::array(), &err));
  CHECK_FALSE(b.accept("shop", "", BaselineDimension::kCreator, "x", &err));
}

TEST_CASE("AdoptsTheValuesAnotherCopyAccepted", "[baseline]") {
  // A running process's baseline, and the file's copy in which an operator accepted values.
  Baseline running(BaselineOptions{kDay, 16, 100});
  running.observe(obs("shop", "Pod", "ci", kHelm, {"nginx:1"}, kT0));
  CHECK(running.observe(obs("shop", "Pod", "bob", kKubectl, {"nginx:1"}, kT0 + 2 * kDay)).size() ==
        2);  // bob and kubectl, flagged
  Baseline file(BaselineOptions{kDay, 16, 100});
  REQUIRE(file.fromJson(running.show()));
  REQUIRE(file.accept("shop", "Pod", BaselineDimension::kCreator, "bob"));
  REQUIRE(file.accept("web", "Deployment", BaselineDimension::kImageSource, "ghcr.io/acme/app"));
  // Learned meanwhile by the running process only: kept.
  running.observe(obs("shop", "Pod", "carol", kKubectl, {"nginx:1"}, kT0 + 3 * kDay));

  CHECK(running.adoptAccepted(file) == 2);
  CHECK(running.adoptAccepted(file) == 0);  // nothing new the second time
  auto state = [&](const std::string& ns, const std::string& kind, const std::string& dim,
                   const std::string& value) {
    const nlohmann::json shown = running.show();
    for (const auto& k : shown["keys"]) {
      if (k["namespace"] != ns || k["kind"] != kind) continue;
      for (const auto& v : k[dim]) {
        if (v["value"] == value) return v["state"].get<std::string>();
      }
    }
    return std::string("absent");
  };
  CHECK(state("shop", "Pod", "creator", "bob") == "accepted");
  CHECK(state("shop", "Pod", "creator", "carol") == "flagged");
  CHECK(state("shop", "Pod", "user-agent", "kubectl") == "flagged");  // not accepted in the file
  CHECK(state("web", "Deployment", "image-source", "ghcr.io/acme/app") == "accepted");
  CHECK(
      running.observe(obs("web", "Deployment", "ci", kHelm, {"ghcr.io/acme/app:2"},
                          kT0 + 4 * kDay))
          .size() == 2);  // a new key: ci and Helm are new there, the image source is not
}

TEST_CASE("PersistsAtomicallyAndReloads", "[baseline]") {
  kc::testing::TempDir dir;
  const std::string path = dir.file("baseline.json");
  Baseline a(BaselineOptions{kDay, 16, 100});
  a.observe(obs("shop", "Deployment", "ci", kHelm, {"registry.example.com/shop/web:1"}, kT0));
  a.observe(obs("shop", "Deployment", "mallory", kKubectl, {"ngrok/ngrok"}, kT0 + 2 * kDay));
  std::string err;
  REQUIRE(a.save(path, &err));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(::stat((path + ".tmp." + std::to_string(::getpid())).c_str(), &st) != 0);

  Baseline b(BaselineOptions{kDay, 16, 100});
  REQUIRE(b.load(path, &err));
  CHECK(b.show() == a.show());
  CHECK(b.learningStartMicros() == kT0);
  // The reloaded baseline remembers what was learned and what was already reported.
  CHECK(b.observe(obs("shop", "Deployment", "mallory", kKubectl, {"ngrok/ngrok"}, kT0 + 3 * kDay))
            .empty());
  CHECK(b.observe(obs("shop", "Deployment", "eve", kKubectl, {"nginx"}, kT0 + 3 * kDay)).size() ==
        2);

  // A missing file is an empty baseline; a corrupt one is an error that keeps the contents.
  Baseline c;
  CHECK(c.load(dir.file("missing.json"), &err));
  CHECK(c.keyCount() == 0);
  kc::testing::writeFile(dir.file("bad.json"), "{\"version\":1,\"keys\":[{\"namespace\":3}]}");
  CHECK_FALSE(b.load(dir.file("bad.json"), &err));
  CHECK(err.find("keys[0]") != std::string::npos);
  CHECK(b.keyCount() == 1);
  kc::testing::writeFile(dir.file("junk.json"), "{not json");
  CHECK_FALSE(b.load(dir.file("junk.json"), &err));
}

// A Deployment whose image is 127 ASCII characters and then "é" (or a user name or user agent
// long enough to be cut inside a character) stopped serve and replay --update-baseline: the
// value was cut at a byte count inside the character and saving threw on the invalid UTF-8.
TEST_CASE("ValuesCutToTheirCapsStayValidUtf8AndSave", "[baseline]") {
  kc::testing::TempDir dir;
  Baseline a(BaselineOptions{kDay, 16, 100});
  const std::string image = std::string(127, 'a') + "\xC3\xA9";
  std::string user = std::string(255, 'u') + "\xC3\xA9";
  a.observe(obs("shop", "Deployment", user, kKubectl, {image}, kT0));
  a.observe(obs("shop", "Deployment", "ci", std::string(63, 'x') + "\xC3\xA9/1.0", {"nginx:1"},
                kT0 + 2 * kDay));
  std::string err;
  REQUIRE(a.save(dir.file("baseline.json"), &err));
  const auto saved = nlohmann::json::parse(kc::testing::readFile(dir.file("baseline.json")));
  const std::string text = saved.dump();
  CHECK(text.find("invalid:" + std::string(127, 'a') + "\"") != std::string::npos);
  CHECK(text.find(std::string(255, 'u') + "\"") != std::string::npos);
  Baseline b(BaselineOptions{kDay, 16, 100});
  REQUIRE(b.load(dir.file("baseline.json"), &err));
  CHECK(b.show() == a.show());
}

TEST_CASE("StaysBoundedAndFailsLoudWhenFull", "[baseline]") {
  Baseline b(BaselineOptions{kDay, 4, 3});
  for (int i = 0; i < 10; ++i) {
    b.observe(
        obs("ns" + std::to_string(i), "Pod", "u" + std::to_string(i), kKubectl, {"nginx"}, kT0));
    b.observe(obs("ns0", "Pod", "user" + std::to_string(i), kKubectl, {"nginx"}, kT0));
  }
  CHECK(b.keyCount() == 3);
  auto j = b.show();
  for (const auto& k : j["keys"]) CHECK(k["creator"].size() <= 4);
  CHECK(b.saturated() > 0);
  // After learning, a value that cannot be stored is still reported, every time.
  CHECK(b.observe(obs("ns0", "Pod", "late", kKubectl, {"nginx"}, kT0 + 2 * kDay)).size() == 1);
  CHECK(b.observe(obs("ns0", "Pod", "late", kKubectl, {"nginx"}, kT0 + 2 * kDay)).size() == 1);
  CHECK(b.observe(obs("brand-new", "Pod", "x", kKubectl, {"nginx"}, kT0 + 2 * kDay)).size() == 3);
}

}  // namespace
}  // namespace kc::audit
