// The detector's memory of objects, saved to a file and loaded back: every field and the
// recency order survive, a smaller tracker keeps the most recent objects, and a damaged file
// loads what it can and counts the rest.

#include "controller/detect/object_memory.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "test/test_util.h"

namespace kc::audit {
namespace {

using kc::testing::TempDir;

std::vector<TrackedObject> oldestFirst(const ObjectTracker& t) {
  std::vector<TrackedObject> v;
  t.forEachOldestFirst([&](const TrackedObject& o, bool) { v.push_back(o); });
  return v;
}

bool same(const TrackedObject& a, const TrackedObject& b) {
  return a.uid == b.uid && a.kind == b.kind && a.namespace_ == b.namespace_ && a.name == b.name &&
         a.ownerUid == b.ownerUid && a.actor == b.actor && a.actorUserAgent == b.actorUserAgent &&
         a.changers == b.changers && a.hasContainers == b.hasContainers &&
         a.containers == b.containers && a.findingKeys == b.findingKeys;
}

// Objects with every field set, strings that need escaping among them.
void fill(ObjectTracker& t, int n) {
  for (int i = 0; i < n; ++i) {
    const std::string id = std::to_string(i);
    // Every fifth object is known by name only (its events carried no uid).
    TrackedObject& o = t.upsert(i % 5 == 4 ? "" : "uid-" + id, i % 2 ? "Deployment" : "Pod",
                                "ns-" + std::to_string(i % 3), "name-" + id);
    o.ownerUid = i % 2 ? "" : "uid-" + std::to_string(i + 1);
    o.actor = "user \"" + id + "\"\\ \xc3\xa9\n";
    o.actorUserAgent = "kubectl/v1.32.0 \t" + id;
    o.addChanger("alice");
    o.addChanger("bob-" + id);
    o.hasContainers = i % 3 != 0;
    if (o.hasContainers) {
      o.containers.push_back({"init:setup", "busybox:1.36", "sh -c echo \u00e9"});
      o.containers.push_back(
          {"app", "registry.example.com/app@sha256:" + std::string(64, 'a'), ""});
    }
    o.addKey("privileged-container/app");
    o.addKey("policy/pod-security/pss.privileged/" + id);
  }
  // Touch a few so that recency differs from creation order.
  t.find("uid-0");
  t.find("uid-7");
}

// Saves `from` to a file in `dir` and loads the file into `into`.
ObjectMemoryLoad saveAndLoad(const ObjectTracker& from, ObjectTracker& into, const TempDir& dir) {
  std::string error;
  REQUIRE(saveObjectMemory(from, dir.file("m.jsonl"), &error));
  ObjectMemoryLoad r = loadObjectMemory(dir.file("m.jsonl"), into);
  REQUIRE(r.ok);
  return r;
}

TEST_CASE("ObjectMemoryRoundTripKeepsEveryFieldAndTheRecencyOrder", "[memory]") {
  TempDir dir;
  ObjectTracker before(1000);
  fill(before, 40);
  ObjectTracker after(1000);
  const ObjectMemoryLoad r = saveAndLoad(before, after, dir);
  CHECK(r.loaded == 40);
  CHECK(r.damaged == 0);
  // Saved again, the same bytes (before any lookup changes the recency order).
  CHECK(objectMemoryText(after) == objectMemoryText(before));
  const auto a = oldestFirst(before), b = oldestFirst(after);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(i << ": " << a[i].uid << " " << a[i].name);
    CHECK(same(a[i], b[i]));
  }
  // The indexes work on the loaded records: by uid, and by name for the uid-less ones.
  REQUIRE(after.find("uid-7") != nullptr);
  CHECK(after.find("uid-7")->name == "name-7");
  REQUIRE(after.findByName("Pod", "ns-1", "name-4") != nullptr);
  CHECK(after.findByName("Pod", "ns-1", "name-4")->uid.empty());
  CHECK(after.rootUid("uid-0") == "uid-1");
}

TEST_CASE("ObjectMemoryKeepsWhichObjectHoldsASharedName", "[memory]") {
  // u1 was first seen without a name, u2 then took the name "web", and u1 took it over when
  // its name became known: u2 is now found by uid only, though it was used last. Loading must
  // neither merge the two nor give the name back to u2.
  TempDir dir;
  ObjectTracker before(100);
  before.upsert("u1", "Pod", "shop", "").actor = "alice";
  before.upsert("u2", "Pod", "shop", "web").actor = "bob";
  before.upsert("u1", "Pod", "shop", "web");
  REQUIRE(before.findByName("Pod", "shop", "web")->uid == "u1");
  REQUIRE(before.find("u2") != nullptr);  // u2 is now the most recently used
  ObjectTracker after(100);
  const ObjectMemoryLoad r = saveAndLoad(before, after, dir);
  CHECK(r.loaded == 2);
  CHECK(after.size() == 2);
  CHECK(objectMemoryText(after) == objectMemoryText(before));
  REQUIRE(after.findByName("Pod", "shop", "web") != nullptr);
  CHECK(after.findByName("Pod", "shop", "web")->uid == "u1");
  REQUIRE(after.find("u2") != nullptr);
  CHECK(after.find("u2")->actor == "bob");
}

TEST_CASE("ObjectMemoryIntoASmallerTrackerKeepsTheMostRecent", "[memory]") {
  TempDir dir;
  ObjectTracker before(1000);
  fill(before, 40);
  ObjectTracker small(10);
  const ObjectMemoryLoad r = saveAndLoad(before, small, dir);
  CHECK(r.loaded == 40);
  CHECK(small.size() == 10);
  const auto all = oldestFirst(before), kept = oldestFirst(small);
  REQUIRE(kept.size() == 10);
  for (size_t i = 0; i < kept.size(); ++i) CHECK(same(kept[i], all[all.size() - 10 + i]));
  // The two most recently used ones are among them.
  CHECK(small.find("uid-0") != nullptr);
  CHECK(small.find("uid-7") != nullptr);
}

TEST_CASE("ObjectMemorySkipsAndCountsDamagedLinesAndLoadsTheRest", "[memory]") {
  TempDir dir;
  const std::string good1 =
      R"({"uid":"u1","kind":"DaemonSet","namespace":"default","name":"a","actor":"mallory","keys":["privileged-container/x"]})";
  const std::string good2 =
      R"({"uid":"u2","kind":"Pod","namespace":"default","name":"b","owner":"u1"})";
  const std::vector<std::string> bad = {
      R"({"uid":"u3","kind":"Pod","name":)",                                 // truncated
      R"({"uid":3,"kind":"Pod","name":"c"})",                                // wrong type
      R"({"uid":"u4","kind":"Pod","name":"d","keys":"k"})",                  // keys not a list
      R"({"uid":"u5","kind":"Pod","name":"e","hasContainers":"yes"})",       // not a bool
      R"({"uid":"u6","kind":"Pod","name":"f","containers":[{"image":1}]})",  // bad container
      R"({"kind":"Pod","namespace":"x"})",                                   // neither uid nor name
      R"(["u7"])",                                                           // not an object
      "{\"uid\":\"" + std::string(9000, 'u') + "\",\"name\":\"g\"}",         // string over 8 KiB
      "{\"uid\":\"u8\",\"name\":\"h\",\"pad\":\"" + std::string(16u << 20, 'p') +
          "\"}",                                               // line over 16 MiB
      "{\"uid\":\"u9\",\"name\":\"i\",\"bad\":\"\xff\xfe\"}",  // invalid UTF-8
  };
  std::string keys65 = R"({"uid":"u10","name":"j","keys":[)";
  for (int i = 0; i < 65; ++i) keys65 += (i ? ",\"k" : "\"k") + std::to_string(i) + "\"";
  keys65 += "]}";
  std::string text =
      "{\"kind\":\"KubeCustomsObjectMemory\",\"version\":1,\"objects\":2}\n" + good1 + "\n";
  for (const auto& b : bad) text += b + "\n";
  text += keys65 + "\n\n   \n" + good2;  // blank lines, and no newline at the end
  kc::testing::writeFile(dir.file("m.jsonl"), text);

  ObjectTracker t(100);
  const ObjectMemoryLoad r = loadObjectMemory(dir.file("m.jsonl"), t);
  CHECK(r.ok);
  CHECK(r.loaded == 2);
  CHECK(r.damaged == bad.size() + 1);
  CHECK(t.size() == 2);
  REQUIRE(t.find("u1") != nullptr);
  CHECK(t.find("u1")->actor == "mallory");
  CHECK(t.find("u1")->hasKey("privileged-container/x"));
  CHECK(t.rootUid("u2") == "u1");
}

TEST_CASE("ObjectMemorySavesOnlyWhatLoadsBack", "[memory]") {
  // The largest object the caps allow, every string 8 KiB of bytes escaped to six: its line
  // is far over 1 MiB and must still load. An object with a longer name (hostile events can
  // carry one) is left out of the file instead of being written and then refused.
  ObjectTracker t(100);
  const std::string ctl(8u << 10, '\x01');
  TrackedObject& big = t.upsert(ctl, ctl, ctl, ctl);
  big.ownerUid = big.actor = big.actorUserAgent = ctl;
  for (size_t i = 0; i < TrackedObject::kMaxChangers; ++i)
    big.addChanger(ctl.substr(1) + char('a' + i));
  for (size_t i = 0; i < TrackedObject::kMaxKeys; ++i) big.findingKeys.push_back(ctl);
  big.containers.assign(64, ContainerState{ctl, ctl, ctl});
  t.upsert("long", "Pod", "ns", std::string((8u << 10) + 1, 'n'));
  t.upsert("ok", "Pod", "ns", "fine");
  const std::string text = objectMemoryText(t);
  CHECK(text.size() > (10u << 20));
  CHECK(text.rfind("{\"kind\":\"KubeCustomsObjectMemory\",\"version\":1,\"objects\":2}\n", 0) == 0);
  ObjectTracker back(100);
  const ObjectMemoryLoad r = loadObjectMemoryText(text, "test", back);
  CHECK(r.ok);
  CHECK(r.loaded == 2);
  CHECK(r.damaged == 0);
  CHECK(objectMemoryText(back) == text);
  CHECK(back.find("long") == nullptr);
  CHECK(back.find("ok") != nullptr);
}

TEST_CASE("ObjectMemoryHeaderDecidesWhetherTheFileIsRead", "[memory]") {
  TempDir dir;
  ObjectTracker t(100);
  // No file: an empty memory.
  ObjectMemoryLoad r = loadObjectMemory(dir.file("absent.jsonl"), t);
  CHECK(r.ok);
  CHECK(r.loaded == 0);
  // An empty file too, and one of blank lines.
  for (const char* text : {"", "\n\n  \r\n\t\n"}) {
    kc::testing::writeFile(dir.file("empty.jsonl"), text);
    r = loadObjectMemory(dir.file("empty.jsonl"), t);
    CHECK(r.ok);
    CHECK(r.loaded == 0);
  }
  // Objects without the header: another kind of file, not read.
  kc::testing::writeFile(dir.file("noheader.jsonl"), R"({"uid":"u1","name":"a"})"
                                                     "\n");
  r = loadObjectMemory(dir.file("noheader.jsonl"), t);
  CHECK_FALSE(r.ok);
  CHECK(r.error.find("no header line") != std::string::npos);
  // A version this build does not know.
  kc::testing::writeFile(
      dir.file("v2.jsonl"),
      "{\"kind\":\"KubeCustomsObjectMemory\",\"version\":2}\n{\"uid\":\"u1\",\"name\":\"a\"}\n");
  r = loadObjectMemory(dir.file("v2.jsonl"), t);
  CHECK_FALSE(r.ok);
  CHECK(r.error.find("version 2") != std::string::npos);
  CHECK(t.size() == 0);
  // A directory where the file should be: an error, not a crash.
  std::filesystem::create_directory(dir.file("dir.jsonl"));
  r = loadObjectMemory(dir.file("dir.jsonl"), t);
  CHECK_FALSE(r.ok);
}

TEST_CASE("ObjectMemorySaveFailureLeavesThePreviousFile", "[memory]") {
  TempDir dir;
  ObjectTracker t(100);
  fill(t, 3);
  std::string error;
  CHECK_FALSE(saveObjectMemory(t, dir.file("missing-dir/m.jsonl"), &error));
  CHECK_FALSE(error.empty());
  // An empty tracker saves a header only, which loads as an empty memory.
  ObjectTracker empty(100);
  REQUIRE(saveObjectMemory(empty, dir.file("m.jsonl"), &error));
  CHECK(kc::testing::readFile(dir.file("m.jsonl")) ==
        "{\"kind\":\"KubeCustomsObjectMemory\",\"version\":1,\"objects\":0}\n");
  const ObjectMemoryLoad r = loadObjectMemory(dir.file("m.jsonl"), t);
  CHECK(r.ok);
  CHECK(r.loaded == 0);
  CHECK(t.size() == 3);
}

}  // namespace
}  // namespace kc::audit
