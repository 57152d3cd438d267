#include "controller/events/audit_event.h"

#include <zlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <vector>

namespace kc::audit {
namespace {

// A pod create at RequestResponse level, as the apiserver's log backend writes it.
constexpr std::string_view kPodCreate =
    R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"5f0a1b2c-0d1e-4f5a-9b8c-7d6e5f4a3b2c","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods?fieldManager=kubectl-run","verb":"create","user":{"username":"alice@example.com","uid":"u-1","groups":["devs","system:authenticated"]},"sourceIPs":["10.0.0.7","192.168.1.2"],"userAgent":"kubectl/v1.29.1 (linux/amd64) kubernetes/bc401b9","objectRef":{"resource":"pods","namespace":"shop","name":"web","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web","namespace":"shop"},"spec":{"containers":[{"name":"web","image":"nginx:1.25"}]}},"responseObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web","namespace":"shop","uid":"9e1c"},"spec":{"containers":[{"name":"web","image":"nginx:1.25"}]}},"requestReceivedTimestamp":"2024-05-01T10:00:00.100000Z","stageTimestamp":"2024-05-01T10:00:00.250000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"devs/shop\""}})";

// A get at Metadata level, no bodies.
constexpr std::string_view kPodGet =
    R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/shop/pods/web","verb":"get","user":{"username":"system:serviceaccount:shop:app","groups":["system:serviceaccounts"]},"sourceIPs":["10.0.0.9"],"userAgent":"app/1.0","objectRef":{"resource":"pods","namespace":"shop","name":"web","apiVersion":"v1"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2024-05-01T10:00:01.000000Z","stageTimestamp":"2024-05-01T10:00:01.002000Z"})";

struct Collected {
  std::vector<std::string> ids;
  std::vector<std::string> stages;
  std::vector<std::string> users;
  std::vector<std::string> formats;
};

ParseStats collect(EventParser& p, std::string_view doc, Collected& out) {
  return p.parse(doc, [&](const Event& e) {
    out.ids.emplace_back(e.auditID);
    out.stages.emplace_back(e.stage);
    out.users.emplace_back(e.user.username);
    out.formats.push_back(e.format == EventFormat::kAks   ? "aks"
                          : e.format == EventFormat::kGke ? "gke"
                          : e.format == EventFormat::kEks ? "eks"
                                                          : "k8s");
  });
}

TEST_CASE("DecodesEveryFieldOfAPodCreateEvent") {
  EventParser p;
  int n = 0;
  auto stats = p.parse(kPodCreate, [&](const Event& e) {
    ++n;
    CHECK(e.format == EventFormat::kKubernetes);
    CHECK(e.apiVersion == "audit.k8s.io/v1");
    CHECK(e.auditID == "5f0a1b2c-0d1e-4f5a-9b8c-7d6e5f4a3b2c");
    CHECK(e.stage == "ResponseComplete");
    CHECK(e.level == "RequestResponse");
    CHECK(e.verb == "create");
    CHECK(e.requestURI == "/api/v1/namespaces/shop/pods?fieldManager=kubectl-run");
    CHECK(e.user.username == "alice@example.com");
    CHECK(e.user.uid == "u-1");
    REQUIRE(e.user.groups.size() == 2);
    CHECK(e.user.groups[1] == "system:authenticated");
    CHECK_FALSE(e.hasImpersonatedUser);
    REQUIRE(e.sourceIPs.size() == 2);
    CHECK(e.sourceIPs[0] == "10.0.0.7");
    CHECK(e.userAgent.substr(0, 7) == "kubectl");
    REQUIRE(e.hasObjectRef);
    CHECK(e.objectRef.resource == "pods");
    CHECK(e.objectRef.namespace_ == "shop");
    CHECK(e.objectRef.name == "web");
    CHECK(e.objectRef.apiGroup.empty());
    CHECK(e.objectRef.apiVersion == "v1");
    CHECK(e.responseCode == 201);
    CHECK(e.authorizationDecision == "allow");
    CHECK_FALSE(e.truncated);
    CHECK(e.annotation("authorization.k8s.io/reason").find("RBAC") == 0);
    CHECK(e.stageTimestamp == "2024-05-01T10:00:00.250000Z");
    CHECK(e.timeMicros == 1714557600250000);
    REQUIRE(e.hasRequestObject);
    REQUIRE(e.hasResponseObject);
    std::string_view uid;
    REQUIRE(e.responseObject["metadata"]["uid"].get(uid) == simdjson::SUCCESS);
    CHECK(uid == "9e1c");
    std::string_view image;
    REQUIRE(e.requestObject["spec"]["containers"].at(0)["image"].get(image) == simdjson::SUCCESS);
    CHECK(image == "nginx:1.25");
  });
  CHECK(n == 1);
  CHECK(stats.events == 1);
  CHECK(stats.rejectedTotal() == 0);
}

TEST_CASE("AbsentBodiesAreNullElements") {
  EventParser p;
  int n = 0;
  p.parse(kPodGet, [&](const Event& e) {
    ++n;
    CHECK_FALSE(e.hasRequestObject);
    CHECK_FALSE(e.hasResponseObject);
    CHECK(e.requestObject.is_null());
    CHECK(e.responseObject.is_null());
    CHECK(e.level == "Metadata");
  });
  CHECK(n == 1);
}

