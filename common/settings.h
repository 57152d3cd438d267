#pragma once
// Settings read from the YAML configuration file, one section per door. Each door declares its
// section next to its code: the keys it accepts (each bound to a member of its settings struct,
// the type taken from the member), and the checks across them. A program composes the sections
// it runs into one `Schema` over its whole configuration; the schema reads the file (an unknown
// key or a value of the wrong type is reported with its dotted name and line) and validates
// every section. Plain data; not thread-safe to mutate.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace kc::settings {

// One problem found while loading or validating, with its place.
struct Error {
  std::string key;  // dotted name, e.g. "server.maxBodyBytes"
  int line = 0;     // 1-based; 0 when unknown
  std::string message;
  std::string toString(const std::string& file) const;
};
using Errors = std::vector<Error>;

enum class Type {
  kString,
  kInt,
  kSize,
  kDouble,
  kBool,
  kStringList,
  kStringOrList,  // a string taken as a list of one, or a list of strings
  kStringListMap  // a map of lists of strings
};
const char* typeName(Type t);

template <class>
inline constexpr bool kNotASetting = false;

// The type of a setting held in a member of type M.
template <class M>
constexpr Type typeOf() {
  if constexpr (std::is_same_v<M, std::string>)
    return Type::kString;
  else if constexpr (std::is_same_v<M, int>)
    return Type::kInt;
  else if constexpr (std::is_same_v<M, std::size_t>)
    return Type::kSize;
  else if constexpr (std::is_same_v<M, double>)
    return Type::kDouble;
  else if constexpr (std::is_same_v<M, bool>)
    return Type::kBool;
  else if constexpr (std::is_same_v<M, std::vector<std::string>>)
    return Type::kStringList;
  else if constexpr (std::is_same_v<M, std::map<std::string, std::vector<std::string>>>)
    return Type::kStringListMap;
  else
    static_assert(kNotASetting<M>,
                  "a setting is a string, number, boolean, list of strings or map of them");
}

// How a list is read.
struct ListOptions {
  bool orString = false;  // a lone string is a list of one
  bool nonEmpty = false;  // refuse empty strings in the lists
  // Map keys: why a key is refused, empty when accepted.
  std::string (*checkKey)(const std::string&) = nullptr;
};

// One key of a section, bound to a member of the section's struct `S`.
template <class S>
struct Field {
  std::string key;  // below the section, e.g. "maxBodyBytes"
  Type type;
  std::function<void*(S&)> target;
  ListOptions list;
};

template <class S, class M>
Field<S> field(std::string key, M S::*member, ListOptions list = {}) {
  Type type = typeOf<M>();
  if (type == Type::kStringList && list.orString) type = Type::kStringOrList;
  return {std::move(key), type, [member](S& s) -> void* { return &(s.*member); }, list};
}

// A door's section: its dotted name ("" for the top level), its keys and its checks.
template <class S>
struct Section {
  std::string name;
  std::vector<Field<S>> fields;
  std::function<void(const S&, Errors&)> validate;
};

// Every section of a program's configuration `C`, each found in it by an accessor.
template <class C>
class Schema {
 public:
  // `in` finds the section's struct in the configuration: S& in(C&).
  template <class S, class In>
  Schema& add(const Section<S>& section, In in) {
    if (!section.name.empty()) sections_.push_back(section.name);
    for (const auto& f : section.fields) {
      const std::string key = section.name.empty() ? f.key : section.name + "." + f.key;
      fields_.emplace(key, Erased{f.type, [t = f.target, in](C& c) { return t(in(c)); }, f.list});
    }
    if (section.validate)  // the accessor only finds the section; the check reads it
      checks_.push_back([v = section.validate, in](const C& c, Errors& errors) {
        v(in(const_cast<C&>(c)), errors);
      });
    return *this;
  }
  // A section that is a member of the configuration.
  template <class S>
  Schema& add(const Section<S>& section, S C::*member) {
    return add(section, [member](C& c) -> S& { return c.*member; });
  }
  // A check across sections, run after theirs.
  Schema& check(std::function<void(const C&, Errors&)> across) {
    checks_.push_back(std::move(across));
    return *this;
  }

  // Applies the YAML text over `c`. Returns every error (empty on success); on error `c` may be
  // partly updated and must not be used.
  Errors apply(const std::string& text, C& c) const;
  Errors validate(const C& c) const {
    Errors errors;
    for (const auto& check : checks_) check(c, errors);
    return errors;
  }
  // Every key, dotted, with its type name.
  std::vector<std::pair<std::string, std::string>> keys() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [key, f] : fields_) out.emplace_back(key, typeName(f.type));
    return out;
  }

 private:
  struct Erased {
    Type type;
    std::function<void*(C&)> target;
    ListOptions list;
  };
  std::vector<std::string> sections_;
  std::map<std::string, Erased> fields_;
  std::vector<std::function<void(const C&, Errors&)>> checks_;
};

// Reads YAML `text`: keys under `sections` are descended into, every other key goes to its
// target through `lookup` (false: an unknown key).
struct RawTarget {
  Type type;
  void* at;
  const ListOptions* list;
};
Errors readYaml(const std::string& text, const std::vector<std::string>& sections,
                const std::function<bool(const std::string&, RawTarget&)>& lookup);

template <class C>
Errors Schema<C>::apply(const std::string& text, C& c) const {
  return readYaml(text, sections_, [&](const std::string& key, RawTarget& out) {
    auto it = fields_.find(key);
    if (it == fields_.end()) return false;
    out = {it->second.type, it->second.target(c), &it->second.list};
    return true;
  });
}

// A duration given in seconds in the configuration, as milliseconds.
inline std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

}  // namespace kc::settings
