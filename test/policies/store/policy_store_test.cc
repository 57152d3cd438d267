#include "policies/store/policy_store.h"

#include <catch2/catch.hpp>
#include <filesystem>

#include "test/test_util.h"

namespace {

using kc::testing::TempDir;

constexpr const char* kDenyNgrok = R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: ImagePolicy
metadata:
  name: tools
spec:
  mode: enforce
  deniedImages:
    images: ["**/ngrok"]
)";

constexpr const char* kDenyChisel = R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: ImagePolicy
metadata:
  name: tools
spec:
  mode: enforce
  deniedImages:
    images: ["**/chisel"]
)";

// Installs `files` as a new version of a ConfigMap-style volume: real files in a timestamped
// directory, `..data` swapped atomically, top-level names as symlinks through `..data`.
void installVersion(const std::string& root, int version,
                    const std::vector<std::pair<std::string, std::string>>& files) {
  namespace fs = std::filesystem;
  const std::string dir = "..v" + std::to_string(version);
  fs::create_directories(root + "/" + dir);
  for (const auto& [name, text] : files)
    kc::testing::writeFile(root + "/" + dir + "/" + name, text);
  fs::remove(root + "/..data_tmp");
  fs::create_directory_symlink(dir, root + "/..data_tmp");
  fs::rename(root + "/..data_tmp", root + "/..data");
  for (const auto& [name, text] : files) {
    if (!fs::is_symlink(root + "/" + name)) fs::create_symlink("..data/" + name, root + "/" + name);
  }
}

std::vector<std::string> policyNames(const kc::policy::PolicySet& set) {
  std::vector<std::string> out;
  for (const auto& p : set.policies()) out.push_back(p.name);
  return out;
}

TEST_CASE("EmbeddedDefaultsLoadWithoutErrors", "[policy-store]") {
  const auto files = kc::policy::embeddedDefaultPolicies();
  REQUIRE(files.size() >= 1);
  const auto result = kc::policy::loadPolicies(files);
  for (const auto& e : result.errors) INFO(e.toString());
  CHECK(result.ok());
  kc::policy::PolicyStore store("", {});
  CHECK(store.reload());
  CHECK(store.everLoaded());
  CHECK_FALSE(store.current()->isEmpty());
}

TEST_CASE("ReloadsWhenTheConfigMapVolumeSwapsAndIgnoresHiddenEntries", "[policy-store]") {
  TempDir dir;
  installVersion(dir.path(), 1, {{"tools.yaml", kDenyNgrok}});
  int loads = 0, failures = 0;
  kc::policy::PolicyStore store(dir.path(),
                                {[&](bool ok, std::size_t) { ok ? ++loads : ++failures; }});
  REQUIRE(store.reload());
  const auto first = store.current();
  CHECK(policyNames(*first) == std::vector<std::string>{"tools"});
  CHECK_FALSE(store.reload());  // unchanged: no reload
  installVersion(dir.path(), 2, {{"tools.yaml", kDenyChisel}});
  CHECK(store.reload());
  CHECK(store.current() != first);
  CHECK(first->policies()[0].images.denied[0].glob.pattern() == "**/ngrok");  // old snapshot intact
  CHECK(store.current()->policies()[0].images.denied[0].glob.pattern() == "**/chisel");
  CHECK(loads == 2);
  CHECK(failures == 0);
}

TEST_CASE("BadReloadKeepsTheLastGoodSetAndReportsFileAndLine", "[policy-store]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("tools.yaml"), kDenyNgrok);
  bool lastOk = true;
  kc::policy::PolicyStore store(dir.path(), {[&](bool ok, std::size_t) { lastOk = ok; }});
  REQUIRE(store.reload());
  const auto good = store.current();
  kc::testing::writeFile(dir.file("tools.yaml"), std::string(kDenyNgrok) + "  unknownField: 1\n");
  CHECK_FALSE(store.reload());
  CHECK_FALSE(lastOk);
  CHECK(store.current() == good);
  REQUIRE(store.lastErrors().size() >= 1);
  const std::string err = store.lastErrors()[0].toString();
  CHECK(err.find("tools.yaml:9:3: spec.unknownField") != std::string::npos);
  CHECK(err.find("unknownField") != std::string::npos);
  CHECK(store.everLoaded());
}