TEST_CASE("DecodesImpersonationTruncationAndSubresource") {
  constexpr std::string_view doc =
      R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"x1","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/shop/pods/web/exec?command=sh&container=web&stdin=true&stdout=true&tty=true","verb":"create","user":{"username":"mallory"},"impersonatedUser":{"username":"system:admin","groups":["system:masters"]},"objectRef":{"resource":"pods","subresource":"exec","namespace":"shop","name":"web","apiVersion":"v1"},"responseStatus":{"code":101},"requestReceivedTimestamp":"2024-05-01T10:00:00Z","stageTimestamp":"2024-05-01T10:00:00.5+02:00","requestObject":{"kind":"Pod","metadata":{"name":"partial"}},"annotations":{"audit.k8s.io/truncated":"true","authorization.k8s.io/decision":"allow"}})";
  EventParser p;
  int n = 0;
  p.parse(doc, [&](const Event& e) {
    ++n;
    REQUIRE(e.hasImpersonatedUser);
    CHECK(e.impersonatedUser.username == "system:admin");
    CHECK(e.impersonatedUser.groups.at(0) == "system:masters");
    CHECK(e.objectRef.subresource == "exec");
    CHECK(e.truncated);
    CHECK_FALSE(e.hasRequestObject);
    CHECK(e.requestObject.is_null());
    CHECK(e.responseCode == 101);
    CHECK(e.timeMicros == 1714557600000000 - 2 * 3600 * 1000000LL + 500000);
  });
  CHECK(n == 1);
}

TEST_CASE("AcceptsEventListArrayAndV1beta1") {
  EventParser p;
  std::string list =
      R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[)" +
      std::string(kPodCreate) + "," + std::string(kPodGet) + "]}";
  Collected c;
  auto s = collect(p, list, c);
  CHECK(s.events == 2);
  CHECK(c.ids == std::vector<std::string>{"5f0a1b2c-0d1e-4f5a-9b8c-7d6e5f4a3b2c", "a1"});

  Collected a;
  std::string arr = "[" + std::string(kPodGet) + "," + std::string(kPodCreate) + "]";
  CHECK(collect(p, arr, a).events == 2);
  CHECK(a.ids.front() == "a1");

  // v1beta1 carries `timestamp` and no stageTimestamp.
  constexpr std::string_view beta =
      R"({"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","metadata":{"creationTimestamp":"2019-01-01T00:00:09Z"},"level":"Metadata","timestamp":"2019-01-01T00:00:05Z","auditID":"b1","stage":"ResponseComplete","requestURI":"/api/v1/nodes","verb":"list","user":{"username":"kubelet"},"sourceIPs":["1.2.3.4"],"responseStatus":{"code":200}})";
  int64_t t = 0;
  auto bs = p.parse(beta, [&](const Event& e) { t = e.timeMicros; });
  CHECK(bs.events == 1);
  CHECK(t == 1546300805000000);
}

// A batch of 7 MB is parsed whole and its parser's memory given back after; a batch of 1 MB
// keeps it for the next.
TEST_CASE("ALargeDocumentsParserMemoryIsFreedAfterIt") {
  EventParser p;
  auto padded = [](int i, size_t pad) {
    std::string e(kPodGet);
    e.replace(e.find("\"a1\""), 4, "\"big" + std::to_string(i) + "\"");
    e.replace(e.find("\"app/1.0\""), 9, "\"" + std::string(pad, 'x') + "\"");
    return e;
  };
  auto list = [&](int n, size_t pad) {
    std::string l = R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[)";
    for (int i = 0; i < n; ++i) l += (i ? "," : "") + padded(i, pad);
    return l + "]}";
  };
  const std::string big = list(4, 1800u << 10);
  REQUIRE(big.size() > EventParser::kKeptDocumentCapacity);
  Collected c;
  CHECK(collect(p, big, c).events == 4);
  CHECK(c.ids == std::vector<std::string>{"big0", "big1", "big2", "big3"});
  CHECK(p.documentCapacity() == 0);
  const std::string small = list(4, 256u << 10);
  Collected d;
  CHECK(collect(p, small, d).events == 4);
  CHECK(p.documentCapacity() >= small.size());
  CHECK(collect(p, std::string(kPodGet), d).events == 1);
  CHECK(p.documentCapacity() >= small.size());
}

TEST_CASE("EmptyEventListYieldsNoEventsAndNoRejects") {
  EventParser p;
  auto s =
      p.parse(R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[]})",
              [](const Event&) { FAIL("no event expected"); });
  CHECK(s.events == 0);
  CHECK(s.rejectedTotal() == 0);
}

TEST_CASE("AnEventListWithoutItemsIsRejectedAsMissingAField") {
  // Found by the detections fuzzer: the list's absent `items` used to be read as an element.
  EventParser p;
  for (const char* doc :
       {R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"eitms":[]})",
        R"({"kind":"EventList"})"}) {
    INFO(doc);
    auto s = p.parse(doc, [](const Event&) { FAIL("no event expected"); });
    CHECK(s.events == 0);
    CHECK(s.rejectedFor(RejectReason::kMissingField) == 1);
    s = p.parseLines(std::string(doc) + "\n", [](const Event&) { FAIL("no event expected"); });
    CHECK(s.rejectedFor(RejectReason::kMissingField) == 1);
  }
}

TEST_CASE("TimestampFallsBackFromStageToRequestReceived") {
  EventParser p;
  constexpr std::string_view noStage =
      R"({"level":"Metadata","auditID":"n1","stage":"RequestReceived","requestURI":"/version","verb":"get","user":{"username":"system:anonymous"},"requestReceivedTimestamp":"1970-01-01T00:00:01.000001Z"})";
  int64_t t = -1;
  std::string_view apiVersion = "set";
  auto s = p.parse(noStage, [&](const Event& e) {
    t = e.timeMicros;
    apiVersion = e.apiVersion;
  });
  CHECK(s.events == 1);  // accepted without apiVersion or kind
  CHECK(apiVersion.empty());
  CHECK(t == 1000001);
}

