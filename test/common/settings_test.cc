#include "common/settings.h"

#include <catch2/catch.hpp>

namespace {

using kc::settings::Errors;
using kc::settings::field;

struct Door {
  std::string mode = "on";
  std::size_t limit = 10;
  std::vector<std::string> names;
};
struct Inner {
  bool deep = false;
};
struct Program {
  int level = 1;
  Door door;
  Inner inner;
};

kc::settings::Section<Door> doorSection() {
  return {"door",
          {field("mode", &Door::mode), field("limit", &Door::limit),
           field("names", &Door::names, {.orString = true, .nonEmpty = true})},
          [](const Door& d, Errors& errors) {
            if (d.mode != "on" && d.mode != "off") errors.push_back({"door.mode", 0, "on or off"});
          }};
}

kc::settings::Schema<Program> schema() {
  kc::settings::Schema<Program> s;
  s.add(kc::settings::Section<Program>{"", {field("level", &Program::level)}, nullptr},
        [](Program& p) -> Program& { return p; });
  s.add(doorSection(), &Program::door);
  s.add(kc::settings::Section<Inner>{"door.inner", {field("deep", &Inner::deep)}, nullptr},
        &Program::inner);
  s.check([](const Program& p, Errors& errors) {
    if (p.level > static_cast<int>(p.door.limit)) errors.push_back({"level", 0, "over the limit"});
  });
  return s;
}

TEST_CASE("SectionsComposeIntoOneFileWithDottedKeys", "[settings]") {
  const auto s = schema();
  Program p;
  const Errors errors = s.apply(
      "level: 3\ndoor:\n  mode: off\n  names: one\n  inner:\n"
      "    deep: true\n",
      p);
  REQUIRE(errors.empty());
  CHECK(p.level == 3);
  CHECK(p.door.mode == "off");
  CHECK(p.door.names == std::vector<std::string>{"one"});  // a lone string is a list of one
  CHECK(p.door.limit == 10);                               // untouched default
  CHECK(p.inner.deep);
  CHECK(s.validate(p).empty());

  const auto keys = s.keys();
  CHECK(keys == std::vector<std::pair<std::string, std::string>>{
                    {"door.inner.deep", "boolean"},
                    {"door.limit", "non-negative integer"},
                    {"door.mode", "string"},
                    {"door.names", "string or list of strings"},
                    {"level", "integer"}});
}

TEST_CASE("EachSectionChecksItselfAndTheProgramChecksAcross", "[settings]") {
  const auto s = schema();
  Program p;
  p.door.mode = "maybe";
  p.level = 11;
  const Errors errors = s.validate(p);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].key == "door.mode");  // sections first, in the order they were added
  CHECK(errors[1].key == "level");
}

TEST_CASE("UnknownKeysWrongTypesAndEmptyNamesAreReportedWithTheirLines", "[settings]") {
  const auto s = schema();
  Program p;
  const Errors errors = s.apply(
      "door:\n  limit: -1\n  names: [a, \"\"]\n  inner:\n    deep: 3\n    deeper: 1\n"
      "level: \"2\"\nwindow: 1\n",
      p);
  REQUIRE(errors.size() == 6);
  CHECK(errors[0].toString("f.yaml") == "f.yaml:2: door.limit: expected non-negative integer");
  CHECK(errors[1].toString("f.yaml") == "f.yaml:3: door.names: empty string in the list");
  CHECK(errors[2].toString("f.yaml") == "f.yaml:5: door.inner.deep: expected boolean");
  CHECK(errors[3].toString("f.yaml") == "f.yaml:6: door.inner.deeper: unknown key");
  CHECK(errors[4].toString("f.yaml") == "f.yaml:7: level: expected integer");  // quoted
  CHECK(errors[5].toString("f.yaml") == "f.yaml:8: window: unknown key");
  CHECK(p.door.names.empty());  // a refused list is not half taken
}

}  // namespace
