#include "controller/events/reported_requests.h"

#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/files.h"

namespace kc::audit {
namespace {

constexpr size_t kMaxFileBytes = 64u << 20;

std::string hex128(uint64_t hi, uint64_t lo) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return buf;
}

bool parseHex64(const std::string& s, size_t at, uint64_t& out) {
  out = 0;
  for (size_t i = at; i < at + 16; ++i) {
    const char c = s[i];
    unsigned v;
    if (c >= '0' && c <= '9')
      v = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f')
      v = static_cast<unsigned>(c - 'a' + 10);
    else
      return false;
    out = out << 4 | v;
  }
  return true;
}

bool parseHex128(const nlohmann::json& j, uint64_t& hi, uint64_t& lo) {
  if (!j.is_string()) return false;
  const auto& s = j.get_ref<const std::string&>();
  return s.size() == 32 && parseHex64(s, 0, hi) && parseHex64(s, 16, lo);
}

std::string memoryBase(const std::string& memoryPath) {
  constexpr std::string_view kJsonl = ".jsonl";
  std::string base = memoryPath;
  if (base.size() > kJsonl.size() &&
      base.compare(base.size() - kJsonl.size(), kJsonl.size(), kJsonl) == 0)
    base.resize(base.size() - kJsonl.size());
  return base;
}

}  // namespace

std::string reportedRequestsPathFor(const std::string& memoryPath) {
  return memoryBase(memoryPath) + ".requests.json";
}

std::string reportedRequestsJournalPathFor(const std::string& memoryPath) {
  return memoryBase(memoryPath) + ".requests.journal";
}

std::string reportedRequestsText(const DedupeSecret& secret, const std::vector<DedupeKey>& keys) {
  std::string out = R"({"kind":"KubeCustomsReportedRequests","version":1,"secret":")";
  out += hex128(secret.k0, secret.k1);
  out += R"(","keys":[)";
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    out += hex128(keys[i].hi, keys[i].lo);
    out += '"';
  }
  out += "]}\n";
  return out;
}

ReportedRequestsLoad parseReportedRequests(const std::string& text, size_t maxKeys) {
  ReportedRequestsLoad r;
  r.found = true;
  if (text.size() > kMaxFileBytes) {
    r.error = "file over 64 MiB";
    return r;
  }
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("kind", "") != "KubeCustomsReportedRequests") {
    r.error = "not a KubeCustomsReportedRequests document";
    return r;
  }
  if (!j.contains("version") || j["version"] != 1) {
    r.error = "unsupported version";
    return r;
  }
  if (!j.contains("secret") || !parseHex128(j["secret"], r.secret.k0, r.secret.k1)) {
    r.error = "secret missing or malformed";
    return r;
  }
  if (!j.contains("keys") || !j["keys"].is_array()) {
    r.error = "keys missing";
    return r;
  }
  const auto& keys = j["keys"];
  const size_t skip = keys.size() > maxKeys ? keys.size() - maxKeys : 0;  // keep the newest
  for (size_t i = skip; i < keys.size(); ++i) {
    DedupeKey k;
    if (parseHex128(keys[i], k.hi, k.lo))
      r.keys.push_back(k);
    else
      ++r.damaged;
  }
  r.ok = true;
  return r;
}

ReportedRequestsLoad loadReportedRequests(const std::string& path, size_t maxKeys) {
  std::string text;
  if (!files::readFile(path, text, kMaxFileBytes)) {
    ReportedRequestsLoad r;
    if (errno == ENOENT) {
      r.ok = true;  // no file yet: nothing was reported before
    } else {
      r.found = true;
      r.error = errno == EFBIG ? "file over 64 MiB" : "cannot read " + files::readError(path);
    }
    return r;
  }
  return parseReportedRequests(text, maxKeys);
}

}  // namespace kc::audit
