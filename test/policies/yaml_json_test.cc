#include "policies/yaml_json.h"

#include <catch2/catch.hpp>
#include <chrono>

namespace kc::policy {
namespace {

nlohmann::ordered_json one(std::string_view text) {
  auto r = parseYaml(text);
  REQUIRE(r.ok());
  REQUIRE(r.documents.size() == 1);
  return r.documents[0].value;
}

TEST_CASE("YamlJson.ResolvesCoreSchemaScalars", "[yaml_json]") {
  auto j = one(R"(
a: true
b: False
c: 42
d: -7
e: 3.5
f: 1e3
g: null
h: ~
i:
j: hello
k: yes
l: off
m: 0x1F
n: 0o17
o: 0644
)");
  CHECK(j["a"] == true);
  CHECK(j["b"] == false);
  CHECK(j["c"] == 42);
  CHECK(j["d"] == -7);
  CHECK(j["e"] == 3.5);
  CHECK(j["f"] == 1000.0);
  CHECK(j["g"].is_null());
  CHECK(j["h"].is_null());
  CHECK(j["i"].is_null());
  CHECK(j["j"] == "hello");
  CHECK(j["k"] == "yes");  // YAML 1.1 words stay strings
  CHECK(j["l"] == "off");
  CHECK(j["m"] == 31);
  CHECK(j["n"] == 15);
  CHECK(j["o"] == 420);  // file modes as Kubernetes reads them
}

TEST_CASE("YamlJson.QuotedScalarsStayStrings", "[yaml_json]") {
  auto j = one(R"(
a: "true"
b: '42'
c: "null"
d: |
  block
e: !!str 12
f: !!int "12"
)");
  CHECK(j["a"] == "true");
  CHECK(j["b"] == "42");
  CHECK(j["c"] == "null");
  CHECK(j["d"] == "block\n");
  CHECK(j["e"] == "12");
  CHECK(j["f"] == 12);
}

TEST_CASE("YamlJson.ReadsEveryDocumentAndSkipsEmptyOnes", "[yaml_json]") {
  auto r = parseYaml(
      "---\n# only a comment\n---\nkind: Pod\n---\nkind: Deployment\nspec: {replicas: 2}\n---\n");
  REQUIRE(r.ok());
  REQUIRE(r.documents.size() == 2);
  CHECK(r.documents[0].value["kind"] == "Pod");
  CHECK(r.documents[0].line == 4);
  CHECK(r.documents[1].value["spec"]["replicas"] == 2);
  CHECK(r.documents[1].line == 6);
}

TEST_CASE("YamlJson.ReportsSyntaxErrorWithLine", "[yaml_json]") {
  auto r = parseYaml("a: 1\nb: [1, 2\nc: 3\n");
  REQUIRE_FALSE(r.ok());
  CHECK(r.errors[0].line >= 2);
  CHECK_FALSE(r.errors[0].message.empty());
  CHECK(r.errors[0].toString().rfind("line ", 0) == 0);
}

TEST_CASE("YamlJson.MalformedInputThatStallsTheParserIsAnErrorNotAHang", "[yaml_json]") {
  // yaml-cpp 0.7 stops advancing on this text and returns empty documents forever (found by
  // the policy loader fuzzer: loading such a policy file spun for minutes).
  const std::string text = "ease]\n\n '''a\n#''-lease]\n\n '' &`masters,odes]\n";
  const auto start = std::chrono::steady_clock::now();
  auto r = parseYaml(text);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message.find("stopped advancing") != std::string::npos);
  std::vector<std::string> out;
  YamlError err;
  CHECK_FALSE(yamlToJsonStrings(text, out, err));
  // A generous bound: this is about not hanging, not speed.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  // Many empty documents are still fine.
  std::string empties;
  for (int i = 0; i < 1000; ++i) empties += "---\n";
  CHECK(parseYaml(empties).errors.empty());
}

TEST_CASE("YamlJson.RejectsDuplicateKeysWithLine", "[yaml_json]") {
  auto r = parseYaml("metadata:\n  name: a\n  name: b\n");
  REQUIRE_FALSE(r.ok());
  CHECK(r.errors[0].line == 3);
  CHECK(r.errors[0].message.find("duplicate key \"name\"") != std::string::npos);
}

TEST_CASE("YamlJson.RejectsInfinityWhichJsonCannotHold", "[yaml_json]") {
  auto r = parseYaml("a:\n  b: .inf\n");
  REQUIRE_FALSE(r.ok());
  CHECK(r.errors[0].line == 2);
}

TEST_CASE("YamlJson.RejectsNonScalarKeys", "[yaml_json]") {
  auto r = parseYaml("? [a, b]\n: 1\n");
  REQUIRE_FALSE(r.ok());
  CHECK(r.errors[0].message.find("scalars") != std::string::npos);
}

TEST_CASE("YamlJson.ProducesJsonStringsForSimdjson", "[yaml_json]") {
  std::vector<std::string> out;
  YamlError err;
  REQUIRE(yamlToJsonStrings("kind: Pod\nspec:\n  containers:\n  - name: a\n    image: nginx\n", out,
                            err));
  REQUIRE(out.size() == 1);
  CHECK(out[0] == R"({"kind":"Pod","spec":{"containers":[{"name":"a","image":"nginx"}]}})");
  REQUIRE_FALSE(yamlToJsonStrings("a: [", out, err));
  CHECK(err.line >= 1);
}

TEST_CASE("YamlJson.ExpandsAnchorsAndAliases", "[yaml_json]") {
  auto j = one("base: &b {x: 1}\ncopy: *b\n");
  CHECK(j["copy"]["x"] == 1);
}

TEST_CASE("YamlJson.RefusesDeepNesting", "[yaml_json]") {
  std::string deep(300, '[');
  deep += std::string(300, ']');
  auto r = parseYaml(deep);
  CHECK_FALSE(r.ok());
}

}  // namespace
}  // namespace kc::policy

