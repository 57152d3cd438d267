#pragma once
// A finding: what a detection rule reports, for people (logs, alerts) and machines (JSON).

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/detect/severity.h"

namespace kc::audit {

struct Finding {
  std::string rule;
  Severity severity = Severity::kLow;  // never kInfo
  std::string technique;               // ATT&CK id, e.g. "T1610"
  std::string techniqueName;           // "Deploy Container"
  std::string summary;                 // one line, for people

  // Where it happened and who did it.
  std::string auditID;
  std::string stage;
  std::string verb;
  std::string kind;  // object kind, or the resource when the kind is unknown
  std::string resource;
  std::string subresource;
  std::string namespace_;
  std::string name;
  std::string user;         // the identity responsible (attributed through controllers)
  std::string requestUser;  // the identity that made this request, when different from user
  std::string impersonatedUser;
  std::string userAgent;
  std::string sourceIP;
  int responseCode = 0;
  int64_t timeMicros = 0;

  // What it is about.
  std::vector<std::string> images;
  std::vector<std::string> containers;
  std::string command;
  std::vector<std::string> indicators;         // exec scoring: "sa_token_read (T1528): <evidence>"
  std::vector<std::string> violations;         // "[policy] rule (container): message"
  std::map<std::string, std::string> details;  // rule-specific, e.g. hostPaths, oldImages

  // The node door's findings (node/): the container as its runtime knows it. `runtime` is set
  // ("docker", "containerd") on every node finding and never on an audit one.
  std::string runtime;
  std::string containerID;
  std::string containerName;
  std::string image;
  std::string node;

  std::string container() const { return containers.empty() ? std::string() : containers[0]; }
};

// One JSON object per finding, keys in byte order, text written by kc::json (invalid UTF-8
// replaced with U+FFFD): for high-volume output (audit replay -o json) without building a JSON
// value. Always has rule, severity, technique, techniqueName, summary and namespace, and for the
// audit door's findings auditID and user; other fields when non-empty.
void appendJson(std::string& out, const Finding& f);
// The same object as a JSON value, for logs, the CLI and Alertmanager annotations.
nlohmann::json toJson(const Finding& f);

}  // namespace kc::audit
