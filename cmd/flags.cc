#include "cmd/flags.h"

namespace kc::cmd {

bool Flags::parse(const std::vector<std::string>& args, std::string& error) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-") {
      positional_.push_back(a);
      continue;
    }
    if (a == "--") {
      positional_.insert(positional_.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      return true;
    }
    if (a.size() < 2 || a[0] != '-') {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(a[1] == '-' ? 2 : 1);
    std::optional<std::string> value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (booleans_.count(name)) {
      if (value && *value != "true" && *value != "false") {
        error = "flag --" + name + " takes no value";
        return false;
      }
      values_.emplace(name, value.value_or("true"));
      continue;
    }
    if (!valued_.count(name)) {
      error = "unknown flag --" + name;
      return false;
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        error = "flag --" + name + " needs a value";
        return false;
      }
      value = args[++i];
    }
    values_.emplace(name, *value);
  }
  return true;
}

std::optional<std::string> Flags::get(const std::string& name) const {
  auto range = values_.equal_range(name);
  if (range.first == range.second) return std::nullopt;
  return std::prev(range.second)->second;  // the last one wins
}

std::vector<std::string> Flags::getAll(const std::string& name) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

}  // namespace kc::cmd
