#include "controller/detect/finding.h"

#include "common/json_writer.h"

namespace kc::audit {

nlohmann::json toJson(const Finding& f) {
  nlohmann::json j = {
      {"rule", f.rule},
      {"severity", std::string(severityName(f.severity))},
      {"technique", f.technique},
      {"techniqueName", f.techniqueName},
      {"summary", f.summary},
      {"auditID", f.auditID},
      {"namespace", f.namespace_},
      {"user", f.user},
  };
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  put("stage", f.stage);
  put("verb", f.verb);
  put("kind", f.kind);
  put("resource", f.resource);
  put("subresource", f.subresource);
  put("name", f.name);
  put("requestUser", f.requestUser);
  put("impersonatedUser", f.impersonatedUser);
  put("userAgent", f.userAgent);
  put("sourceIP", f.sourceIP);
  put("command", f.command);
  put("container", f.container());
  if (f.responseCode) j["responseCode"] = f.responseCode;
  if (f.timeMicros) j["timeMicros"] = f.timeMicros;
  if (!f.images.empty()) j["images"] = f.images;
  if (!f.containers.empty()) j["containers"] = f.containers;
  if (!f.indicators.empty()) j["indicators"] = f.indicators;
  if (!f.violations.empty()) j["violations"] = f.violations;
  if (!f.details.empty()) j["details"] = f.details;
  return j;
}

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
  always("auditID", f.auditID);
  put("command", f.command);
  if (!f.containers.empty()) put("container", f.containers[0]);
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
  list("images", f.images);
  put("impersonatedUser", f.impersonatedUser);
  list("indicators", f.indicators);
  put("kind", f.kind);
  put("name", f.name);
  always("namespace", f.namespace_);
  put("requestUser", f.requestUser);
  put("resource", f.resource);
  if (f.responseCode) {
    key("responseCode");
    kc::json::appendJsonInt(out, f.responseCode);
  }
  always("rule", f.rule);
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
  always("user", f.user);
  put("userAgent", f.userAgent);
  put("verb", f.verb);
  list("violations", f.violations);
  out.push_back('}');
}

}  // namespace kc::audit
