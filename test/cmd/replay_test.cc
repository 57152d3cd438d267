// `kube-customs audit replay`, run as a real process: the input is read in 4 MiB chunks by a
// reader thread while the detections run on the previous chunk. Lines that straddle chunks,
// an over-long line, a duplicate and an unterminated last line must all come out right, from
// a file and from stdin alike.

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test/test_util.h"

namespace {

using kc::testing::TempDir;

// An exec into a pod by a person: one pod-exec finding per event. `pad` bytes of annotation
// make lines long enough that a few thousand of them span several read chunks.
std::string execEvent(int i, size_t pad = 2800) {
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"id-)" +
         std::to_string(i) +
         R"(","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/shop/pods/web-1/exec?command=sh&container=app&stdin=true&tty=true","verb":"create","user":{"username":"alice@example.com","groups":["devs"]},"userAgent":"kubectl/v1.29.2","objectRef":{"resource":"pods","namespace":"shop","name":"web-1","apiVersion":"v1","subresource":"exec"},"responseStatus":{"metadata":{},"code":101},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.001000Z","annotations":{"pad":")" +
         std::string(pad, 'x') + R"("}})";
}

struct Replayed {
  int rc = -1;
  std::vector<std::string> auditIDs;   // of the findings, in output order
  std::string summary;                 // the "replayed ..." line, on stderr
  std::string messages;                // the "kube-customs audit replay: ..." lines, on stderr
  std::string reasons;                 // the "rejected by reason: ..." line, on stderr
  std::vector<std::string> explained;  // the "rejected line N: reason" lines, on stderr
  std::string notListed;               // the "rejected lines not listed: ..." line
};

Replayed replay(const std::string& command) {
  std::string out;
  Replayed r;
  r.rc = kc::testing::runCommand(command, out);
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("replayed ", 0) == 0) {
      r.summary = line;
      continue;
    }
    if (line.rfind("kube-customs audit replay: ", 0) == 0) {
      r.messages += line + "\n";
      continue;
    }
    if (line.rfind("rejected by reason: ", 0) == 0) {
      r.reasons = line;
      continue;
    }
    if (line.rfind("rejected line ", 0) == 0) {
      r.explained.push_back(line);
      continue;
    }
    if (line.rfind("rejected lines not listed: ", 0) == 0) {
      r.notListed = line;
      continue;
    }
    r.auditIDs.push_back(nlohmann::json::parse(line).at("auditID").get<std::string>());
  }
  return r;
}

std::vector<std::string> ids(int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i < to; ++i) v.push_back("id-" + std::to_string(i));
  return v;
}

TEST_CASE("ReplayReadsAcrossChunksSkipsAnOverLongLineAndKeepsTheUnterminatedTail", "[replay]") {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 2000; ++i) text += execEvent(i) + "\n";     // ~6 MB: crosses a chunk
  text += R"({"pad":")" + std::string(13u << 20, 'y') + "\"}\n";  // > 12 MiB: dropped
  for (int i = 2000; i < 4000; ++i) text += execEvent(i) + "\n";
  text += execEvent(0) + "\n";  // a duplicate
  text += execEvent(4000);      // no newline at the end
  kc::testing::writeFile(dir.file("audit.log"), text);

  std::vector<std::string> want = ids(0, 4001);
  const std::string bin = kc::testing::kubeCustomsBinary();
  const Replayed fromFile = replay(bin + " audit replay " + dir.file("audit.log") + " -o json");
  CHECK(fromFile.rc == 1);  // something went unjudged (the over-long line): said, not exit 0
  CHECK(fromFile.auditIDs == want);
  CHECK(fromFile.summary == "replayed 4001 events: 4001 findings, 1 duplicates, 1 rejected");
  CHECK(fromFile.messages.find("1 document(s) or event(s) over the size caps") !=
        std::string::npos);

  const Replayed fromStdin = replay(bin + " audit replay - -o json < " + dir.file("audit.log"));
  CHECK(fromStdin.rc == 1);
  CHECK(fromStdin.auditIDs == want);
  CHECK(fromStdin.summary == fromFile.summary);
  CHECK(fromStdin.messages == fromFile.messages);
}

TEST_CASE("ReplayDropsAnOverLongLastLineAndHandlesEmptyInput", "[replay]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("tail.log"),
                         execEvent(1) + "\n" + R"({"pad":")" + std::string(13u << 20, 'z'));
  const std::string bin = kc::testing::kubeCustomsBinary();
  const Replayed tail = replay(bin + " audit replay " + dir.file("tail.log") + " -o json");
  CHECK(tail.rc == 1);
  CHECK(tail.messages.find("1 document(s) or event(s) over the size caps") != std::string::npos);
  CHECK(tail.auditIDs == ids(1, 2));
  CHECK(tail.summary == "replayed 1 events: 1 findings, 0 duplicates, 1 rejected");

  kc::testing::writeFile(dir.file("empty.log"), "");
  const Replayed empty = replay(bin + " audit replay " + dir.file("empty.log") + " -o json");
  CHECK(empty.rc == 0);
  CHECK(empty.auditIDs.empty());
  CHECK(empty.summary == "replayed 0 events: 0 findings, 0 duplicates, 0 rejected");
  CHECK(empty.messages.empty());
}

