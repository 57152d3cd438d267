#include "common/settings.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

namespace kc::settings {
namespace {

int lineOf(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

bool scalarIsQuoted(const YAML::Node& n) { return n.Tag() == "!"; }

// The line of `value`, or of its key when the value is empty (whose mark is the next token's).
int lineOf(const YAML::Node& key, const YAML::Node& value) {
  const int line = value.IsNull() ? 0 : lineOf(value);
  return line > 0 ? line : lineOf(key);
}

// Reads a list of strings into `out`; false (with an error under `key`) when it is not one.
bool readStringList(const std::string& key, const YAML::Node& v, int line, bool nonEmpty,
                    std::vector<std::string>& out, Errors& errors) {
  if (!v.IsSequence()) {
    errors.push_back({key, line, std::string("expected ") + typeName(Type::kStringList)});
    return false;
  }
  for (const auto& item : v) {
    if (!item.IsScalar()) {
      errors.push_back({key, lineOf(item), "expected a string in the list"});
      return false;
    }
    if (nonEmpty && item.Scalar().empty()) {
      errors.push_back({key, lineOf(item), "empty string in the list"});
      return false;
    }
    out.push_back(item.Scalar());
  }
  return true;
}

template <class T>
bool readUnquoted(const YAML::Node& v, T& out) {
  return v.IsScalar() && !scalarIsQuoted(v) && YAML::convert<T>::decode(v, out);
}

void setValue(const std::string& key, const RawTarget& t, const YAML::Node& v, Errors& errors) {
  auto wrongType = [&] {
    errors.push_back({key, lineOf(v), std::string("expected ") + typeName(t.type)});
  };
  switch (t.type) {
    case Type::kString:
      if (!v.IsScalar()) return wrongType();
      *static_cast<std::string*>(t.at) = v.Scalar();
      return;
    case Type::kInt: {
      int out = 0;
      if (!readUnquoted(v, out)) return wrongType();
      *static_cast<int*>(t.at) = out;
      return;
    }
    case Type::kSize: {
      long long out = 0;
      if (!readUnquoted(v, out) || out < 0) return wrongType();
      *static_cast<std::size_t*>(t.at) = static_cast<std::size_t>(out);
      return;
    }
    case Type::kDouble: {
      double out = 0;
      if (!readUnquoted(v, out)) return wrongType();
      *static_cast<double*>(t.at) = out;
      return;
    }
    case Type::kBool: {
      bool out = false;
      if (!readUnquoted(v, out)) return wrongType();
      *static_cast<bool*>(t.at) = out;
      return;
    }
    case Type::kStringOrList:
      if (v.IsScalar()) {
        if (t.list->nonEmpty && v.Scalar().empty()) return wrongType();
        *static_cast<std::vector<std::string>*>(t.at) = {v.Scalar()};
        return;
      }
      [[fallthrough]];
    case Type::kStringList: {
      std::vector<std::string> out;
      if (!readStringList(key, v, lineOf(v), t.list->nonEmpty, out, errors)) return;
      *static_cast<std::vector<std::string>*>(t.at) = std::move(out);
      return;
    }
    case Type::kStringListMap: {
      if (!v.IsMap()) return wrongType();
      using Map = std::map<std::string, std::vector<std::string>>;
      Map out;
      bool ok = true;
      for (const auto& kv : v) {
        const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
        const std::string itemKey = key + "." + name;
        if (t.list->checkKey != nullptr) {
          if (std::string why = t.list->checkKey(name); !why.empty()) {
            errors.push_back({itemKey, lineOf(kv.first), why});
            ok = false;
            continue;
          }
        }
        // A key given twice adds to the same list.
        ok &= readStringList(itemKey, kv.second, lineOf(kv.first, kv.second), t.list->nonEmpty,
                             out[name], errors);
      }
      if (ok) *static_cast<Map*>(t.at) = std::move(out);
      return;
    }
  }
}

void walk(const YAML::Node& map, const std::string& prefix,
          const std::vector<std::string>& sections,
          const std::function<bool(const std::string&, RawTarget&)>& lookup, Errors& errors) {
  for (const auto& kv : map) {
    const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    const YAML::Node& value = kv.second;
    if (std::find(sections.begin(), sections.end(), key) != sections.end()) {
      if (value.IsNull()) continue;
      if (!value.IsMap()) {
        errors.push_back({key, lineOf(value), "expected a mapping"});
        continue;
      }
      walk(value, key, sections, lookup, errors);
      continue;
    }
    RawTarget target{};
    if (!lookup(key, target)) {
      errors.push_back({key, lineOf(kv.first), "unknown key"});
      continue;
    }
    setValue(key, target, value, errors);
  }
}

}  // namespace

const char* typeName(Type t) {
  switch (t) {
    case Type::kString:
      return "string";
    case Type::kInt:
      return "integer";
    case Type::kSize:
      return "non-negative integer";
    case Type::kDouble:
      return "number";
    case Type::kBool:
      return "boolean";
    case Type::kStringList:
      return "list of strings";
    case Type::kStringOrList:
      return "string or list of strings";
    case Type::kStringListMap:
      return "map of lists of strings";
  }
  return "?";
}

std::string Error::toString(const std::string& file) const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

Errors readYaml(const std::string& text, const std::vector<std::string>& sections,
                const std::function<bool(const std::string&, RawTarget&)>& lookup) {
  Errors errors;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    errors.push_back({"", e.mark.line >= 0 ? e.mark.line + 1 : 0, "invalid YAML: " + e.msg});
    return errors;
  }
  if (root.IsNull()) return errors;  // an empty file keeps the defaults
  if (!root.IsMap()) {
    errors.push_back({"", lineOf(root), "the configuration must be a mapping"});
    return errors;
  }
  try {
    walk(root, "", sections, lookup, errors);
  } catch (const YAML::Exception& e) {
    errors.push_back({"", e.mark.line >= 0 ? e.mark.line + 1 : 0, e.msg});
  }
  return errors;
}

}  // namespace kc::settings
