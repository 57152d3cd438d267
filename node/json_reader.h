#pragma once
// Reading a runtime's JSON answers (Docker Engine inspect bodies, containerd's OCI runtime
// specs) with simdjson: every string clamped once on a UTF-8 boundary, lists and maps capped,
// and the first value of the wrong type named ("<field>: expected <type>"). Missing and null
// members are not errors. Used by one thread at a time.

#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/utf8.h"

namespace kc::node {

struct JsonReader {
  // From a client's limits: maxStringBytes, maxListItems, maxLabels.
  template <class Limits>
  explicit JsonReader(const Limits& l)
      : maxStringBytes(l.maxStringBytes), maxListItems(l.maxListItems), maxLabels(l.maxLabels) {}
  const std::size_t maxStringBytes, maxListItems, maxLabels;
  bool clamped = false;  // a string was cut or a list capped
  std::string error;     // the first problem: "<field>: expected <type>"

  using element = simdjson::dom::element;
  using object = simdjson::dom::object;
  using array = simdjson::dom::array;

  bool fail(std::string_view field, std::string_view expected) {
    if (error.empty()) error = std::string(field) + ": expected " + std::string(expected);
    return false;
  }
  std::string clamp(std::string_view s) {
    const std::string_view cut = utf8::prefix(s, maxStringBytes);
    if (cut.size() != s.size()) clamped = true;
    return std::string(cut);
  }
  // The member `key` of `o`, or nullopt when absent or null.
  static std::optional<element> member(object o, std::string_view key) {
    element e;
    if (o.at_key(key).get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
    return e;
  }
  bool str(object o, std::string_view key, std::string& out, std::string_view field) {
    auto e = member(o, key);
    if (!e) return true;
    std::string_view s;
    if (e->get_string().get(s) != simdjson::SUCCESS) return fail(field, "string");
    out = clamp(s);
    return true;
  }
  bool boolean(object o, std::string_view key, bool& out, std::string_view field) {
    auto e = member(o, key);
    if (!e) return true;
    if (e->get_bool().get(out) != simdjson::SUCCESS) return fail(field, "boolean");
    return true;
  }
  // A signed integer; an unsigned one above INT64_MAX is read as INT64_MAX.
  bool integer(object o, std::string_view key, std::int64_t& out, std::string_view field) {
    auto e = member(o, key);
    if (!e) return true;
    if (e->get_int64().get(out) == simdjson::SUCCESS) return true;
    std::uint64_t u = 0;
    if (e->get_uint64().get(u) == simdjson::SUCCESS) {
      out = static_cast<std::int64_t>(std::min<std::uint64_t>(u, INT64_MAX));
      return true;
    }
    return fail(field, "integer");
  }
  bool unsignedInt(object o, std::string_view key, std::optional<std::uint64_t>& out,
                   std::string_view field) {
    auto e = member(o, key);
    if (!e) return true;
    std::uint64_t u = 0;
    if (e->get_uint64().get(u) != simdjson::SUCCESS) return fail(field, "unsigned integer");
    out = u;
    return true;
  }
  bool obj(object o, std::string_view key, std::optional<object>& out, std::string_view field) {
    return typed(o, key, out, field, "object");
  }
  bool arr(object o, std::string_view key, std::optional<array>& out, std::string_view field) {
    return typed(o, key, out, field, "array");
  }
  // The member `key` as a T (object or array); absent or null leaves `out` empty.
  template <class T>
  bool typed(object o, std::string_view key, std::optional<T>& out, std::string_view field,
             std::string_view expected) {
    auto e = member(o, key);
    if (!e) return true;
    T v;
    if (e->get<T>().get(v) != simdjson::SUCCESS) return fail(field, expected);
    out = v;
    return true;
  }
  // Strings of an array, clamped, at most maxListItems (more: clamped).
  bool strList(object o, std::string_view key, std::vector<std::string>& out,
               std::string_view field) {
    auto e = member(o, key);
    if (!e) return true;
    array a;
    if (e->get_array().get(a) != simdjson::SUCCESS) return fail(field, "array of strings");
    for (element item : a) {
      std::string_view s;
      if (item.get_string().get(s) != simdjson::SUCCESS) return fail(field, "array of strings");
      if (out.size() >= maxListItems) {
        clamped = true;
        break;
      }
      out.push_back(clamp(s));
    }
    return true;
  }
  // Whether an array of strings holds `value` (every element read, none kept).
  bool contains(object o, std::string_view key, std::string_view value, bool& found,
                std::string_view field) {
    auto e = member(o, key);
    if (!e) return true;
    array a;
    if (e->get_array().get(a) != simdjson::SUCCESS) return fail(field, "array of strings");
    for (element item : a) {
      std::string_view s;
      if (item.get_string().get(s) != simdjson::SUCCESS) return fail(field, "array of strings");
      if (s == value) found = true;
    }
    return true;
  }
  // Number of elements of an array (0 when absent).
  bool count(object o, std::string_view key, std::size_t& n, std::string_view field) {
    std::optional<array> a;
    if (!arr(o, key, a, field)) return false;
    n = a ? a->size() : 0;
    return true;
  }
  // A string-to-string map (labels, attributes), sorted by key, at most maxLabels entries.
  bool stringMap(object o, std::string_view key,
                 std::vector<std::pair<std::string, std::string>>& out, std::string_view field) {
    auto e = member(o, key);
    if (!e) return true;
    object m;
    if (e->get_object().get(m) != simdjson::SUCCESS) return fail(field, "object of strings");
    for (auto [k, v] : m) {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS) return fail(field, "object of strings");
      if (out.size() >= maxLabels) {
        clamped = true;
        break;
      }
      out.emplace_back(clamp(k), clamp(s));
    }
    std::sort(out.begin(), out.end());
    return true;
  }
};

}  // namespace kc::node