TEST_CASE("NotReadyWhileNothingEverLoaded", "[policy-store]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("bad.yaml"), "apiVersion: [\n");
  kc::policy::PolicyStore store(dir.path(), {});
  CHECK_FALSE(store.reload());
  CHECK_FALSE(store.everLoaded());
  CHECK(store.current()->isEmpty());
  kc::policy::PolicyStore missing(dir.path() + "/nope", {});
  CHECK_FALSE(missing.reload());
  CHECK_FALSE(missing.everLoaded());
  CHECK(missing.lastErrors().size() == 1);
}

// Files moved away, or renamed to another extension, leave a directory with no policies: the
// door must stay shut with the last set, not open on an empty one.
TEST_CASE("AnEmptiedDirectoryKeepsThePoliciesInForceUnlessEmptyIsAllowed", "[policy-store]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("tools.yaml"), kDenyNgrok);
  bool lastOk = true;
  std::size_t inForce = 0;
  kc::policy::PolicyStore store(dir.path(), {[&](bool ok, std::size_t n) {
                                  lastOk = ok;
                                  inForce = n;
                                }});
  REQUIRE(store.reload());
  const auto good = store.current();
  std::filesystem::rename(dir.file("tools.yaml"), dir.file("tools.yaml.bak"));
  CHECK_FALSE(store.reload());
  CHECK(store.current() == good);
  CHECK_FALSE(lastOk);
  CHECK(inForce == 1);
  REQUIRE(store.lastErrors().size() == 1);
  CHECK(store.lastErrors()[0].toString().find("no policies") != std::string::npos);
  CHECK_FALSE(store.reload());  // not retried, not loaded, until the files change
  CHECK(store.current() == good);
  // Back in place: loaded again.
  std::filesystem::rename(dir.file("tools.yaml.bak"), dir.file("tools.yml"));
  CHECK(store.reload());
  CHECK(lastOk);
  CHECK(policyNames(*store.current()) == std::vector<std::string>{"tools"});

  // The operator may say an empty directory means no policies.
  TempDir other;
  kc::testing::writeFile(other.file("tools.yaml"), kDenyNgrok);
  kc::policy::PolicyStore allowing(other.path(), {}, {true, std::chrono::milliseconds(0)});
  REQUIRE(allowing.reload());
  std::filesystem::remove(other.file("tools.yaml"));
  CHECK(allowing.reload());
  CHECK(allowing.current()->isEmpty());
}

// A file rewritten in place is read while half written. With a settle time, a change is loaded
// only once two reads that far apart agree: the half-written file (valid YAML, but missing the
// image that the whole file denies) is never the set in force.
TEST_CASE("AFileRewrittenInPlaceIsLoadedOnlyOnceItSettles", "[policy-store]") {
  using Clock = kc::policy::PolicyStore::Clock;
  TempDir dir;
  kc::testing::writeFile(dir.file("tools.yaml"), kDenyNgrok);
  kc::policy::PolicyStore store(dir.path(), {}, {false, std::chrono::milliseconds(1000)});
  const auto t0 = Clock::now();
  REQUIRE(store.reload(false, t0));  // the first load is at once
  const auto good = store.current();
  const std::string whole = std::string(kDenyChisel)
                                .replace(std::string(kDenyChisel).find("[\"**/chisel\"]"), 13,
                                         "[\"**/chisel\", \"**/ngrok\"]");
  const std::string half = std::string(kDenyChisel);  // the first image only: ngrok admitted
  kc::testing::writeFile(dir.file("tools.yaml"), half);
  CHECK_FALSE(store.reload(false, t0 + std::chrono::milliseconds(2000)));
  CHECK(store.current() == good);
  kc::testing::writeFile(dir.file("tools.yaml"), whole);
  CHECK_FALSE(store.reload(false, t0 + std::chrono::milliseconds(4000)));  // changed again
  CHECK(store.current() == good);
  CHECK_FALSE(store.reload(false, t0 + std::chrono::milliseconds(4500)));  // not settled yet
  CHECK(store.reload(false, t0 + std::chrono::milliseconds(5000)));
  REQUIRE(store.current()->policies()[0].images.denied.size() == 2);
  // A forced reload (SIGHUP) does not wait.
  kc::testing::writeFile(dir.file("tools.yaml"), kDenyNgrok);
  CHECK(store.reload(true, t0 + std::chrono::milliseconds(5001)));
  CHECK(store.current()->policies()[0].images.denied.size() == 1);
}

}  // namespace