namespace kc::policy {
namespace {

TEST_CASE("YamlJson.RejectsRecursiveAliases", "[yaml_json]") {
  auto r = parseYaml("a: &x [1, *x]\n");
  REQUIRE_FALSE(r.ok());
  CHECK(r.errors[0].message.find("recursive alias") != std::string::npos);
  CHECK(r.errors[0].line == 1);
}

TEST_CASE("YamlJson.RejectsAliasExpansionBombs", "[yaml_json]") {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'h'; ++c, ++prev) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", *" : "*") + prev;
    bomb += "]\n";
  }
  auto r = parseYaml(bomb);  // 10^8 nodes once expanded
  REQUIRE_FALSE(r.ok());
  CHECK(r.errors[0].message.find("expands to more than") != std::string::npos);
  CHECK(parseYaml("a: &a {x: 1}\nb: *a\nc: *a\n").ok());
}

}  // namespace
}  // namespace kc::policy

namespace kc::policy {
namespace {

TEST_CASE("YamlJson.RejectsControlCharactersWithPosition", "[yaml_json]") {
  auto r = parseYaml(std::string("a: 1\nb: x\x1dy\n"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.errors[0].line == 2);
  CHECK(r.errors[0].column == 5);
  CHECK(r.errors[0].message == "control character 0x1d is not allowed in YAML");
  CHECK(parseYaml("a:\tb\r\nc: d\n").ok());
}

}  // namespace
}  // namespace kc::policy

namespace kc::policy {
namespace {

TEST_CASE("YamlJson.RejectsValuesStartingWithAComma", "[yaml_json]") {
  for (const char* text : {",", "  ,", "# c\n,", "--- ,", "!!str ,", "&a ,", "a: 1\n---\n,",
                           "- 1\n, &a [x]\n", "- ,\n", "!!:,*: \n", "\"\",x\n"}) {
    INFO(text);
    auto r = parseYaml(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.errors[0].message == "a value cannot start with ','");
  }
  auto valid = parseYaml(
      "a: x, y\nb: [1,\n  ,2]\nc: |\n  , in a block scalar\n  - still\nd: 'quoted\n  , line'\n"
      "e: \"x\\\" , y\"\nf: >-\n  ,folded\ng: ok\n");
  INFO((valid.ok() ? std::string() : valid.errors[0].toString()));
  REQUIRE(valid.ok());
  CHECK(valid.documents[0].value["c"] == ", in a block scalar\n- still\n");
  CHECK(valid.documents[0].value["g"] == "ok");
}

}  // namespace
}  // namespace kc::policy
