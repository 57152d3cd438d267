#include "common/config.h"

#include <catch2/catch.hpp>

namespace {

TEST_CASE("AppliesEveryKindOfValueFromYaml", "[config]") {
  kc::Config cfg;
  const auto errors = kc::applyConfigYaml(R"(
roles: [webhook]
logLevel: debug
server:
  listen: "127.0.0.1:9443"
  threads: 3
  maxBodyBytes: 1048576
  headerTimeoutSeconds: 2.5
tls:
  certFile: /certs/tls.crt
  keyFile: /certs/tls.key
audit:
  bearerTokens: [a, b]
)",
                                          cfg);
  REQUIRE(errors.empty());
  CHECK(cfg.roles == std::vector<std::string>{"webhook"});
  CHECK(cfg.logLevel == "debug");
  CHECK(cfg.server.listen == "127.0.0.1:9443");
  CHECK(cfg.server.threads == 3);
  CHECK(cfg.server.maxBodyBytes == 1048576);
  CHECK(cfg.server.headerTimeoutSeconds == 2.5);
  CHECK(cfg.tls.certFile == "/certs/tls.crt");
  CHECK(cfg.audit.bearerTokens == std::vector<std::string>{"a", "b"});
  CHECK(cfg.metrics.listen == ":9090");  // untouched default
  CHECK(kc::validateConfig(cfg).empty());
}

TEST_CASE("ReportsUnknownKeyWithDottedNameAndLine", "[config]") {
  kc::Config cfg;
  const auto errors = kc::applyConfigYaml("server:\n  listen: ':1'\n  maxBody: 5\n", cfg);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].key == "server.maxBody");
  CHECK(errors[0].line == 3);
  CHECK(errors[0].toString("c.yaml") == "c.yaml:3: server.maxBody: unknown key");
}

TEST_CASE("ReportsWrongTypesWithLine", "[config]") {
  kc::Config cfg;
  const auto errors = kc::applyConfigYaml(
      "roles: webhook\nserver:\n  threads: many\n  maxBodyBytes: -1\n  listen: [a]\n"
      "tls: yes\n",
      cfg);
  REQUIRE(errors.size() == 5);
  CHECK(errors[0].key == "roles");
  CHECK(errors[0].message == "expected list of strings");
  CHECK(errors[1].key == "server.threads");
  CHECK(errors[1].line == 3);
  CHECK(errors[2].key == "server.maxBodyBytes");
  CHECK(errors[3].key == "server.listen");
  CHECK(errors[4].key == "tls");
  CHECK(errors[4].message == "expected a mapping");
}

TEST_CASE("QuotedNumberIsNotAnInteger", "[config]") {
  kc::Config cfg;
  const auto errors = kc::applyConfigYaml("server:\n  threads: \"4\"\n", cfg);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].key == "server.threads");
}

TEST_CASE("ReportsYamlSyntaxErrorWithLine", "[config]") {
  kc::Config cfg;
  const auto errors = kc::applyConfigYaml("server:\n  listen: [unclosed\n", cfg);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line >= 2);
  CHECK(errors[0].message.find("invalid YAML") == 0);
}

TEST_CASE("EmptyFileKeepsDefaultsAndTopLevelMustBeAMapping", "[config]") {
  kc::Config cfg;
  CHECK(kc::applyConfigYaml("", cfg).empty());
  CHECK(cfg.server.listen == ":8443");
  CHECK(kc::applyConfigYaml("- a\n- b\n", cfg).size() == 1);
}

TEST_CASE("ValidationRejectsImpossibleSettings", "[config]") {
  kc::Config cfg;
  cfg.roles = {"webhook", "mutate"};
  cfg.logLevel = "loud";
  cfg.tls.certFile = "/only/cert";
  cfg.server.maxBodyBytes = 0;
  const auto errors = kc::validateConfig(cfg);
  std::vector<std::string> keys;
  for (const auto& e : errors) keys.push_back(e.key);
  CHECK(keys == std::vector<std::string>{"roles", "logLevel", "server.maxBodyBytes", "tls"});
}

}  // namespace