// An EventList over the 12 MiB document cap (e.g. a saved webhook batch) cannot be judged
// whole: replay says so and how to replay its items, and exits 1 after judging everything
// else; its items as JSON lines are all judged.
TEST_CASE("ReplayOfAnEventListOverTheDocumentCapSaysSoAndExitsOne", "[replay]") {
  TempDir dir;
  std::string items;
  for (int i = 1; i < 4601; ++i) items += (i > 1 ? "," : "") + execEvent(i);  // ~13 MiB
  REQUIRE(items.size() > (12u << 20));
  kc::testing::writeFile(dir.file("list.json"),
                         execEvent(0) + "\n" +
                             R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[)" +
                             items + "]}\n");
  const std::string bin = kc::testing::kubeCustomsBinary();
  for (const std::string& input : {dir.file("list.json"), "- < " + dir.file("list.json")}) {
    INFO(input);
    const Replayed r = replay(bin + " audit replay -o json " + input);
    CHECK(r.rc == 1);
    CHECK(r.auditIDs == ids(0, 1));  // the event before it is judged
    CHECK(r.summary == "replayed 1 events: 1 findings, 0 duplicates, 1 rejected");
    CHECK(r.messages ==
          "kube-customs audit replay: 1 document(s) or event(s) over the size caps (12 MiB a "
          "document, 3 MiB an event) skipped, their events not judged; an EventList over the "
          "document cap can be replayed as JSON lines of its items: jq -c '.items[]' FILE | "
          "kube-customs audit replay -\n");
  }
  // Its items as JSON lines, as the message says (what jq -c '.items[]' gives): all judged.
  std::string lines;
  for (int i = 1; i < 4601; ++i) lines += execEvent(i) + "\n";
  kc::testing::writeFile(dir.file("items.log"), lines);
  const Replayed split = replay(bin + " audit replay -o json - < " + dir.file("items.log"));
  CHECK(split.rc == 0);
  CHECK(split.auditIDs == ids(1, 4601));
  CHECK(split.messages.empty());
}

// Findings that never reached their reader: exit 1 with the reason, and the memory is not
// saved (it would record them as reported, and the next replay would not report them).
TEST_CASE("ReplayExitsOneAndSavesNoStateWhenItsOutputCannotBeWritten", "[replay][output]") {
  TempDir dir;
  std::string log;
  for (int i = 0; i < 50; ++i) log += execEvent(i, 100) + "\n";
  kc::testing::writeFile(dir.file("a.log"), log);
  const std::string bin = kc::testing::kubeCustomsBinary();
  const std::string memory = dir.file("memory.jsonl");
  for (const char* format : {"text", "json"}) {
    INFO(format);
    const std::string cmd =
        bin + " audit replay -o " + format + " --memory " + memory + " " + dir.file("a.log");
    std::string out;
    // In a subshell, so that runCommand's 2>&1 takes the pipe, not the redirected stdout.
    CHECK(kc::testing::runCommand("(" + cmd + " >/dev/full)", out) == 1);
    CHECK(out.find("kube-customs audit replay: cannot write the output: No space left on "
                   "device\nkube-customs audit replay: the state files were left unchanged\n") !=
          std::string::npos);
    CHECK_FALSE(std::filesystem::exists(memory));
    CHECK(kc::testing::runCommand("(" + cmd + " >&-)", out) == 1);
    CHECK(out.find("kube-customs audit replay: cannot write the output: Bad file descriptor") !=
          std::string::npos);
    CHECK_FALSE(std::filesystem::exists(memory));
    CHECK(kc::testing::runIntoClosedPipe(
              {bin, "audit", "replay", "-o", format, "--memory", memory, dir.file("a.log")}, out) ==
          1);
    CHECK(out.find("kube-customs audit replay: cannot write the output: Broken pipe") !=
          std::string::npos);
    CHECK_FALSE(std::filesystem::exists(memory));
  }
  // With a working output the same replay reports all 50 and saves the memory.
  const Replayed ok =
      replay(bin + " audit replay -o json --memory " + memory + " " + dir.file("a.log"));
  CHECK(ok.rc == 0);
  CHECK(ok.auditIDs == ids(0, 50));
  CHECK(std::filesystem::exists(memory));
}

// `baseline show` prints the baseline: one that cannot be written is no success either.
TEST_CASE("BaselineShowExitsOneWhenItsOutputCannotBeWritten", "[replay][baseline][output]") {
  TempDir dir;
  std::string out;
  const std::string cmd =
      kc::testing::kubeCustomsBinary() + " baseline show --file " + dir.file("missing.json");
  REQUIRE(kc::testing::runCommand(cmd, out) == 0);
  CHECK(kc::testing::runCommand("(" + cmd + " >/dev/full)", out) == 1);
  CHECK(out == "kube-customs baseline: cannot write the output: No space left on device\n");
}