TEST_CASE("UnwrapsAksRecordsWithLogAsStringOrObject") {
  // Azure diagnostic export: {"records":[...]}, `properties.log` holding the event as a
  // JSON string, or (some pipelines) as an object.
  std::string escaped;
  for (char c : kPodGet) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  std::string doc =
      R"({"records":[{"time":"2024-05-01T10:00:02Z","resourceId":"/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS1","category":"kube-audit","operationName":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read","properties":{"log":")" +
      escaped +
      R"(","stream":"stdout","pod":"kube-apiserver-abc"}},{"category":"kube-audit","properties":{"log":)" +
      std::string(kPodCreate) + R"(,"stream":"stdout"}}]})";
  EventParser p;
  Collected c;
  auto s = collect(p, doc, c);
  CHECK(s.events == 2);
  CHECK(s.rejectedTotal() == 0);
  CHECK(c.ids == std::vector<std::string>{"a1", "5f0a1b2c-0d1e-4f5a-9b8c-7d6e5f4a3b2c"});
  CHECK(c.formats == std::vector<std::string>{"aks", "aks"});

  // A single record as one JSON line.
  Collected one;
  std::string single = R"({"category":"kube-audit","properties":{"log":")" + escaped + R"("}})";
  CHECK(collect(p, single, one).events == 1);
  CHECK(one.users.at(0) == "system:serviceaccount:shop:app");

  // A record whose log is not JSON is counted and the rest continue.
  Collected bad;
  std::string mixed = R"({"records":[{"properties":{"log":"{not json"}},{"properties":{"log":")" +
                      escaped + R"("}}]})";
  auto ms = collect(p, mixed, bad);
  CHECK(ms.events == 1);
  CHECK(ms.rejectedFor(RejectReason::kInvalidJson) == 1);
}

// `s` as a JSON string literal's contents.
std::string jsonEscaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// An EKS subscription payload as CloudWatch Logs delivers it, one log event per message.
std::string cloudWatchPayload(const std::vector<std::string_view>& messages) {
  std::string doc =
      R"({"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"/aws/eks/prod/cluster","logStream":"kube-apiserver-audit-6a1b2c3d4e5f67890a1b2c3d4e5f6789","subscriptionFilters":["kube-customs"],"logEvents":[)";
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i) doc += ',';
    doc += R"({"id":"3819516249011839068347689216081374226800218049384513536)" + std::to_string(i) +
           R"(","timestamp":1714557600100,"message":")" + jsonEscaped(messages[i]) + "\"}";
  }
  return doc + "]}";
}

std::string gzipped(std::string_view text) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                       Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, text.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v =
        (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// EKS audit events as CloudWatch Logs hands them over: a subscription payload (each log event's
// message one audit event), the same gzipped and base64-encoded as a Lambda function receives
// it, and the answer of FilterLogEvents; CloudWatch's control message holds no event and is no
// error; a message that is not an event is counted and the rest go on.
TEST_CASE("ReadsEksAuditEventsAsCloudWatchLogsDeliversThem") {
  EventParser p;
  const std::string payload = cloudWatchPayload({kPodGet, kPodCreate});
  Collected c;
  auto s = collect(p, payload, c);
  CHECK(s.events == 2);
  CHECK(s.rejectedTotal() == 0);
  CHECK(c.ids == std::vector<std::string>{"a1", "5f0a1b2c-0d1e-4f5a-9b8c-7d6e5f4a3b2c"});
  CHECK(c.formats == std::vector<std::string>{"eks", "eks"});

  // As a Lambda function receives it.
  const std::string lambda = R"({"awslogs":{"data":")" + base64(gzipped(payload)) + R"("}})";
  Collected fromLambda;
  s = collect(p, lambda, fromLambda);
  CHECK(s.events == 2);
  CHECK(s.rejectedTotal() == 0);
  CHECK(fromLambda.ids == c.ids);
  CHECK(fromLambda.users ==
        std::vector<std::string>{"system:serviceaccount:shop:app", "alice@example.com"});

  // aws logs filter-log-events --log-group-name /aws/eks/prod/cluster --output json | jq -c .
  const std::string filtered =
      R"({"events":[{"logStreamName":"kube-apiserver-audit-6a1b2c3d4e5f67890a1b2c3d4e5f6789","timestamp":1714557600100,"message":")" +
      jsonEscaped(kPodCreate) +
      R"(","ingestionTime":1714557601234,"eventId":"38195162490118390683476892160813742268002180493845135360"}],"searchedLogStreams":[]})";
  Collected fromFilter;
  s = collect(p, filtered, fromFilter);
  CHECK(s.events == 1);
  CHECK(fromFilter.users == std::vector<std::string>{"alice@example.com"});

  // CloudWatch checking the destination.
  const std::string control =
      R"({"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1714557600000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]})";
  Collected none;
  s = collect(p, control, none);
  CHECK(s.events == 0);
  CHECK(s.rejectedTotal() == 0);
  s = collect(p, R"({"awslogs":{"data":")" + base64(gzipped(control)) + R"("}})", none);
  CHECK(s.events == 0);
  CHECK(s.rejectedTotal() == 0);

  // A message that is not an event, and one that is not a string: counted; the rest go on.
  std::string mixed = cloudWatchPayload({"not json", kPodGet});
  mixed.replace(mixed.rfind("]}"), 2, R"(,{"id":"9","timestamp":1,"message":7}]})");
  Collected some;
  s = collect(p, mixed, some);
  CHECK(s.events == 1);
  CHECK(s.rejectedFor(RejectReason::kInvalidJson) == 1);
  CHECK(s.rejectedFor(RejectReason::kWrongType) == 1);
}

