// Tests of BoundedMap, the capped map with first-in-first-out eviction the units remember with.
#include "controller/detect/bounded_map.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace kc::audit::detect {
namespace {

std::vector<std::string> keys(const BoundedMap<int>& m) {
  return {m.order().begin(), m.order().end()};
}

TEST_CASE("BoundedMapForgetsTheOldestKeyAddedWhenFull", "[bounded_map]") {
  BoundedMap<int> m(3);
  m.put("a", 1);
  m.put("b", 2);
  m.put("c", 3);
  // Reading or overwriting an entry does not make it younger.
  REQUIRE(m.find("a") != nullptr);
  m.put("a", 10);
  m.put("d", 4);
  CHECK(m.size() == 3);
  CHECK(m.find("a") == nullptr);
  CHECK(*m.find("b") == 2);
  CHECK(*m.find("d") == 4);
  CHECK(keys(m) == std::vector<std::string>{"b", "c", "d"});
  m.put("e", 5);
  CHECK(m.find("b") == nullptr);
  CHECK(keys(m) == std::vector<std::string>{"c", "d", "e"});
}

TEST_CASE("BoundedMapGetAddsAValueInitializedEntry", "[bounded_map]") {
  BoundedMap<int> m(2);
  CHECK(m.get("a") == 0);
  m.get("a") += 5;
  CHECK(*m.find("a") == 5);
  CHECK(m.size() == 1);
  const BoundedMap<int>& c = m;
  CHECK(*c.find("a") == 5);
  CHECK(c.find("b") == nullptr);
}

TEST_CASE("BoundedMapEraseForgetsTheKeyAndItsPlace", "[bounded_map]") {
  BoundedMap<int> m(3);
  m.put("a", 1);
  m.put("b", 2);
  m.put("c", 3);
  CHECK(m.erase("a"));
  CHECK_FALSE(m.erase("a"));
  CHECK_FALSE(m.erase("never"));
  CHECK(keys(m) == std::vector<std::string>{"b", "c"});
  // Added again, the erased key is the youngest: the next eviction takes b, not a.
  m.put("a", 11);
  CHECK(keys(m) == std::vector<std::string>{"b", "c", "a"});
  m.put("d", 4);
  CHECK(m.find("b") == nullptr);
  CHECK(*m.find("a") == 11);
  CHECK(keys(m) == std::vector<std::string>{"c", "a", "d"});
}

TEST_CASE("BoundedMapErasedKeysDoNotLingerInTheOrder", "[bounded_map]") {
  BoundedMap<int> m(4);
  for (int i = 0; i < 1000; ++i) {
    m.put("k" + std::to_string(i), i);
    m.erase("k" + std::to_string(i));
  }
  CHECK(m.size() == 0);
  CHECK(m.order().empty());
  // Written, deleted and written again many times: one entry, one place.
  for (int i = 0; i < 100; ++i) {
    m.put("x", i);
    if (i % 2 == 0) m.erase("x");
  }
  CHECK(keys(m) == std::vector<std::string>{"x"});
  m.put("a", 1);
  m.put("b", 2);
  m.put("c", 3);
  m.put("d", 4);  // x is the oldest
  CHECK(m.find("x") == nullptr);
  CHECK(keys(m) == std::vector<std::string>{"a", "b", "c", "d"});
}

TEST_CASE("BoundedMapOfCapacityOneKeepsTheLastKey", "[bounded_map]") {
  BoundedMap<int> m(1);
  m.put("a", 1);
  m.put("a", 2);
  CHECK(*m.find("a") == 2);
  m.put("b", 3);
  CHECK(m.size() == 1);
  CHECK(m.find("a") == nullptr);
  CHECK(*m.find("b") == 3);
  CHECK(m.erase("b"));
  CHECK(m.size() == 0);
  m.put("c", 4);
  CHECK(keys(m) == std::vector<std::string>{"c"});
  // A capacity of 0 is taken as 1.
  BoundedMap<int> z(0);
  CHECK(z.capacity() == 1);
  z.put("a", 1);
  z.put("b", 2);
  CHECK(keys(z) == std::vector<std::string>{"b"});
}

}  // namespace
}  // namespace kc::audit::detect