// A log a crash of the writer left a torn event and NUL bytes in: the event after the NULs is
// read (the torn one is rejected), from a file as the log follower reads it.
TEST_CASE("ReplayReadsTheEventAfterARunOfNulBytes", "[replay]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("audit.log"), execEvent(1) + "\n" + execEvent(2).substr(0, 200) +
                                                    std::string(4096, '\0') + execEvent(3) + "\n");
  const Replayed r = replay(kc::testing::kubeCustomsBinary() + " audit replay " +
                            dir.file("audit.log") + " -o json");
  CHECK(r.rc == 0);
  CHECK(r.auditIDs == std::vector<std::string>{"id-1", "id-3"});
  CHECK(r.summary == "replayed 2 events: 2 findings, 0 duplicates, 1 rejected");
}

// EKS audit events exported from CloudWatch Logs: a subscription payload (two events) and a
// FilterLogEvents answer (one), one JSON document per line, replayed like any log.
TEST_CASE("ReplayReadsEksEventsFromCloudWatchLogsPayloads", "[replay]") {
  auto message = [](int i) {
    return nlohmann::json{{"id", std::to_string(3819516249011839068LL + i)},
                          {"timestamp", 1714557600100 + i},
                          {"message", execEvent(i, 10)}};
  };
  const nlohmann::json subscription = {{"messageType", "DATA_MESSAGE"},
                                       {"owner", "111122223333"},
                                       {"logGroup", "/aws/eks/prod/cluster"},
                                       {"logStream", "kube-apiserver-audit-6a1b2c3d4e5f6789"},
                                       {"subscriptionFilters", {"kube-customs"}},
                                       {"logEvents", {message(1), message(2)}}};
  const nlohmann::json filtered = {{"events", {message(3)}}, {"searchedLogStreams", nullptr}};
  TempDir dir;
  kc::testing::writeFile(dir.file("eks.jsonl"),
                         subscription.dump() + "\n" + filtered.dump() + "\n");
  const Replayed r = replay(kc::testing::kubeCustomsBinary() + " audit replay " +
                            dir.file("eks.jsonl") + " -o json");
  CHECK(r.rc == 0);
  CHECK(r.auditIDs == std::vector<std::string>{"id-1", "id-2", "id-3"});
  CHECK(r.summary == "replayed 3 events: 3 findings, 0 duplicates, 0 rejected");
}

// The same log read from stdin (through the reader thread, not the memory map): the event after
// the NULs is read as well, whether the run of them falls inside a read or across reads.
TEST_CASE("ReplayFromStdinReadsTheEventAfterARunOfNulBytes", "[replay]") {
  TempDir dir;
  std::string text = execEvent(1) + "\n" + execEvent(2).substr(0, 200) + std::string(4096, '\0') +
                     execEvent(3) + "\n";
  // A run of NULs ending just past the reader's first 4 MiB read, then an event.
  text += std::string((4u << 20) + 100 - text.size(), '\0') + execEvent(4) + "\n";
  kc::testing::writeFile(dir.file("audit.log"), text);
  const std::string bin = kc::testing::kubeCustomsBinary();
  for (const std::string& command :
       {bin + " audit replay -o json - < " + dir.file("audit.log"),
        "cat " + dir.file("audit.log") + " | " + bin + " audit replay -o json -",
        bin + " audit replay -o json " + dir.file("audit.log")}) {
    INFO(command);
    const Replayed r = replay(command);
    CHECK(r.rc == 0);
    CHECK(r.auditIDs == std::vector<std::string>{"id-1", "id-3", "id-4"});
    CHECK(r.summary == "replayed 3 events: 3 findings, 0 duplicates, 1 rejected");
  }
}

// A file from a cluster that produced nothing is explained: the summary counts the rejections by
// reason, and --explain-rejected gives each one's line number and reason, from a file and from
// stdin alike (the line numbers counting an over-long line skipped before the parser sees it).
TEST_CASE("ReplayCountsRejectionsByReasonAndExplainsEachLine", "[replay]") {
  TempDir dir;
  std::string text;
  text += execEvent(1) + "\n";                                         // line 1
  text += "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\"\n";  // 2: torn
  text += "\n";                                                        // 3: blank
  text += "[1,2]\n";                                                   // 4: 2 items
  text += R"({"kind":"Event","apiVersion":"audit.k8s.io/v2","auditID":"x"})"
          "\n";                                                   // 5
  text += R"({"pad":")" + std::string(13u << 20, 'y') + "\"}\n";  // 6: too long
  text += execEvent(2) + "\n";                                    // 7
  text += R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete"})"
          "\n";
  text += "not json";  // 9, unterminated
  kc::testing::writeFile(dir.file("audit.log"), text);
  const std::string bin = kc::testing::kubeCustomsBinary();
  const std::vector<std::string> want = {
      "rejected line 2: invalid_json", "rejected line 4: not_an_event",
      "rejected line 4: not_an_event", "rejected line 5: unsupported_version",
      "rejected line 6: too_large",    "rejected line 8: missing_field",
      "rejected line 9: invalid_json"};
  for (const std::string& input : {dir.file("audit.log"), "- < " + dir.file("audit.log")}) {
    INFO(input);
    const Replayed plain = replay(bin + " audit replay -o json " + input);
    CHECK(plain.rc == 1);  // the over-long line went unjudged
    CHECK(plain.auditIDs == std::vector<std::string>{"id-1", "id-2"});
    CHECK(plain.summary == "replayed 2 events: 2 findings, 0 duplicates, 7 rejected");
    CHECK(plain.reasons ==
          "rejected by reason: too_large 1, invalid_json 2, missing_field 1, "
          "unsupported_version 1, not_an_event 2");
    CHECK(plain.explained.empty());

    const Replayed r = replay(bin + " audit replay -o json --explain-rejected " + input);
    CHECK(r.auditIDs == plain.auditIDs);
    CHECK(r.summary == plain.summary);
    CHECK(r.reasons == plain.reasons);
    CHECK(r.explained == want);
    CHECK(r.notListed.empty());
  }
  // A clean replay says nothing more.
  kc::testing::writeFile(dir.file("clean.log"), execEvent(1) + "\n");
  const Replayed clean =
      replay(bin + " audit replay -o json --explain-rejected " + dir.file("clean.log"));
  CHECK(clean.rc == 0);
  CHECK(clean.reasons.empty());
  CHECK(clean.explained.empty());
}