// awslogs.data that is not base64, not gzip, cut short, or that inflates past the document cap
// is counted by reason; nothing is read from it.
TEST_CASE("RejectsCloudWatchDataThatIsNotBase64OfGzipOrInflatesPastTheCap") {
  ParserLimits limits;
  limits.maxDocumentBytes = 1 << 20;
  EventParser p(limits);
  Collected c;
  auto wrap = [](const std::string& data) { return R"({"awslogs":{"data":")" + data + R"("}})"; };
  CHECK(collect(p, wrap("not base64!"), c).rejectedFor(RejectReason::kBadEncoding) == 1);
  CHECK(
      collect(p, wrap(base64("plain text, not gzip")), c).rejectedFor(RejectReason::kBadEncoding) ==
      1);
  const std::string whole = gzipped(cloudWatchPayload({kPodGet}));
  CHECK(collect(p, wrap(base64(whole.substr(0, whole.size() / 2))), c)
            .rejectedFor(RejectReason::kBadEncoding) == 1);
  // 8 MiB of spaces inside a valid payload: a few KiB compressed, over the 1 MiB cap inflated.
  std::string bomb = cloudWatchPayload({kPodGet});
  bomb.insert(1, std::string(8 << 20, ' '));
  const std::string small = gzipped(bomb);
  REQUIRE(small.size() < 64 * 1024);
  CHECK(collect(p, wrap(base64(small)), c).rejectedFor(RejectReason::kTooLarge) == 1);
  CHECK(collect(p, R"({"awslogs":{"data":7}})", c).rejectedFor(RejectReason::kNotAnEvent) == 1);
  CHECK(c.ids.empty());
  // The parser goes on.
  CHECK(collect(p, wrap(base64(whole)), c).events == 1);
}

// GKE's authorizationInfo: a check not granted ("granted": false, or left out as protobuf JSON
// leaves out false) makes the request denied (403, decision forbid) whatever its status says;
// all granted leaves it as it is.
TEST_CASE("GkeEntriesWithAnAuthorizationCheckNotGrantedAreDenied") {
  const std::string allowed =
      R"({"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{"principalEmail":"mallory@example.com"},"authorizationInfo":[{"granted":true,"permission":"io.k8s.core.v1.pods.create","resource":"core/v1/namespaces/kube-system/pods/x"}],"methodName":"io.k8s.core.v1.pods.create","requestMetadata":{"callerIp":"203.0.113.5","callerSuppliedUserAgent":"kubectl/v1.29.0"},"resourceName":"core/v1/namespaces/kube-system/pods/x","serviceName":"k8s.io","status":{}},"insertId":"ins-2","timestamp":"2024-05-01T10:00:03.5Z","labels":{"authorization.k8s.io/decision":"allow"},"operation":{"id":"op-78","producer":"k8s.io","first":true,"last":true}})";
  struct Seen {
    int code = 0;
    std::string decision;
  };
  auto seen = [](const std::string& doc) {
    EventParser p;
    Seen out;
    int n = 0;
    REQUIRE(p.parse(doc, [&](const Event& e) {
               ++n;
               out.code = e.responseCode;
               out.decision = std::string(e.authorizationDecision);
             }).rejectedTotal() == 0);
    REQUIRE(n == 1);
    return out;
  };
  CHECK(seen(allowed).code == 200);
  CHECK(seen(allowed).decision == "allow");
  std::string deniedFalse = allowed;
  deniedFalse.replace(deniedFalse.find(R"("granted":true)"), 14, R"("granted":false)");
  std::string deniedOmitted = allowed;
  deniedOmitted.replace(deniedOmitted.find(R"("granted":true,)"), 15, "");
  std::string oneOfTwo = allowed;
  oneOfTwo.replace(oneOfTwo.find(R"([{"granted":true)"), 1,
                   R"([{"permission":"io.k8s.authentication.users.impersonate"},)");
  for (const std::string& doc : {deniedFalse, deniedOmitted, oneOfTwo}) {
    INFO(doc);
    CHECK(seen(doc).code == 403);
    CHECK(seen(doc).decision == "forbid");
  }
  // A status already an error keeps its code.
  std::string notFound = deniedFalse;
  notFound.replace(notFound.find(R"("status":{})"), 11, R"("status":{"code":5})");
  CHECK(seen(notFound).code == 404);
}

