// `kube-customs audit replay`, run as a real process: the input is read in 4 MiB chunks by a
// reader thread while the detections run on the previous chunk. Lines that straddle chunks,
// an over-long line, a duplicate and an unterminated last line must all come out right, from
// a file and from stdin alike.

#include <catch2/catch.hpp>
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
  std::vector<std::string> auditIDs;  // of the findings, in output order
  std::string summary;                // the last line, on stderr
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
  for (int i = 0; i < 2000; ++i) text += execEvent(i) + "\n";  // ~6 MB: crosses a chunk
  text += R"({"pad":")" + std::string(13u << 20, 'y') + "\"}\n";  // > 12 MiB: dropped
  for (int i = 2000; i < 4000; ++i) text += execEvent(i) + "\n";
  text += execEvent(0) + "\n";  // a duplicate
  text += execEvent(4000);      // no newline at the end
  kc::testing::writeFile(dir.file("audit.log"), text);

  std::vector<std::string> want = ids(0, 4001);
  const std::string bin = kc::testing::kubeCustomsBinary();
  const Replayed fromFile = replay(bin + " audit replay " + dir.file("audit.log") + " -o json");
  CHECK(fromFile.rc == 0);
  CHECK(fromFile.auditIDs == want);
  CHECK(fromFile.summary == "replayed 4001 events: 4001 findings, 1 duplicates, 1 rejected");

  const Replayed fromStdin =
      replay(bin + " audit replay - -o json < " + dir.file("audit.log"));
  CHECK(fromStdin.rc == 0);
  CHECK(fromStdin.auditIDs == want);
  CHECK(fromStdin.summary == fromFile.summary);
}

TEST_CASE("ReplayDropsAnOverLongLastLineAndHandlesEmptyInput", "[replay]") {
  TempDir dir;
  kc::testing::writeFile(dir.file("tail.log"),
                         execEvent(1) + "\n" + R"({"pad":")" + std::string(13u << 20, 'z'));
  const std::string bin = kc::testing::kubeCustomsBinary();
  const Replayed tail = replay(bin + " audit replay " + dir.file("tail.log") + " -o json");
  CHECK(tail.rc == 0);
  CHECK(tail.auditIDs == ids(1, 2));
  CHECK(tail.summary == "replayed 1 events: 1 findings, 0 duplicates, 1 rejected");

  kc::testing::writeFile(dir.file("empty.log"), "");
  const Replayed empty = replay(bin + " audit replay " + dir.file("empty.log") + " -o json");
  CHECK(empty.rc == 0);
  CHECK(empty.auditIDs.empty());
  CHECK(empty.summary == "replayed 0 events: 0 findings, 0 duplicates, 0 rejected");
}

}  // namespace
