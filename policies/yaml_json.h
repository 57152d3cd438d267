#pragma once
// Converts YAML text (one or many `---`-separated documents) into JSON values, resolving plain
// scalars by the YAML 1.2 core schema the way Kubernetes manifests are usually read: quoted
// scalars stay strings; `true`/`false`, integers, floats and `null`/`~`/empty become typed
// values (YAML 1.1 words such as `yes`/`on` stay strings). Errors carry 1-based line and column.
// Explicit tags `!!str`, `!!int`, `!!float`, `!!bool`, `!!null` are honoured.
// Used to feed manifests, fixtures and policy files into simdjson. Does no I/O.
// Thread-safe: free functions without shared state.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kc::policy {

struct YamlDocument {
  nlohmann::ordered_json value;  // keys keep their document order
  int line = 0;                  // 1-based line where the document's content starts
};

struct YamlError {
  std::string message;
  int line = 0;                  // 1-based, 0 when unknown
  int column = 0;                // 1-based, 0 when unknown
  std::string toString() const;  // "line 3, column 5: message"
};

struct YamlParseResult {
  std::vector<YamlDocument> documents;  // empty documents (only comments, `---`) are skipped
  std::vector<YamlError> errors;        // at most one parse error; conversion errors per node
  bool ok() const { return errors.empty(); }
};

// Checks `text` before it is turned into nodes: only printable characters (no C0 controls
// besides tab, LF, CR), no recursive aliases, and no document growing
// beyond `maxExpandedNodes` nodes once aliases are expanded ("billion laughs"). Syntax errors are
// reported too. parseYaml and the policy loader call it first.
bool checkYamlAliases(std::string_view text, YamlError& error,
                      uint64_t maxExpandedNodes = 1'000'000);

// Parses every document in `text`. Never throws. Documents converted before an error are kept.
YamlParseResult parseYaml(std::string_view text);

// Convenience: each document serialised as compact JSON, ready for simdjson. On error returns
// false and fills `error`.
bool yamlToJsonStrings(std::string_view text, std::vector<std::string>& out, YamlError& error);

}  // namespace kc::policy