TEST_CASE("MapsGkeProtoPayloadEntries") {
  constexpr std::string_view gke =
      R"({"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{"principalEmail":"bob@example.com"},"authorizationInfo":[{"granted":true,"permission":"io.k8s.core.v1.pods.exec.create","resource":"core/v1/namespaces/shop/pods/web/exec"}],"methodName":"io.k8s.core.v1.pods.exec.create","requestMetadata":{"callerIp":"203.0.113.5","callerSuppliedUserAgent":"kubectl/v1.29.0"},"resourceName":"core/v1/namespaces/shop/pods/web/exec","serviceName":"k8s.io","status":{"code":0}},"insertId":"ins-1","resource":{"type":"k8s_cluster","labels":{"cluster_name":"c1","location":"europe-west1","project_id":"p"}},"timestamp":"2024-05-01T10:00:03.5Z","labels":{"authorization.k8s.io/decision":"allow"},"logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity","operation":{"id":"op-77","producer":"k8s.io","first":true},"receiveTimestamp":"2024-05-01T10:00:04Z"})";
  EventParser p;
  int n = 0;
  auto s = p.parse(gke, [&](const Event& e) {
    ++n;
    CHECK(e.format == EventFormat::kGke);
    CHECK(e.auditID == "op-77");
    CHECK(e.stage == "ResponseStarted");
    CHECK(e.verb == "create");
    CHECK(e.user.username == "bob@example.com");
    CHECK(e.sourceIPs.at(0) == "203.0.113.5");
    CHECK(e.userAgent == "kubectl/v1.29.0");
    CHECK(e.objectRef.apiGroup.empty());
    CHECK(e.objectRef.apiVersion == "v1");
    CHECK(e.objectRef.namespace_ == "shop");
    CHECK(e.objectRef.resource == "pods");
    CHECK(e.objectRef.name == "web");
    CHECK(e.objectRef.subresource == "exec");
    CHECK(e.responseCode == 200);
    CHECK(e.authorizationDecision == "allow");
    CHECK(e.timeMicros == 1714557603500000);
  });
  CHECK(n == 1);
  CHECK(s.rejectedTotal() == 0);

  constexpr std::string_view deploy =
      R"({"protoPayload":{"methodName":"io.k8s.apps.v1.deployments.create","resourceName":"apps/v1/namespaces/tools/deployments/tunnel","authenticationInfo":{"principalEmail":"eve@example.com"},"status":{"code":7},"request":{"kind":"Deployment","apiVersion":"apps/v1"}},"insertId":"ins-2","timestamp":"2024-05-01T10:00:05Z","operation":{"id":"op-78","first":true,"last":true}})";
  int m = 0;
  p.parse(deploy, [&](const Event& e) {
    ++m;
    CHECK(e.stage == "ResponseComplete");
    CHECK(e.objectRef.apiGroup == "apps");
    CHECK(e.objectRef.resource == "deployments");
    CHECK(e.objectRef.name == "tunnel");
    CHECK(e.responseCode == 403);
    CHECK(e.hasRequestObject);
  });
  CHECK(m == 1);
}

// GKE entries have no requestURI: it is rebuilt from resourceName, so the paths of anonymous
// health probes are known and the commands of sessions, when the entry logs them, are read.
TEST_CASE("RebuildsTheRequestUriOfGkeEntries") {
  EventParser p;
  auto uriOf = [&](std::string_view entry) {
    std::string uri = "<none>";
    p.parse(entry, [&](const Event& e) { uri = std::string(e.requestURI); });
    return uri;
  };
  CHECK(
      uriOf(
          R"({"protoPayload":{"methodName":"io.k8s.get","resourceName":"readyz","authenticationInfo":{"principalEmail":"system:anonymous"},"status":{}},"insertId":"i1","timestamp":"2024-05-01T10:00:05Z"})") ==
      "/readyz");
  CHECK(
      uriOf(
          R"({"protoPayload":{"methodName":"io.k8s.get","resourceName":"/livez/ping","status":{}},"insertId":"i2","timestamp":"2024-05-01T10:00:05Z"})") ==
      "/livez/ping");
  CHECK(
      uriOf(
          R"({"protoPayload":{"methodName":"io.k8s.apps.v1.deployments.create","resourceName":"apps/v1/namespaces/tools/deployments/tunnel","status":{}},"insertId":"i3","timestamp":"2024-05-01T10:00:05Z"})") ==
      "/apis/apps/v1/namespaces/tools/deployments/tunnel");
  CHECK(
      uriOf(
          R"({"protoPayload":{"methodName":"io.k8s.core.v1.pods.exec.create","resourceName":"core/v1/namespaces/shop/pods/web/exec","request":{"@type":"core.k8s.io/v1.PodExecOptions","container":"app","command":["sh","-c","cat /var/run/secrets/kubernetes.io/serviceaccount/token"]},"status":{}},"insertId":"i4","timestamp":"2024-05-01T10:00:05Z"})") ==
      "/api/v1/namespaces/shop/pods/web/"
      "exec?container=app&command=sh&command=-c&command=cat%20%2Fvar%2Frun%2Fsecrets%2Fkubernetes."
      "io%2Fserviceaccount%2Ftoken");
}

TEST_CASE("BadEventsInABatchAreCountedByReasonAndTheRestGoOn") {
  std::string batch = R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[)";
  batch += std::string(kPodGet) + ",";
  batch += R"({"auditID":"w1","stage":"ResponseComplete","verb":5,"user":{}},)";       // wrong type
  batch += R"({"auditID":"w2","stage":"ResponseComplete","user":{"username":"x"}},)";  // no verb
  batch +=
      R"({"apiVersion":"audit.k8s.io/v2","auditID":"w3","stage":"ResponseComplete","verb":"get"},)";
  batch +=
      R"({"auditID":"w4","stage":"ResponseComplete","verb":"get","user":{"groups":"admins"}},)";
  batch += R"({"auditID":"w5","stage":"ResponseComplete","verb":"get","annotations":{"a":1}},)";
  batch +=
      R"({"auditID":"w6","stage":"ResponseComplete","verb":"get","responseStatus":{"code":"200"}},)";
  batch += R"("a string",42,)";
  batch += R"({"kind":"Pod","auditID":"w7","stage":"ResponseComplete","verb":"get"},)";
  batch += std::string(kPodCreate) + "]}";
  EventParser p;
  Collected c;
  auto s = collect(p, batch, c);
  CHECK(c.ids == std::vector<std::string>{"a1", "5f0a1b2c-0d1e-4f5a-9b8c-7d6e5f4a3b2c"});
  CHECK(s.events == 2);
  CHECK(s.rejectedFor(RejectReason::kWrongType) == 4);
  CHECK(s.rejectedFor(RejectReason::kMissingField) == 1);
  CHECK(s.rejectedFor(RejectReason::kUnsupportedVersion) == 1);
  CHECK(s.rejectedFor(RejectReason::kNotAnEvent) == 3);
}

