#include "controller/detect/finding.h"

#include "common/json_writer.h"

namespace kc::audit {

void appendJson(std::string& out, const Finding& f) {
  // Keys in the order toJson(f).dump() writes them (nlohmann objects are sorted by key).
  bool first = true;
  auto key = [&](std::string_view k) {
    out.append(first ? "{\"" : ",\"");
    first = false;
    out.append(k);
    out.append("\":");
  };
  auto always = [&](std::string_view k, std::string_view v) {
    key(k);
    kc::json::appendJsonString(out, v);
  };
  auto put = [&](std::string_view k, std::string_view v) {
    if (!v.empty()) always(k, v);
  };
  auto list = [&](std::string_view k, const std::vector<std::string>& v) {
    if (v.empty()) return;
    key(k);
    for (size_t i = 0; i < v.size(); ++i) {
      out.push_back(i == 0 ? '[' : ',');
      kc::json::appendJsonString(out, v[i]);
    }
    out.push_back(']');
  };
  // The node door's findings have no request and no requesting identity.
  const bool node = !f.runtime.empty();
  if (!node || !f.auditID.empty()) always("auditID", f.auditID);
  put("command", f.command);
  if (!f.containers.empty()) put("container", f.containers[0]);
  put("containerID", f.containerID);
  put("containerName", f.containerName);
  list("containers", f.containers);
  if (!f.details.empty()) {
    key("details");
    bool firstDetail = true;
    for (const auto& [k, v] : f.details) {
      out.push_back(firstDetail ? '{' : ',');
      firstDetail = false;
      kc::json::appendJsonString(out, k);
      out.push_back(':');
      kc::json::appendJsonString(out, v);
    }
    out.push_back('}');
  }
  put("image", f.image);
  list("images", f.images);
  put("impersonatedUser", f.impersonatedUser);
  list("indicators", f.indicators);
  put("kind", f.kind);
  put("name", f.name);
  always("namespace", f.namespace_);
  put("node", f.node);
  put("requestUser", f.requestUser);
  put("resource", f.resource);
  if (f.responseCode) {
    key("responseCode");
    kc::json::appendJsonInt(out, f.responseCode);
  }
  always("rule", f.rule);
  put("runtime", f.runtime);
  always("severity", severityName(f.severity));
  put("sourceIP", f.sourceIP);
  put("stage", f.stage);
  put("subresource", f.subresource);
  always("summary", f.summary);
  always("technique", f.technique);
  always("techniqueName", f.techniqueName);
  if (f.timeMicros) {
    key("timeMicros");
    kc::json::appendJsonInt(out, f.timeMicros);
  }
  if (!node || !f.user.empty()) always("user", f.user);
  put("userAgent", f.userAgent);
  put("verb", f.verb);
  list("violations", f.violations);
  out.push_back('}');
}

nlohmann::json toJson(const Finding& f) {
  std::string text;
  appendJson(text, f);
  return nlohmann::json::parse(text);
}

}  // namespace kc::audit
