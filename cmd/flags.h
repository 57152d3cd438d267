#pragma once
// A small command-line parser: `--name value`, `--name=value` and boolean `--name`.
// Unknown flags are errors, so a typo never silently falls back to a default.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace kc::cmd {

class Flags {
 public:
  // `valued`: flags that take a value; `booleans`: flags that do not.
  Flags(std::set<std::string> valued, std::set<std::string> booleans)
      : valued_(std::move(valued)), booleans_(std::move(booleans)) {}

  // Parses args (without the program and subcommand names). False and `error` on bad input.
  bool parse(const std::vector<std::string>& args, std::string& error);

  std::optional<std::string> get(const std::string& name) const;
  std::vector<std::string> getAll(const std::string& name) const;
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::set<std::string> valued_, booleans_;
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace kc::cmd