TEST_CASE("RejectsMalformedDocumentsWithoutStoppingTheLineStream") {
  std::string lines;
  lines += std::string(kPodGet) + "\n";
  lines += std::string(kPodCreate.substr(0, kPodCreate.size() / 2)) + "\n";  // truncated line
  lines += "\n   \n";                                                        // blank lines
  std::string badUtf8(kPodGet);
  badUtf8.replace(badUtf8.find("app/1.0"), 3, "\xC3\x28x");  // invalid 2-byte sequence
  lines += badUtf8 + "\n";
  lines += std::string(200, '[') + std::string(200, ']') + "\n";  // deep nesting
  lines += R"({"auditID":"d","stage":"x","verb":"get","requestObject":)" + std::string(150, '[') +
           std::string(150, ']') + "}\n";
  lines += R"({"auditID":"t","stage":"x","verb":"get"} trailing)"
           "\n";
  lines += std::string(kPodCreate);  // last line without newline
  EventParser p;
  Collected c;
  auto s = p.parseLines(lines, [&](const Event& e) { c.ids.emplace_back(e.auditID); });
  CHECK(c.ids == std::vector<std::string>{"a1", "5f0a1b2c-0d1e-4f5a-9b8c-7d6e5f4a3b2c"});
  CHECK(s.documents == 7);
  CHECK(s.rejectedFor(RejectReason::kInvalidJson) == 2);
  CHECK(s.rejectedFor(RejectReason::kInvalidUtf8) == 1);
  CHECK(s.rejectedFor(RejectReason::kTooDeep) == 2);
}

// The reject hook is called once per rejection counted, with its reason and the text of the
// document it is in (within the buffer), on the batched path and the line-by-line one alike.
TEST_CASE("TheRejectHookNamesTheReasonAndTheDocumentOfEachRejection") {
  std::string lines;
  lines += std::string(kPodGet) + "\n";
  lines += "{\"kind\":\"Event\"\n";  // torn: sends a window to the line-by-line path
  lines += "[1,2]\n";                // two items, neither an event
  lines += R"({"kind":"Event","apiVersion":"audit.k8s.io/v9","auditID":"v"})"
           "\n";
  lines += std::string(kPodGet) + "\n";
  lines += "[3]\n";
  for (const bool padded : {true, false}) {
    INFO(padded);
    std::string buffer = lines;
    buffer.resize(lines.size() + simdjson::SIMDJSON_PADDING, ' ');
    const std::string_view text(buffer.data(), lines.size());
    EventParser p;
    std::vector<std::pair<RejectReason, std::string>> seen;
    p.setRejectHook([&](RejectReason r, std::string_view doc) {
      if (padded) {
        CHECK(doc.data() >= text.data());
        CHECK(doc.data() + doc.size() <= text.data() + text.size());
      }
      seen.emplace_back(r, std::string(doc));
    });
    const ParseStats s = p.parseLines(
        text, [](const Event&) {}, padded);
    CHECK(s.events == 2);
    CHECK(s.rejectedTotal() == seen.size());
    const std::vector<std::pair<RejectReason, std::string>> want = {
        {RejectReason::kInvalidJson, "{\"kind\":\"Event\""},
        {RejectReason::kNotAnEvent, "[1,2]"},
        {RejectReason::kNotAnEvent, "[1,2]"},
        {RejectReason::kUnsupportedVersion,
         R"({"kind":"Event","apiVersion":"audit.k8s.io/v9","auditID":"v"})"},
        {RejectReason::kNotAnEvent, "[3]"}};
    CHECK(seen == want);
  }
  // Without a hook, nothing is called and the counts are the same.
  EventParser quiet;
  CHECK(quiet.parseLines(lines, [](const Event&) {}).rejectedTotal() == 5);
}

TEST_CASE("EnforcesDocumentAndPerEventSizeCaps") {
  ParserLimits limits;
  limits.maxDocumentBytes = 64 * 1024;
  limits.maxEventBytes = 4 * 1024;
  EventParser p(limits);

  // An event bigger than the per-event cap inside a batch that fits the document cap.
  std::string big =
      R"({"auditID":"big","stage":"ResponseComplete","verb":"create","requestObject":{"data":")" +
      std::string(8000, 'x') + R"("}})";
  std::string batch = "[" + std::string(kPodGet) + "," + big + "," + std::string(kPodGet) + "]";
  Collected c;
  auto s = collect(p, batch, c);
  CHECK(s.events == 2);
  CHECK(s.rejectedFor(RejectReason::kTooLarge) == 1);

  // Same inside an EventList with nested arrays before `items`.
  std::string list =
      R"({"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{"x":[1,[2]]},"items":[)" +
      big + "," + std::string(kPodGet) + "]}";
  auto ls = p.parse(list, [](const Event&) {});
  CHECK(ls.events == 1);
  CHECK(ls.rejectedFor(RejectReason::kTooLarge) == 1);

  // A whole document over the document cap.
  std::string huge(100 * 1024, ' ');
  auto hs = p.parse(huge, [](const Event&) {});
  CHECK(hs.rejectedFor(RejectReason::kTooLarge) == 1);
  CHECK(hs.events == 0);

  // The parser still works afterwards.
  CHECK(p.parse(kPodGet, [](const Event&) {}).events == 1);

  // The batched line path applies the same caps.
  ParserLimits small;
  small.maxDocumentBytes = 4 * 1024;
  small.maxEventBytes = 4 * 1024;
  EventParser q(small);
  std::string lines = std::string(kPodGet) + "\n" + big + "\n" + std::string(kPodGet) + "\n";
  auto qs = q.parseLines(lines, [](const Event&) {});
  CHECK(qs.events == 2);
  CHECK(qs.documents == 3);
  CHECK(qs.rejectedFor(RejectReason::kTooLarge) == 1);
}

