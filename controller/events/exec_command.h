#pragma once
// Decoding and scoring of the commands run through `pods/exec` (and the sessions opened through
// `pods/attach` and `pods/portforward`). The apiserver records the command only in the audit
// event's requestURI, as repeated `command=` query parameters; this decodes them and scores
// the command line against indicators of container abuse: reverse shells, service-account
// token reads, cloud metadata access, downloads from the internet, tunneling tools, miners,
// escapes to the node. Pure functions over strings: thread-safe, no I/O.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/detect/severity.h"

namespace kc::audit {

// A pod subresource request decoded from an audit requestURI.
struct ExecRequest {
  std::string namespace_;
  std::string pod;
  std::string subresource;           // exec, attach or portforward
  std::vector<std::string> command;  // argv, URL-decoded, in order (exec only)
  std::string container;
  bool stdin = false;
  bool tty = false;
  std::vector<std::string> ports;  // portforward
};

// Decodes `%XX` escapes and, in query strings, `+` as space. Invalid escapes are kept as is.
std::string urlDecode(std::string_view s, bool plusIsSpace = true);

// Parses /api/v1/namespaces/<ns>/pods/<pod>/{exec,attach,portforward}?...; nullopt for any
// other URI.
std::optional<ExecRequest> parseExecRequestUri(std::string_view requestURI);

struct Indicator {
  std::string id;  // stable, e.g. "reverse_shell", "sa_token_read"
  Severity severity = Severity::kInfo;
  std::string technique;  // ATT&CK id, e.g. "T1059.004"
  std::string evidence;   // the matched fragment (bounded length)
};

struct CommandScore {
  Severity severity = Severity::kInfo;  // the highest of the indicators (kInfo when none)
  std::vector<Indicator> indicators;    // one per indicator id, in a fixed order
  std::string commandLine;              // argv joined for display, quoted, bounded length

  bool has(std::string_view id) const;
};

// Scores an exec argv. `sh -c '<script>'` scripts are scanned like the rest of the line.
CommandScore scoreCommand(const std::vector<std::string>& argv);

}  // namespace kc::audit