// --explain-rejected is bounded: the first 1000 rejections, then how many more.
TEST_CASE("ReplayExplainsAtMostAThousandRejections", "[replay]") {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 1500; ++i) text += "nope\n";
  text += execEvent(1) + "\n";
  kc::testing::writeFile(dir.file("audit.log"), text);
  const Replayed r =
      replay(kc::testing::kubeCustomsBinary() + " audit replay -o json --explain-rejected - < " +
             dir.file("audit.log"));
  CHECK(r.rc == 0);
  CHECK(r.auditIDs == std::vector<std::string>{"id-1"});
  CHECK(r.summary == "replayed 1 events: 1 findings, 0 duplicates, 1500 rejected");
  CHECK(r.reasons == "rejected by reason: invalid_json 1500");
  REQUIRE(r.explained.size() == 1000);
  CHECK(r.explained.front() == "rejected line 1: invalid_json");
  CHECK(r.explained.back() == "rejected line 1000: invalid_json");
  CHECK(r.notListed == "rejected lines not listed: 500 (--explain-rejected lists the first 1000)");
}

// The finding lines of a replay (-o json), in output order; the summary line left out.
std::vector<std::string> findingLines(const std::string& command, int* rc = nullptr) {
  std::string out;
  const int code = kc::testing::runCommand(command, out);
  if (rc) *rc = code;
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == '{') lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> readLines(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(kc::testing::readFile(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string joinLines(const std::vector<std::string>& lines, size_t from, size_t to) {
  std::string text;
  for (size_t i = from; i < to; ++i) text += lines[i] + "\n";
  return text;
}

TEST_CASE("ReplayWithMemoryFindsAcrossAnySplitWhatOneReplayFinds", "[replay][memory]") {
  // The emulated attack, then a pod the daemon-set controller creates for the attacker's
  // privileged DaemonSet, then the end of the attack's exec session. In one replay the pod is
  // attributed to the attacker and not reported again for what the DaemonSet was reported
  // for, and the session, reported on its start, is not reported again on its end. Cut in two
  // replays that carry the memory, the findings must be the same, wherever the cut falls.
  TempDir dir;
  const std::string data = std::string(KC_SOURCE_DIR) + "/test/testdata/";
  std::vector<std::string> events = readLines(data + "audit_attack.jsonl");
  for (const auto& l : readLines(data + "audit_daemonset_pod.jsonl")) events.push_back(l);
  std::string execEnd;
  for (const auto& l : events) {
    if (l.find("\"stage\":\"ResponseStarted\"") == std::string::npos) continue;
    execEnd = l;
    execEnd.replace(execEnd.find("ResponseStarted"), 15, "ResponseComplete");
  }
  REQUIRE(!execEnd.empty());
  events.push_back(execEnd);
  REQUIRE(events.size() == 9);
  kc::testing::writeFile(dir.file("all.log"), joinLines(events, 0, events.size()));
  const std::string bin = kc::testing::kubeCustomsBinary() + " audit replay -o json ";
  const std::vector<std::string> whole = findingLines(bin + dir.file("all.log"));
  REQUIRE(whole.size() >= 12);

  for (size_t cut = 1; cut < events.size(); ++cut) {
    INFO("cut before event " << cut);
    std::filesystem::remove(dir.file("memory.jsonl"));
    std::filesystem::remove(dir.file("memory.requests.journal"));  // saved with it
    kc::testing::writeFile(dir.file("a.log"), joinLines(events, 0, cut));
    kc::testing::writeFile(dir.file("b.log"), joinLines(events, cut, events.size()));
    int rcA = -1, rcB = -1;
    std::vector<std::string> split =
        findingLines(bin + "--memory " + dir.file("memory.jsonl") + " " + dir.file("a.log"), &rcA);
    const std::vector<std::string> second =
        findingLines(bin + "--memory " + dir.file("memory.jsonl") + " " + dir.file("b.log"), &rcB);
    CHECK(rcA == 0);
    CHECK(rcB == 0);
    split.insert(split.end(), second.begin(), second.end());
    CHECK(split == whole);
  }

  // Without the memory, the cut after the DaemonSet loses the attribution: the pod is charged
  // to the controller, and reported again for the DaemonSet's privileged container.
  kc::testing::writeFile(dir.file("a.log"), joinLines(events, 0, 2));
  kc::testing::writeFile(dir.file("b.log"), joinLines(events, 2, events.size()));
  const std::vector<std::string> forgetful = findingLines(bin + dir.file("b.log"));
  bool chargedToController = false, privilegedAgain = false;
  for (const auto& line : forgetful) {
    const auto f = nlohmann::json::parse(line);
    if (f["name"] != "node-agent-7xk2p") continue;
    chargedToController |= f["user"] == "system:serviceaccount:kube-system:daemon-set-controller";
    privilegedAgain |= f["rule"] == "privileged-container";
  }
  CHECK(chargedToController);
  CHECK(privilegedAgain);
}

TEST_CASE("ReplayRefusesAMemoryFileThatIsNotOne", "[replay][memory]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("memory.jsonl"), "{\"kind\":\"Baseline\"}\n");
  kc::testing::writeFile(dir.file("a.log"), execEvent(1) + "\n");
  std::string out;
  const int rc =
      kc::testing::runCommand(kc::testing::kubeCustomsBinary() + " audit replay --memory " +
                                  dir.file("memory.jsonl") + " " + dir.file("a.log"),
                              out);
  CHECK(rc == 2);
  CHECK(out.find("not an object memory file") != std::string::npos);
  // Left as it was.
  CHECK(kc::testing::readFile(dir.file("memory.jsonl")) == "{\"kind\":\"Baseline\"}\n");
}

TEST_CASE("AnAuditIdReusedByTheClientDoesNotHideItsRequest", "[replay]") {
  // The API server takes auditID from the client's Audit-ID header. An attacker who saw the ID
  // of an earlier request echoed back gives it to the next one: a benign list, then a
  // privileged pod with the list's ID and stage; a harmless exec, then one that reads the
  // service-account token with the exec's ID. Neither may pass for a repeat; a real repeat
  // (the same event delivered twice) still does.
  const std::string data = std::string(KC_SOURCE_DIR) + "/test/testdata/audit_attack.jsonl";
  const std::vector<std::string> attack = readLines(data);
  nlohmann::json tokenExec = nlohmann::json::parse(attack[2]);
  nlohmann::json pod = nlohmann::json::parse(attack[3]);
  REQUIRE(tokenExec["stage"] == "ResponseStarted");
  REQUIRE(pod["stage"] == "ResponseComplete");

  nlohmann::json list = pod;  // the benign request whose ID the pod reuses
  list["verb"] = "list";
  list["level"] = "Metadata";
  list["responseStatus"] = {{"metadata", nlohmann::json::object()}, {"code", 200}};
  list.erase("requestObject");
  list.erase("responseObject");
  list["requestReceivedTimestamp"] = "2026-11-30T09:59:00.000000Z";
  list["stageTimestamp"] = "2026-11-30T09:59:00.020000Z";
  nlohmann::json ls = tokenExec;  // the harmless exec whose ID the token read reuses
  ls["requestURI"] =
      "/api/v1/namespaces/shop/pods/checkout-7d9f8c6b5-x2k4q/"
      "exec?command=ls&container=app&stdout=true";
  ls["requestReceivedTimestamp"] = "2026-11-30T09:58:00.000000Z";
  ls["stageTimestamp"] = "2026-11-30T09:58:00.500000Z";

  TempDir dir;
  kc::testing::writeFile(dir.file("a.log"), list.dump() + "\n" + pod.dump() + "\n" + ls.dump() +
                                                "\n" + tokenExec.dump() + "\n" + pod.dump() + "\n");
  std::string out;
  REQUIRE(kc::testing::runCommand(
              kc::testing::kubeCustomsBinary() + " audit replay -o json " + dir.file("a.log"),
              out) == 0);
  int podFindings = 0, tokenFindings = 0, reuses = 0;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    const auto f = nlohmann::json::parse(line);
    if (f["rule"] == "audit-id-reused") {
      // Each reusing request is itself reported once, by the identity that sent it.
      CHECK(((f["auditID"] == pod["auditID"] && f["verb"] == "create") ||
             (f["auditID"] == tokenExec["auditID"] &&
              f["summary"].get<std::string>().find("command=cat") != std::string::npos)));
      ++reuses;
      continue;
    }
    if (f["auditID"] == pod["auditID"] && f["name"] == "debug") ++podFindings;
    if (f["auditID"] == tokenExec["auditID"] && f["rule"] == "pod-exec" && f["severity"] == "high")
      ++tokenFindings;
  }
  CHECK(podFindings == 2);    // privileged-container and policy-violation, as on their own
  CHECK(tokenFindings == 1);  // the token read judged, although the harmless exec came first
  CHECK(reuses == 2);         // the pod and the token read, not the repeated pod
  CHECK(out.find("replayed 4 events: ") != std::string::npos);
  CHECK(out.find(", 1 duplicates, ") != std::string::npos);  // the pod delivered twice
}

TEST_CASE("ReplayHelpExitsZeroAndUsageErrorsExitTwo", "[replay]") {
  const std::string bin = kc::testing::kubeCustomsBinary() + " audit replay";
  std::string out;
  CHECK(kc::testing::runCommand(bin + " --help", out) == 0);
  CHECK(out.rfind("usage: kube-customs audit replay", 0) == 0);
  CHECK(out.find("--memory FILE") != std::string::npos);
  CHECK(kc::testing::runCommand(bin, out) == 2);  // no FILE
  CHECK(out.find("need one FILE or -") != std::string::npos);
  CHECK(kc::testing::runCommand(bin + " a b", out) == 2);
  CHECK(kc::testing::runCommand(bin + " --no-such-flag x", out) == 2);
  CHECK(kc::testing::runCommand(bin + " -o yaml x", out) == 2);
  CHECK(kc::testing::runCommand(bin + " /nonexistent/audit.log", out) == 2);
}

// --- The learned baseline through the CLI: `audit replay --baseline` and `baseline show|accept`.

// 2026-11-30T08:00:00Z, when the learning starts (the first event's time).
constexpr int64_t kLearningStart = 1796025600LL * 1000000;

// `user` creates Deployment shop/`name` running `image` with kubectl, `minutes` after 08:00.
std::string createDeployment(int id, int minutes, const std::string& user, const std::string& name,
                             const std::string& image) {
  char at[64], done[64];
  std::snprintf(at, sizeof at, "2026-11-30T%02d:%02d:00.000000Z", 8 + minutes / 60, minutes % 60);
  std::snprintf(done, sizeof done, "2026-11-30T%02d:%02d:00.040000Z", 8 + minutes / 60,
                minutes % 60);
  nlohmann::json container = {{"name", "app"}, {"image", image}};
  container["securityContext"] = {{"runAsNonRoot", true},
                                  {"allowPrivilegeEscalation", false},
                                  {"capabilities", {{"drop", {"ALL"}}}},
                                  {"seccompProfile", {{"type", "RuntimeDefault"}}}};
  nlohmann::json object = {{"kind", "Deployment"}, {"apiVersion", "apps/v1"}};
  object["metadata"] = {{"name", name},
                        {"namespace", "shop"},
                        {"uid", "d1000000-0000-4000-8000-00000000000" + std::to_string(id)}};
  object["spec"]["replicas"] = 2;
  object["spec"]["selector"]["matchLabels"]["app"] = name;
  object["spec"]["template"]["metadata"]["labels"]["app"] = name;
  object["spec"]["template"]["spec"]["containers"] = nlohmann::json::array({container});
  const nlohmann::json event = {
      {"kind", "Event"},
      {"apiVersion", "audit.k8s.io/v1"},
      {"level", "RequestResponse"},
      {"auditID", "b1000000-0000-4000-8000-00000000000" + std::to_string(id)},
      {"stage", "ResponseComplete"},
      {"requestURI", "/apis/apps/v1/namespaces/shop/deployments?fieldManager=kubectl-create"},
      {"verb", "create"},
      {"user", {{"username", user}, {"groups", {"system:authenticated"}}}},
      {"sourceIPs", {"10.0.4.17"}},
      {"userAgent", "kubectl/v1.32.0 (linux/amd64) kubernetes/abc"},
      {"objectRef",
       {{"resource", "deployments"},
        {"namespace", "shop"},
        {"name", name},
        {"apiGroup", "apps"},
        {"apiVersion", "v1"}}},
      {"responseStatus", {{"metadata", nlohmann::json::object()}, {"code", 201}}},
      {"requestReceivedTimestamp", at},
      {"stageTimestamp", done},
      {"annotations", {{"authorization.k8s.io/decision", "allow"}}},
      {"requestObject", object},
      {"responseObject", object}};
  return event.dump() + "\n";
}

std::string shellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The unexpected-* findings of a replay, parsed.
std::vector<nlohmann::json> baselineFindings(const std::vector<std::string>& lines) {
  std::vector<nlohmann::json> out;
  for (const auto& l : lines) {
    auto f = nlohmann::json::parse(l);
    if (f["rule"].get<std::string>().rfind("unexpected-", 0) == 0) out.push_back(std::move(f));
  }
  return out;
}

// The state of `value` under shop/Deployment `dimension` in `baseline show` output ("" when
// absent).
std::string stateOf(const nlohmann::json& shown, const std::string& dimension,
                    const std::string& value) {
  for (const auto& k : shown["keys"]) {
    if (k["namespace"] != "shop" || k["kind"] != "Deployment") continue;
    for (const auto& v : k[dimension]) {
      if (v["value"] == value) return v["state"].get<std::string>();
    }
  }
  return "";
}

nlohmann::json showBaseline(const std::string& file) {
  std::string out;
  REQUIRE(kc::testing::runCommand(
              kc::testing::kubeCustomsBinary() + " baseline show --file " + file, out) == 0);
  return nlohmann::json::parse(out);
}

TEST_CASE("ReplayLearnsABaselineThenReportsAndAcceptsANewCreator", "[replay][baseline]") {
  TempDir dir;
  const std::string image = "registry.example.com/shop/web:1.4.2";
  // Learning (one hour of event time, from 08:00): alice and dave create; then bob, never seen
  // creating Deployments in shop, at 10:00.
  const std::string log = createDeployment(1, 0, "alice@example.com", "web", image) +
                          createDeployment(2, 50, "dave@example.com", "worker", image) +
                          createDeployment(3, 120, "bob@example.com", "cart", image);
  kc::testing::writeFile(dir.file("audit.log"), log);
  const std::string baseline = dir.file("baseline.json");
  const std::string bin = kc::testing::kubeCustomsBinary();
  const std::string replay =
      bin + " audit replay -o json --learning-period-hours 1 --baseline " + baseline + " ";

  int rc = -1;
  const auto first =
      baselineFindings(findingLines(replay + "--update-baseline " + dir.file("audit.log"), &rc));
  CHECK(rc == 0);
  REQUIRE(first.size() == 1);
  const nlohmann::json& novelty = first[0];
  CHECK(novelty["rule"] == "unexpected-creator");
  CHECK(novelty["severity"] == "medium");
  CHECK(novelty["technique"] == "T1078");
  CHECK(novelty["namespace"] == "shop");
  CHECK(novelty["kind"] == "Deployment");
  CHECK(novelty["name"] == "cart");
  CHECK(novelty["user"] == "bob@example.com");
  CHECK(novelty["details"]["dimension"] == "creator");
  CHECK(novelty["details"]["value"] == "bob@example.com");

  // A longer learning period (same events, fresh baseline) reports nothing: the period is
  // counted in event time, from the first event.
  CHECK(baselineFindings(findingLines(bin + " audit replay -o json --learning-period-hours 3 " +
                                      "--baseline " + dir.file("other.json") + " " +
                                      dir.file("audit.log")))
            .empty());
  CHECK_FALSE(std::filesystem::exists(dir.file("other.json")));  // no --update-baseline

  // The file holds what was learned and the flagged novelty.
  nlohmann::json shown = showBaseline(baseline);
  INFO(shown.dump());
  CHECK(shown["version"] == 1);
  CHECK(shown["learningStartMicros"] == kLearningStart + 40000);  // 08:00:00.04
  // The learning period replay ran with is in the file (`show` prints its own: see
  // BaselineShowAndAcceptKeepTheLearningPeriodOfTheFile).
  CHECK(nlohmann::json::parse(kc::testing::readFile(baseline))["learningMicros"] ==
        int64_t{3600} * 1000000);
  CHECK(stateOf(shown, "creator", "alice@example.com") == "learned");
  CHECK(stateOf(shown, "creator", "dave@example.com") == "learned");
  CHECK(stateOf(shown, "creator", "bob@example.com") == "flagged");
  CHECK(stateOf(shown, "image-source", "registry.example.com/shop/web") == "learned");
  CHECK(stateOf(shown, "user-agent", "kubectl") == "learned");

  // Accepting the finding line as replay printed it.
  std::string out;
  CHECK(kc::testing::runCommand(bin + " baseline accept --file " + baseline + " --finding " +
                                    shellQuote(novelty.dump()),
                                out) == 0);
  CHECK(out.find("accepted into " + baseline) != std::string::npos);
  shown = showBaseline(baseline);
  CHECK(stateOf(shown, "creator", "bob@example.com") == "accepted");
  CHECK(stateOf(shown, "creator", "alice@example.com") == "learned");

  // Replayed again against it: nothing unexpected, and the file is left as it was.
  const std::string before = kc::testing::readFile(baseline);
  CHECK(baselineFindings(findingLines(replay + dir.file("audit.log"), &rc)).empty());
  CHECK(rc == 0);
  CHECK(kc::testing::readFile(baseline) == before);

  // An accept names a value before it is ever seen: carol, at 12:00, is reported against the
  // baseline as it is, and not against a copy where she was accepted by dimension and value.
  kc::testing::writeFile(dir.file("later.log"),
                         createDeployment(4, 240, "carol@example.com", "search", image));
  std::filesystem::copy_file(baseline, dir.file("accepted.json"));
  CHECK(kc::testing::runCommand(bin + " baseline accept --file " + dir.file("accepted.json") +
                                    " --namespace shop --kind Deployment --dimension creator"
                                    " --value carol@example.com",
                                out) == 0);
  CHECK(stateOf(showBaseline(dir.file("accepted.json")), "creator", "carol@example.com") ==
        "accepted");
  const auto carol = baselineFindings(findingLines(replay + dir.file("later.log")));
  REQUIRE(carol.size() == 1);
  CHECK(carol[0]["details"]["value"] == "carol@example.com");
  CHECK(baselineFindings(findingLines(bin + " audit replay -o json --learning-period-hours 1 " +
                                      "--baseline " + dir.file("accepted.json") + " " +
                                      dir.file("later.log")))
            .empty());
}

TEST_CASE("BaselineCommandsRejectBadUsageAndNonBaselineFindings", "[replay][baseline]") {
  TempDir dir;
  const std::string bin = kc::testing::kubeCustomsBinary();
  const std::string file = dir.file("baseline.json");
  std::string out;
  CHECK(kc::testing::runCommand(bin + " baseline", out) == 2);
  CHECK(out.find("usage: kube-customs baseline show --file FILE") != std::string::npos);
  CHECK(kc::testing::runCommand(bin + " baseline frobnicate --file " + file, out) == 2);
  CHECK(out.find("usage: kube-customs baseline") != std::string::npos);
  CHECK(kc::testing::runCommand(bin + " baseline show", out) == 2);
  CHECK(out.find("--file is required") != std::string::npos);
  CHECK(out.find("usage: kube-customs baseline") != std::string::npos);
  CHECK(kc::testing::runCommand(bin + " baseline show --file " + file + " --no-such-flag x", out) ==
        2);
  CHECK(out.find("usage: kube-customs baseline") != std::string::npos);
  // accept needs a finding, or all of namespace, kind, a known dimension and value.
  CHECK(kc::testing::runCommand(bin + " baseline accept --file " + file +
                                    " --namespace shop --kind Deployment --value x",
                                out) == 2);
  CHECK(out.find("usage: kube-customs baseline") != std::string::npos);
  CHECK(kc::testing::runCommand(bin + " baseline accept --file " + file +
                                    " --namespace shop --kind Deployment --dimension colour"
                                    " --value x",
                                out) == 2);
  CHECK(out.find("usage: kube-customs baseline") != std::string::npos);
  CHECK(kc::testing::runCommand(bin + " baseline accept --file " + file + " --finding '{oops'",
                                out) == 2);
  CHECK(out.find("--finding is not valid JSON") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(file));  // nothing was written by any of these

  // A finding of another rule is refused, and the file is not created.
  kc::testing::writeFile(dir.file("exec.log"), execEvent(1, 0) + "\n");
  const std::vector<std::string> exec =
      findingLines(bin + " audit replay -o json " + dir.file("exec.log"));
  REQUIRE(exec.size() == 1);
  REQUIRE(nlohmann::json::parse(exec[0])["rule"] == "pod-exec");
  const int rc = kc::testing::runCommand(
      bin + " baseline accept --file " + file + " --finding " + shellQuote(exec[0]), out);
  CHECK(rc != 0);
  CHECK(rc != 2);  // a refusal, not a usage error
  CHECK(out.find("\"pod-exec\" is not a baseline rule") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(file));

  // A baseline file that is not one is refused by show, accept and replay alike.
  kc::testing::writeFile(file, "{\"kind\":\"ObjectMemory\"}\n");
  CHECK(kc::testing::runCommand(bin + " baseline show --file " + file, out) == 2);
  CHECK(out.find("not a kube-customs baseline") != std::string::npos);
  CHECK(kc::testing::runCommand(bin + " baseline accept --file " + file +
                                    " --namespace shop --kind Deployment --dimension creator"
                                    " --value x",
                                out) == 2);
  CHECK(kc::testing::runCommand(
            bin + " audit replay --baseline " + file + " " + dir.file("exec.log"), out) == 2);
  CHECK(out.find("not a kube-customs baseline") != std::string::npos);
  CHECK(kc::testing::readFile(file) == "{\"kind\":\"ObjectMemory\"}\n");

  // The learning period must be a number >= 0.
  for (const char* bad : {"-1", "soon"}) {
    INFO(bad);
    CHECK(kc::testing::runCommand(
              bin + " audit replay --learning-period-hours " + bad + " " + dir.file("exec.log"),
              out) == 2);
    CHECK(out.find("--learning-period-hours needs a number >= 0") != std::string::npos);
  }
}

// `baseline show` prints the file, and `accept` changes one value in it: both keep the
// learning period the file was written with (not the 7 days of a default baseline).
TEST_CASE("BaselineShowAndAcceptKeepTheLearningPeriodOfTheFile", "[replay][baseline]") {
  TempDir dir;
  kc::testing::writeFile(
      dir.file("audit.log"),
      createDeployment(1, 0, "alice@example.com", "web", "registry.example.com/shop/web:1.4.2"));
  const std::string baseline = dir.file("baseline.json");
  const std::string bin = kc::testing::kubeCustomsBinary();
  std::string out;
  REQUIRE(kc::testing::runCommand(bin + " audit replay --learning-period-hours 1 --baseline " +
                                      baseline + " --update-baseline " + dir.file("audit.log"),
                                  out) == 0);
  const int64_t hour = int64_t{3600} * 1000000;
  REQUIRE(nlohmann::json::parse(kc::testing::readFile(baseline))["learningMicros"] == hour);
  CHECK(showBaseline(baseline)["learningMicros"] == hour);
  REQUIRE(kc::testing::runCommand(bin + " baseline accept --file " + baseline +
                                      " --namespace shop --kind Deployment --dimension creator"
                                      " --value bob@example.com",
                                  out) == 0);
  CHECK(nlohmann::json::parse(kc::testing::readFile(baseline))["learningMicros"] == hour);
}

}  // namespace