TEST_CASE("A100MegabyteLineIsRejectedAndTheNextLineParses") {
  EventParser p;  // default caps: 12 MiB document
  std::string huge = R"({"auditID":"h","stage":"ResponseComplete","verb":"get","requestObject":")";
  huge.append(100u << 20, 'a');
  huge += "\"}";
  auto s = p.parse(huge, [](const Event&) { FAIL("must not deliver"); });
  CHECK(s.rejectedFor(RejectReason::kTooLarge) == 1);
  CHECK(p.parse(kPodGet, [](const Event&) {}).events == 1);
}

TEST_CASE("ParsesRfc3339Variants") {
  CHECK(parseRfc3339Micros("1970-01-01T00:00:00Z") == 0);
  CHECK(parseRfc3339Micros("2024-02-29T23:59:59.999999Z") == 1709251199999999);
  CHECK(parseRfc3339Micros("2024-02-29T23:59:59.9999999Z") == 1709251199999999);
  CHECK(parseRfc3339Micros("1970-01-01T01:00:00+01:00") == 0);
  CHECK_FALSE(parseRfc3339Micros("2024-13-01T00:00:00Z"));
  CHECK_FALSE(parseRfc3339Micros("2024-01-01T00:00:00"));
  CHECK_FALSE(parseRfc3339Micros("2024-01-01T00:00:00Zjunk"));
  CHECK_FALSE(parseRfc3339Micros(""));
}

// The apiserver's form ("...:00.123456Z") against the same instant written with a "+00:00"
// offset and against gmtime, valid and mutated.
TEST_CASE("Rfc3339ApiserverFormAgreesWithOffsetFormAndGmtime") {
  std::mt19937_64 rng(7);
  const std::string chars = "0123456789-:.TZt +x";
  int valid = 0;
  for (int i = 0; i < 20000; ++i) {
    const int64_t secs = static_cast<int64_t>(rng() % 4102444800ULL);  // 1970 .. 2100
    const time_t t = static_cast<time_t>(secs);
    struct tm tm {};
    gmtime_r(&t, &tm);
    char buf[128];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(rng() % 1000000));
    std::string s = buf;
    REQUIRE(s.size() == 27);
    if (i % 2 == 1) s[rng() % 26] = chars[rng() % chars.size()];  // not the 'Z'
    const std::string general = s.substr(0, 26) + "+00:00";
    INFO(s);
    const auto fast = parseRfc3339Micros(s);
    REQUIRE(fast == parseRfc3339Micros(general));
    if (i % 2 == 0) {
      REQUIRE(fast.has_value());
      CHECK(*fast / 1000000 == secs);
    }
    if (fast) ++valid;
  }
  CHECK(valid > 10000);
}

TEST_CASE("ATruncatedLastLineIsCountedNotDropped") {
  EventParser p;
  const std::string good(kPodGet);
  for (const std::string& text :
       {good + "\n" + good.substr(0, 60), good + "\n" + good.substr(0, 60) + "\n",
        good.substr(0, 100), good.substr(0, 100) + "\n"}) {
    INFO(text.size());
    uint64_t events = 0;
    ParseStats s = p.parseLines(text, [&](const Event&) { ++events; });
    CHECK(events == (text.size() > 200 ? 1u : 0u));
    CHECK(s.rejectedFor(RejectReason::kInvalidJson) == 1);
  }
}

// A padded buffer is followed by bytes that are not part of it: the next lines of a mapped
// file, or what an earlier, longer batch left in a reused buffer. A malformed last document
// must not be read into them (simdjson 3.0.1's parse_many reported this one as ending one byte
// past the buffer when that byte was '}', and the parser then threw out_of_range; found by
// the audit_event fuzzer).
TEST_CASE("ADocumentNeverReachesPastThePaddedBuffer") {
  EventParser p;
  for (const std::string& after :
       std::vector<std::string>{"}", "}}", "]", "\"", "}\n" + std::string(kPodGet)}) {
    const std::string text = R"({"a":"b"9.}},)";
    std::string buffer = text + after;
    buffer.resize(buffer.size() + simdjson::SIMDJSON_PADDING, ' ');
    INFO("followed by " << after);
    uint64_t events = 0;
    ParseStats s;
    REQUIRE_NOTHROW(s = p.parseLines(
                        std::string_view(buffer.data(), text.size()),
                        [&](const Event&) { ++events; }, /*padded=*/true));
    CHECK(events == 0);
    CHECK(s.documents + s.rejectedTotal() >= 1);
    CHECK(s.rejectedFor(RejectReason::kInvalidJson) == 1);
  }
  // A good line followed by the same: the good one is still read, once.
  const std::string text = std::string(kPodGet) + "\n" + R"({"a":"b"9.}},)";
  std::string buffer = text + "}";
  buffer.resize(buffer.size() + simdjson::SIMDJSON_PADDING, ' ');
  uint64_t events = 0;
  const ParseStats s = p.parseLines(
      std::string_view(buffer.data(), text.size()), [&](const Event&) { ++events; },
      /*padded=*/true);
  CHECK(events == 1);
  CHECK(s.rejectedFor(RejectReason::kInvalidJson) == 1);
}

// The file follower hands the parser batches of whole lines, cut wherever a read ended: the
// events and the counts must not depend on where the cuts fall (a truncated line at the end of
// a batch used to be left out, uncounted).
TEST_CASE("EventsAndCountsDoNotDependOnWhereBatchesAreCut") {
  std::mt19937_64 rng(3);
  const std::string good(kPodGet), create(kPodCreate);
  std::vector<std::string> lines;
  for (int i = 0; i < 3000; ++i) {
    switch (rng() % 12) {
      case 0:
        lines.push_back(create.substr(0, rng() % create.size()));
        break;  // truncated
      case 1:
        lines.push_back(std::string(rng() % 3, ' '));
        break;  // blank
      case 2:
        lines.push_back("{\"auditID\":");
        break;  // cut short
      case 3:
        lines.push_back(R"({"kind":"EventList","items":[)" + good + "," + good + "]}");
        break;
      case 4:
        lines.push_back(good.substr(0, 50) + "\xff" + good.substr(50));
        break;  // bad UTF-8
      case 5:
        lines.push_back(create);
        break;
      default:
        lines.push_back(good);
        break;
    }
  }
  auto run = [&](const std::vector<size_t>& cuts) {
    EventParser p;
    std::vector<std::string> ids;
    ParseStats total;
    size_t from = 0;
    for (size_t cut : cuts) {
      std::string batch;
      for (size_t i = from; i < cut; ++i) batch += lines[i] + "\n";
      total += p.parseLines(batch, [&](const Event& e) { ids.emplace_back(e.auditID); });
      from = cut;
    }
    return std::make_pair(ids, total);
  };
  const auto whole = run({lines.size()});
  CHECK(whole.second.events > 2000);
  CHECK(whole.second.rejectedFor(RejectReason::kInvalidJson) > 300);
  for (int round = 0; round < 5; ++round) {
    std::vector<size_t> cuts;
    for (size_t at = 0; at < lines.size();) {
      at = std::min(lines.size(), at + 1 + rng() % 40);
      cuts.push_back(at);
    }
    const auto split = run(cuts);
    INFO("round " << round << ", " << cuts.size() << " batches");
    CHECK(split.first == whole.first);
    CHECK(split.second.documents == whole.second.documents);
    CHECK(split.second.events == whole.second.events);
    for (size_t r = 0; r < kRejectReasonCount; ++r) {
      INFO(rejectReasonName(static_cast<RejectReason>(r)));
      CHECK(split.second.rejected[r] == whole.second.rejected[r]);
    }
  }
}

TEST_CASE("RejectReasonNamesAreStable") {
  CHECK(rejectReasonName(RejectReason::kTooLarge) == "too_large");
  CHECK(rejectReasonName(RejectReason::kInvalidUtf8) == "invalid_utf8");
  CHECK(rejectReasonName(RejectReason::kNotAnEvent) == "not_an_event");
  CHECK(rejectReasonName(RejectReason::kBadEncoding) == "bad_encoding");
}

TEST_CASE("RandomlyCorruptedEventsNeverCrashAndAreAllAccountedFor") {
  std::mt19937 rng(7);
  EventParser p;
  std::string base = std::string(kPodCreate);
  uint64_t documents = 0, accounted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string doc = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !doc.empty(); ++e) {
      size_t at = rng() % doc.size();
      switch (rng() % 4) {
        case 0:
          doc[at] = static_cast<char>(rng() % 256);
          break;
        case 1:
          doc.erase(at, 1 + rng() % 20);
          break;
        case 2:
          doc.insert(at, std::string(1 + rng() % 3, "{}[]\":,0"[rng() % 8]));
          break;
        default:
          doc.resize(at);
      }
    }
    auto s = p.parse(doc, [&](const Event& ev) {
      // Whatever got through is a well-formed view.
      CHECK_FALSE(ev.auditID.empty());
      CHECK_FALSE(ev.verb.empty());
    });
    documents += s.documents;
    accounted += s.events + s.rejectedTotal();
  }
  CHECK(documents == 20000);
  CHECK(accounted >= documents);  // every document yields an event or a counted reject
}

TEST_CASE("ALineTruncatedIntoTheNextIsRejectedNotMerged") {
  // The two halves form one valid JSON value across the newline; as lines both are bad.
  std::string lines =
      R"({"auditID":"x","stage":"ResponseComplete","verb":"get","requestObject":[1,)"
      "\n2]}\n" +
      std::string(kPodGet) + "\n";
  EventParser p;
  Collected c;
  auto s = p.parseLines(lines, [&](const Event& e) { c.ids.emplace_back(e.auditID); });
  CHECK(c.ids == std::vector<std::string>{"a1"});
  CHECK(s.rejectedFor(RejectReason::kInvalidJson) == 2);
}

TEST_CASE("ParseLinesAgreesWithOneLineAtATime") {
  // A few MiB of lines with bad ones sprinkled in, so the batched path crosses batches and
  // falls back more than once.
  std::string all;
  std::vector<std::string> lines;
  for (int i = 0; i < 6000; ++i) {
    std::string line(kPodCreate);
    line.replace(line.find("5f0a1b2c-0d1e-4f5a-9b8c-7d6e5f4a3b2c"), 36, "id-" + std::to_string(i));
    if (i % 997 == 3) line = line.substr(0, line.size() / 3);               // truncated
    if (i % 1499 == 7) line[line.find("nginx")] = '\xff';                   // invalid UTF-8
    if (i % 2003 == 11) line = "[" + line + "]";                            // still fine: an array
    if (i % 1201 == 5) line = R"({"auditID":1,"stage":"x","verb":"get"})";  // wrong type
    lines.push_back(line);
    all += line + "\n";
  }
  EventParser batched, single;
  std::vector<std::string> a, b;
  auto sa = batched.parseLines(all, [&](const Event& e) { a.emplace_back(e.auditID); });
  ParseStats sb;
  for (const auto& l : lines) {
    sb += single.parse(l, [&](const Event& e) { b.emplace_back(e.auditID); });
  }
  CHECK(a.size() > 5900);
  CHECK(a == b);
  CHECK(sa.events == sb.events);
  CHECK(sa.documents == sb.documents);
  CHECK(sa.rejected == sb.rejected);
  CHECK(sa.rejectedTotal() > 10);
}

}  // namespace
}  // namespace kc::audit
