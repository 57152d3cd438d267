#include "policies/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <initializer_list>
#include <set>

#include "policies/rules.h"
#include "policies/yaml_json.h"

namespace kc::policy {
namespace {

using Keys = std::initializer_list<std::string_view>;

}  // namespace

const std::vector<std::string>& knownRuleIds() {
  static const std::vector<std::string> kIds = [] {
    std::vector<std::string> ids = {"image.invalidReference",
                                    "image.notAllowed",
                                    "image.denied",
                                    "image.latestTag",
                                    "image.untagged",
                                    "image.digestRequired",
                                    "namespace.system",
                                    "serviceAccount.notAllowed",
                                    "hostPath.notAllowed",
                                    "service.typeNotAllowed",
                                    "service.externalIPNotAllowed",
                                    "podConnect.notAllowed",
                                    "readOnlyRootFilesystem.required",
                                    "imagePullPolicy.notAlways",
                                    "ephemeralContainers.notAllowed",
                                    "capabilities.dropRequired",
                                    "capabilities.addNotAllowed",
                                    "hostPort.notAllowed",
                                    "sysctl.notAllowed",
                                    "sysctl.invalidValue",
                                    "hostPath.notReadOnly",
                                    "hostPath.runtimeSocket",
                                    "runAsUser.notAllowed",
                                    "runAsGroup.notAllowed",
                                    "fsGroup.notAllowed",
                                    "supplementalGroups.notAllowed",
                                    "service.portNotAllowed",
                                    "service.nodePortNotAllowed",
                                    "service.externalNameNotAllowed",
                                    "seccomp.profileNotAllowed",
                                    "appArmor.profileNotAllowed",
                                    "flexVolume.driverNotAllowed"};
    for (auto c : pssCheckIds()) ids.push_back("pss." + std::string(c));
    return ids;
  }();
  return kIds;
}

namespace {

bool parseInt(std::string_view s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// "2026-12-31" (start of that day, UTC) or "2026-12-31T18:00:00Z".
bool parseExpiry(std::string_view s, Seconds& out) {
  if (s.size() != 10 && !(s.size() == 20 && s[10] == 'T' && s[19] == 'Z')) return false;
  int y, m, d, hh = 0, mm = 0, ss = 0;
  if (s[4] != '-' || s[7] != '-' || !parseInt(s.substr(0, 4), y) || !parseInt(s.substr(5, 2), m) ||
      !parseInt(s.substr(8, 2), d)) {
    return false;
  }
  if (s.size() == 20) {
    if (s[13] != ':' || s[16] != ':' || !parseInt(s.substr(11, 2), hh) ||
        !parseInt(s.substr(14, 2), mm) || !parseInt(s.substr(17, 2), ss) || hh > 23 || mm > 59 ||
        ss > 59) {
      return false;
    }
  }
  std::chrono::year_month_day ymd{std::chrono::year{y},
                                  std::chrono::month{static_cast<unsigned>(m)},
                                  std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return false;
  out = std::chrono::sys_days{ymd} + std::chrono::hours{hh} + std::chrono::minutes{mm} +
        std::chrono::seconds{ss};
  return true;
}

bool validDnsName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return std::isalnum(static_cast<unsigned char>(s.front())) &&
         std::isalnum(static_cast<unsigned char>(s.back()));
}

class DocReader {
 public:
  DocReader(std::string file, LoadResult& result) : file_(std::move(file)), result_(result) {}

  void error(const YAML::Node& n, const std::string& field, std::string message) {
    result_.errors.push_back(at(n, field, std::move(message)));
  }
  void warning(const YAML::Node& n, const std::string& field, std::string message) {
    result_.warnings.push_back(at(n, field, std::move(message)));
  }
  size_t errorCount() const { return result_.errors.size(); }
  const std::string& file() const { return file_; }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

  // Checks that `n` is a mapping with only `allowed` keys.
  bool map(const YAML::Node& n, const std::string& path, Keys allowed) {
    if (!n.IsMap()) {
      error(n, path, "must be a mapping");
      return false;
    }
    for (const auto& kv : n) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        error(kv.first, join(path, key),
              "unknown field \"" + key + "\" (known fields: " + list + ")");
      }
    }
    return true;
  }

  bool string(const YAML::Node& n, const std::string& path, std::string& out) {
    if (!n.IsScalar()) {
      error(n, path, "must be a string");
      return false;
    }
    out = n.Scalar();
    return true;
  }

  bool boolean(const YAML::Node& n, const std::string& path, bool& out) {
    if (n.IsScalar() && n.Tag() != "!") {
      const std::string& s = n.Scalar();
      if (s == "true" || s == "True" || s == "TRUE") return out = true, true;
      if (s == "false" || s == "False" || s == "FALSE") return out = false, true;
    }
    error(n, path, "must be true or false");
    return false;
  }

  bool strings(const YAML::Node& n, const std::string& path, std::vector<std::string>& out) {
    if (n.IsNull()) return true;
    if (!n.IsSequence()) {
      error(n, path, "must be a list of strings");
      return false;
    }
    size_t i = 0;
    for (const auto& item : n) {
      std::string s;
      std::string ipath = path + "[" + std::to_string(i++) + "]";
      if (!string(item, ipath, s)) continue;
      if (s.empty()) {
        error(item, ipath, "must not be empty");
        continue;
      }
      out.push_back(std::move(s));
    }
    return true;
  }

  bool globs(const YAML::Node& n, const std::string& path, std::vector<ImageGlob>& out) {
    if (n.IsNull()) return true;
    if (!n.IsSequence()) {
      error(n, path, "must be a list of image patterns");
      return false;
    }
    size_t i = 0;
    for (const auto& item : n) {
      std::string ipath = path + "[" + std::to_string(i++) + "]";
      std::string s, err;
      if (!string(item, ipath, s)) continue;
      ImageGlob g;
      if (!ImageGlob::parse(s, g, &err)) {
        error(item, ipath, "invalid image pattern: " + err);
        continue;
      }
      out.push_back(std::move(g));
    }
    return true;
  }

  bool mode(const YAML::Node& n, const std::string& path, Mode& out) {
    std::string s;
    if (!string(n, path, s)) return false;
    if (s == "enforce")
      out = Mode::kEnforce;
    else if (s == "warn")
      out = Mode::kWarn;
    else if (s == "audit")
      out = Mode::kAudit;
    else {
      error(n, path, "invalid mode \"" + s + "\" (want enforce, warn or audit)");
      return false;
    }
    return true;
  }

 private:
  LoadMessage at(const YAML::Node& n, const std::string& field, std::string message) {
    LoadMessage m;
    m.file = file_;
    if (n.IsDefined() && !n.Mark().is_null()) {
      m.line = n.Mark().line + 1;
      m.column = n.Mark().column + 1;
    }
    m.field = field;
    m.message = std::move(message);
    return m;
  }

  std::string file_;
  LoadResult& result_;
};

void readExemptions(DocReader& r, const YAML::Node& n, const std::string& path, Exemptions& e) {
  if (!r.map(n, path,
             {"namespaces", "usernames", "groups", "serviceAccounts", "runtimeClasses", "images"}))
    return;
  if (n["namespaces"]) r.strings(n["namespaces"], path + ".namespaces", e.namespaces);
  if (n["usernames"]) r.strings(n["usernames"], path + ".usernames", e.usernames);
  if (n["groups"]) r.strings(n["groups"], path + ".groups", e.groups);
  if (n["serviceAccounts"]) {
    r.strings(n["serviceAccounts"], path + ".serviceAccounts", e.serviceAccounts);
    for (size_t i = 0; i < e.serviceAccounts.size(); ++i) {
      if (std::count(e.serviceAccounts[i].begin(), e.serviceAccounts[i].end(), '/') != 1) {
        r.error(n["serviceAccounts"][i], path + ".serviceAccounts[" + std::to_string(i) + "]",
                "must be \"namespace/name\" (\"*\" allowed in either part)");
      }
    }
  }
  if (n["runtimeClasses"])
    r.strings(n["runtimeClasses"], path + ".runtimeClasses", e.runtimeClasses);
  if (n["images"]) r.globs(n["images"], path + ".images", e.images);
}

// An exception's `image`: an image pattern as in allowedImages, optionally with ":<tag glob>"
// ("ghcr.io/acme/netdebug:*", "busybox:1.36*").
void readExceptionImage(DocReader& r, const YAML::Node& n, const std::string& path,
                        PolicyException& e) {
  std::string s, err;
  if (!r.string(n, path, s)) return;
  std::string name = s;
  const size_t colon = s.rfind(':');
  if (colon != std::string::npos && s.find('/', colon) == std::string::npos &&
      s.find(']', colon) == std::string::npos) {
    name = s.substr(0, colon);
    e.imageTag = s.substr(colon + 1);
    if (e.imageTag.empty()) {
      r.error(n, path, "\"" + s + "\" has an empty tag; drop the \":\" or give a tag pattern");
      return;
    }
  }
  ImageGlob g;
  if (!ImageGlob::parse(name, g, &err)) {
    r.error(n, path, "invalid image pattern: " + err);
    return;
  }
  e.image = std::move(g);
}

void readExceptions(DocReader& r, const YAML::Node& n, const std::string& path, Policy& p) {
  if (n.IsNull()) return;
  if (!n.IsSequence()) {
    r.error(n, path, "must be a list");
    return;
  }
  size_t i = 0;
  for (const auto& item : n) {
    std::string ipath = path + "[" + std::to_string(i++) + "]";
    if (!r.map(item, ipath,
               {"rule", "namespace", "name", "container", "image", "owner", "reason", "expires"}))
      continue;
    PolicyException e;
    e.source = {r.file(), item.Mark().line + 1};
    bool ok = true;
    for (std::string_view req : {"rule", "owner", "reason", "expires"}) {
      if (!item[std::string(req)]) {
        r.error(item, ipath + "." + std::string(req),
                "is required: every exception names its rule, owner, reason and expiry");
        ok = false;
      }
    }
    if (!ok) continue;
    r.string(item["rule"], ipath + ".rule", e.rule);
    const auto& known = knownRuleIds();
    if (!e.rule.empty() && std::find(known.begin(), known.end(), e.rule) == known.end()) {
      r.error(item["rule"], ipath + ".rule", "unknown rule \"" + e.rule + "\"");
    }
    if (item["namespace"]) r.string(item["namespace"], ipath + ".namespace", e.namespace_);
    if (item["name"]) r.string(item["name"], ipath + ".name", e.name);
    if (item["container"]) r.string(item["container"], ipath + ".container", e.container);
    if (item["image"]) readExceptionImage(r, item["image"], ipath + ".image", e);
    r.string(item["owner"], ipath + ".owner", e.owner);
    r.string(item["reason"], ipath + ".reason", e.reason);
    if (e.owner.empty()) r.error(item["owner"], ipath + ".owner", "must not be empty");
    if (e.reason.empty()) r.error(item["reason"], ipath + ".reason", "must not be empty");
    std::string expires;
    if (r.string(item["expires"], ipath + ".expires", expires) &&
        !parseExpiry(expires, e.expires)) {
      r.error(item["expires"], ipath + ".expires",
              "invalid date \"" + expires + "\" (want YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
    }
    bool imageRule = e.rule.rfind("image.", 0) == 0;
    if (!e.rule.empty() && imageRule != (p.kind == PolicyKind::kImage)) {
      r.warning(item["rule"], ipath + ".rule",
                "rule \"" + e.rule + "\" is never reported by a " +
                    (p.kind == PolicyKind::kImage ? "ImagePolicy" : "DeploymentPolicy") +
                    "; this exception has no effect");
    }
    p.exceptions.push_back(std::move(e));
  }
}

void readCommon(DocReader& r, const YAML::Node& spec, Policy& p) {
  if (spec["mode"]) r.mode(spec["mode"], "spec.mode", p.mode);
  if (spec["enforceTemplates"])
    r.boolean(spec["enforceTemplates"], "spec.enforceTemplates", p.enforceTemplates);
  if (const auto& nm = spec["namespaceModes"]) {
    if (!nm.IsMap()) {
      r.error(nm, "spec.namespaceModes", "must be a mapping of namespace to mode");
    } else {
      for (const auto& kv : nm) {
        std::string ns = kv.first.Scalar();
        Mode m;
        if (r.mode(kv.second, "spec.namespaceModes." + ns, m)) p.namespaceModes[ns] = m;
      }
    }
  }
  if (spec["exemptions"]) readExemptions(r, spec["exemptions"], "spec.exemptions", p.exemptions);
  if (spec["exceptions"]) readExceptions(r, spec["exceptions"], "spec.exceptions", p);
  for (const auto& ns : p.exemptions.namespaces) {
    if (p.namespaceModes.count(ns)) {
      r.error(spec["namespaceModes"][ns], "spec.namespaceModes." + ns,
              "namespace \"" + ns + "\" is both exempted and given a mode; keep one of the two");
    }
  }
}

void readImagePolicy(DocReader& r, const YAML::Node& spec, Policy& p) {
  if (!r.map(spec, "spec",
             {"mode", "namespaceModes", "enforceTemplates", "exemptions", "exceptions",
              "allowedImages", "deniedImages", "tags"})) {
    return;
  }
  readCommon(r, spec, p);
  if (spec["allowedImages"]) r.globs(spec["allowedImages"], "spec.allowedImages", p.images.allowed);
  if (const auto& d = spec["deniedImages"]) {
    if (r.map(d, "spec.deniedImages", {"defaults", "images"})) {
      bool defaults = false;
      if (d["defaults"]) r.boolean(d["defaults"], "spec.deniedImages.defaults", defaults);
      std::vector<ImageGlob> user;
      if (d["images"]) r.globs(d["images"], "spec.deniedImages.images", user);
      for (auto& g : user) {
        for (size_t i = 0; i < p.images.allowed.size(); ++i) {
          if (p.images.allowed[i].normalized() == g.normalized()) {
            r.error(spec["allowedImages"][i], "spec.allowedImages[" + std::to_string(i) + "]",
                    "pattern \"" + g.pattern() + "\" is both allowed and denied");
          }
        }
        p.images.denied.push_back({std::move(g), ""});
      }
      if (defaults) {
        for (const auto& def : defaultDeniedImages()) {
          ImageGlob g;
          ImageGlob::parse(def.pattern, g);
          p.images.denied.push_back(
              {std::move(g), std::string(def.category) + ": " + std::string(def.tool)});
        }
      }
    }
  }
  if (const auto& t = spec["tags"]) {
    if (r.map(t, "spec.tags", {"disallowLatest", "requireTag", "requireDigest"})) {
      if (t["disallowLatest"])
        r.boolean(t["disallowLatest"], "spec.tags.disallowLatest", p.images.disallowLatestTag);
      if (t["requireTag"]) r.boolean(t["requireTag"], "spec.tags.requireTag", p.images.requireTag);
      if (t["requireDigest"])
        r.boolean(t["requireDigest"], "spec.tags.requireDigest", p.images.requireDigest);
    }
  }
  p.images.buildIndex();
  const ImageRules& ir = p.images;
  if (ir.allowed.empty() && ir.denied.empty() && !ir.disallowLatestTag && !ir.requireTag &&
      !ir.requireDigest) {
    r.warning(
        spec, "spec",
        "ImagePolicy \"" + p.name + "\" checks nothing: set allowedImages, deniedImages or tags");
  }
}

// A capability as written in a policy ("NET_RAW", "CAP_NET_RAW", "net_raw" or "ALL"), into the
// form the rules compare (upper case, no "CAP_"); false when it cannot be a capability name.
bool capabilityName(std::string_view s, std::string& out) {
  out.clear();
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (out.rfind("CAP_", 0) == 0) out.erase(0, 4);
  return !out.empty();
}

void readCapabilityList(DocReader& r, const YAML::Node& n, const std::string& path,
                        std::optional<std::vector<std::string>>& out) {
  std::vector<std::string> names;
  r.strings(n, path, names);
  out.emplace();
  for (size_t i = 0; i < names.size(); ++i) {
    std::string key;
    if (!capabilityName(names[i], key)) {
      r.error(n[i], path + "[" + std::to_string(i) + "]",
              "\"" + names[i] + "\" is not a capability name such as \"NET_RAW\" or \"ALL\"");
      continue;
    }
    out->push_back(std::move(key));
  }
}

// "8080", 8080 or "9000-9100", within 1-65535.
bool parsePortRange(const std::string& s, IntRange& out) {
  const size_t dash = s.find('-');
  int lo = 0, hi = 0;
  if (!parseInt(s.substr(0, dash), lo)) return false;
  hi = lo;
  if (dash != std::string::npos && !parseInt(s.substr(dash + 1), hi)) return false;
  if (lo < 1 || hi > 65535 || lo > hi) return false;
  out = IntRange{lo, hi, s};
  return true;
}

// "1000" or "1000-65535", within 0-2147483647 (user and group ids).
bool parseIdRange(const std::string& s, IntRange& out) {
  const size_t dash = s.find('-');
  int64_t lo = 0, hi = 0;
  auto num = [](std::string_view t, int64_t& v) {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    return ec == std::errc() && p == t.data() + t.size() && !t.empty() && t[0] != '-' &&
           t[0] != '+';
  };
  if (!num(std::string_view(s).substr(0, dash), lo)) return false;
  hi = lo;
  if (dash != std::string::npos && !num(std::string_view(s).substr(dash + 1), hi)) return false;
  if (hi > 2147483647 || lo > hi) return false;
  out = IntRange{lo, hi, s};
  return true;
}

// spec.runAsUser, runAsGroup, fsGroup, supplementalGroups: {allowed: [ranges], required}.
void readIdRule(DocReader& r, const YAML::Node& n, const std::string& path, IdRule& out) {
  if (!r.map(n, path, {"allowed", "required"})) return;
  out.enabled = true;
  if (n["required"]) r.boolean(n["required"], path + ".required", out.required);
  std::vector<std::string> texts;
  if (n["allowed"]) r.strings(n["allowed"], path + ".allowed", texts);
  for (size_t i = 0; i < texts.size(); ++i) {
    IntRange range;
    if (!parseIdRange(texts[i], range)) {
      r.error(n["allowed"][i], path + ".allowed[" + std::to_string(i) + "]",
              "\"" + texts[i] + "\" is not an id (0-2147483647) or a range such as \"1000-65535\"");
      continue;
    }
    out.allowed.push_back(std::move(range));
  }
  if (!out.required && out.allowed.empty())
    r.warning(n, path, "checks nothing: set allowed, or required: true");
}

// `{<key>: [names]}` into `out` (the key is required; an empty list allows nothing).
void readAllowList(DocReader& r, const YAML::Node& n, const std::string& path, const char* key,
                   std::optional<std::vector<std::string>>& out) {
  if (!n || !r.map(n, path, {key})) return;
  if (!n[key]) {
    r.error(n, path + "." + key, "is required (an empty list allows none)");
    return;
  }
  out.emplace();
  r.strings(n[key], path + "." + key, *out);
}

// A list of ports and port ranges into `out`; nothing when `n` is absent.
void readPortRanges(DocReader& r, const YAML::Node& n, const std::string& path,
                    std::optional<std::vector<IntRange>>& out) {
  if (!n) return;
  std::vector<std::string> texts;
  r.strings(n, path, texts);
  out.emplace();
  for (size_t i = 0; i < texts.size(); ++i) {
    IntRange range;
    if (!parsePortRange(texts[i], range)) {
      r.error(
          n[i], path + "[" + std::to_string(i) + "]",
          "\"" + texts[i] + "\" is not a port (1-65535) or a range of ports such as \"9000-9100\"");
      continue;
    }
    out->push_back(std::move(range));
  }
}

// A sysctl name in dotted form, or a prefix of one ending in "*".
bool validSysctlPattern(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '*' && i + 1 == s.size()) continue;
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return false;
  }
  return true;
}

void readSysctlList(DocReader& r, const YAML::Node& n, const std::string& path,
                    std::vector<std::string>& out) {
  std::vector<std::string> names;
  r.strings(n, path, names);
  for (size_t i = 0; i < names.size(); ++i) {
    if (!validSysctlPattern(names[i])) {
      r.error(n[i], path + "[" + std::to_string(i) + "]",
              "\"" + names[i] +
                  "\" is not a sysctl name such as \"net.ipv4.ip_local_port_range\" or a prefix "
                  "ending in \"*\" such as \"net.ipv4.*\"");
      continue;
    }
    out.push_back(std::move(names[i]));
  }
}

// readOnlyRootFilesystem, imagePullPolicy, ephemeralContainers, capabilities, hostPorts,
// sysctls: the opt-in container rules.
void readContainerRules(DocReader& r, const YAML::Node& spec, DeploymentRules& d) {
  if (const auto& ro = spec["readOnlyRootFilesystem"]) {
    if (r.map(ro, "spec.readOnlyRootFilesystem", {"required"}) && ro["required"])
      r.boolean(ro["required"], "spec.readOnlyRootFilesystem.required",
                d.requireReadOnlyRootFilesystem);
  }
  if (const auto& ip = spec["imagePullPolicy"]) {
    if (r.map(ip, "spec.imagePullPolicy", {"requireAlways"}) && ip["requireAlways"])
      r.boolean(ip["requireAlways"], "spec.imagePullPolicy.requireAlways",
                d.requireImagePullPolicyAlways);
  }
  if (const auto& ec = spec["ephemeralContainers"]) {
    if (r.map(ec, "spec.ephemeralContainers", {"allowed"})) {
      bool allowed = true;
      if (!ec["allowed"])
        r.error(ec, "spec.ephemeralContainers.allowed", "is required (true or false)");
      else if (r.boolean(ec["allowed"], "spec.ephemeralContainers.allowed", allowed))
        d.forbidEphemeralContainers = !allowed;
    }
  }
  if (const auto& caps = spec["capabilities"]) {
    if (r.map(caps, "spec.capabilities", {"requiredDrop", "allowedAdd"})) {
      if (caps["requiredDrop"])
        readCapabilityList(r, caps["requiredDrop"], "spec.capabilities.requiredDrop",
                           d.capabilities.requiredDrop);
      if (caps["allowedAdd"])
        readCapabilityList(r, caps["allowedAdd"], "spec.capabilities.allowedAdd",
                           d.capabilities.allowedAdd);
      if (!d.capabilities.any())
        r.warning(caps, "spec.capabilities",
                  "checks nothing: set requiredDrop, allowedAdd or both");
    }
  }
  if (const auto& hp = spec["hostPorts"]) {
    if (r.map(hp, "spec.hostPorts", {"allowed"})) {
      if (!hp["allowed"])
        r.error(hp, "spec.hostPorts.allowed", "is required (an empty list allows no hostPort)");
      else
        readPortRanges(r, hp["allowed"], "spec.hostPorts.allowed", d.allowedHostPorts);
    }
  }
  readAllowList(r, spec["seccomp"], "spec.seccomp", "allowedLocalhostProfiles",
                d.allowedSeccompProfiles);
  readAllowList(r, spec["appArmor"], "spec.appArmor", "allowedLocalhostProfiles",
                d.allowedAppArmorProfiles);
  readAllowList(r, spec["flexVolumes"], "spec.flexVolumes", "allowedDrivers",
                d.allowedFlexVolumeDrivers);
  if (spec["runAsUser"]) readIdRule(r, spec["runAsUser"], "spec.runAsUser", d.runAsUser);
  if (spec["runAsGroup"]) readIdRule(r, spec["runAsGroup"], "spec.runAsGroup", d.runAsGroup);
  if (spec["fsGroup"]) readIdRule(r, spec["fsGroup"], "spec.fsGroup", d.fsGroup);
  if (spec["supplementalGroups"])
    readIdRule(r, spec["supplementalGroups"], "spec.supplementalGroups", d.supplementalGroups);
  if (const auto& sc = spec["sysctls"]) {
    if (r.map(sc, "spec.sysctls", {"allowed", "forbidden"})) {
      d.sysctls.enabled = true;
      if (sc["allowed"]) {
        d.sysctls.allowed.emplace();
        readSysctlList(r, sc["allowed"], "spec.sysctls.allowed", *d.sysctls.allowed);
      }
      if (sc["forbidden"])
        readSysctlList(r, sc["forbidden"], "spec.sysctls.forbidden", d.sysctls.forbidden);
    }
  }
}

// spec.hostPaths: allowedPrefixes (each "/path" or {prefix: /path, readOnly: true}) and
// denyRuntimeSockets. A block with neither, as `hostPaths: {}`, allows no host path at all.
void readHostPaths(DocReader& r, const YAML::Node& hp, DeploymentRules& d) {
  if (!r.map(hp, "spec.hostPaths", {"allowedPrefixes", "denyRuntimeSockets"})) return;
  if (hp["denyRuntimeSockets"])
    r.boolean(hp["denyRuntimeSockets"], "spec.hostPaths.denyRuntimeSockets", d.denyRuntimeSockets);
  if (!hp["allowedPrefixes"] && hp["denyRuntimeSockets"]) return;
  std::vector<std::string> prefixes;
  std::vector<bool> readOnly;
  const YAML::Node list = hp["allowedPrefixes"];
  if (list && !list.IsNull() && !list.IsSequence()) {
    r.error(list, "spec.hostPaths.allowedPrefixes", "must be a list of paths");
  } else if (list) {
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string ipath = "spec.hostPaths.allowedPrefixes[" + std::to_string(i) + "]";
      const YAML::Node item = list[i];
      std::string s;
      bool ro = false;
      if (item.IsMap()) {
        if (!r.map(item, ipath, {"prefix", "readOnly"})) continue;
        if (!item["prefix"]) {
          r.error(item, ipath + ".prefix", "is required");
          continue;
        }
        if (!r.string(item["prefix"], ipath + ".prefix", s)) continue;
        if (item["readOnly"]) r.boolean(item["readOnly"], ipath + ".readOnly", ro);
      } else if (!r.string(item, ipath, s)) {
        continue;
      }
      if (s.empty() || s.front() != '/' || s.find("/..") != std::string::npos ||
          s.find("//") != std::string::npos) {
        r.error(item, ipath,
                "\"" + s + "\" must be an absolute, normalised path such as \"/var/log\"");
        continue;
      }
      prefixes.push_back(std::move(s));
      readOnly.push_back(ro);
    }
  }
  d.allowedHostPaths = std::move(prefixes);
  d.allowedHostPathReadOnly = std::move(readOnly);
  if (d.podSecurity && d.podSecurity->level != PssLevel::kPrivileged &&
      !d.allowedHostPaths->empty()) {
    r.warning(hp, "spec.hostPaths",
              "podSecurity " + d.podSecurity->toString() +
                  " forbids every hostPath volume; the allow-list only matters where that "
                  "check is excepted");
  }
}

void readDeploymentPolicy(DocReader& r, const YAML::Node& spec, Policy& p) {
  if (!r.map(spec, "spec",
             {"mode",
              "namespaceModes",
              "enforceTemplates",
              "exemptions",
              "exceptions",
              "podSecurity",
              "systemNamespaces",
              "serviceAccounts",
              "hostPaths",
              "services",
              "podConnect",
              "readOnlyRootFilesystem",
              "imagePullPolicy",
              "ephemeralContainers",
              "capabilities",
              "hostPorts",
              "sysctls",
              "runAsUser",
              "runAsGroup",
              "fsGroup",
              "supplementalGroups",
              "seccomp",
              "appArmor",
              "flexVolumes"})) {
    return;
  }
  readCommon(r, spec, p);
  DeploymentRules& d = p.deployment;
  if (const auto& ps = spec["podSecurity"]) {
    if (r.map(ps, "spec.podSecurity", {"level", "version"})) {
      std::string level, version = "latest";
      if (!ps["level"]) {
        r.error(ps, "spec.podSecurity.level", "is required (baseline or restricted)");
      } else if (r.string(ps["level"], "spec.podSecurity.level", level)) {
        if (ps["version"]) r.string(ps["version"], "spec.podSecurity.version", version);
        PssLevelVersion lv;
        std::string err;
        if (!parsePssLevelVersion(level + ":" + version, lv, &err)) {
          r.error(err.find("version") != std::string::npos && ps["version"] ? ps["version"]
                                                                            : ps["level"],
                  err.find("version") != std::string::npos ? "spec.podSecurity.version"
                                                           : "spec.podSecurity.level",
                  err);
        } else {
          d.podSecurity = lv;
        }
      }
    }
  }
  if (const auto& sn = spec["systemNamespaces"]) {
    if (r.map(sn, "spec.systemNamespaces",
              {"enabled", "namespaces", "allowedUsernames", "allowedGroups"})) {
      d.systemNamespaces.enabled = true;
      if (sn["enabled"])
        r.boolean(sn["enabled"], "spec.systemNamespaces.enabled", d.systemNamespaces.enabled);
      d.systemNamespaces.namespaces = kSystemNamespaces;
      d.systemNamespaces.allowedUsernames = kSystemUsernames;
      d.systemNamespaces.allowedGroups = {"system:masters", "system:nodes"};
      if (sn["namespaces"]) {
        d.systemNamespaces.namespaces.clear();
        r.strings(sn["namespaces"], "spec.systemNamespaces.namespaces",
                  d.systemNamespaces.namespaces);
      }
      if (sn["allowedUsernames"]) {
        d.systemNamespaces.allowedUsernames.clear();
        r.strings(sn["allowedUsernames"], "spec.systemNamespaces.allowedUsernames",
                  d.systemNamespaces.allowedUsernames);
      }
      if (sn["allowedGroups"]) {
        d.systemNamespaces.allowedGroups.clear();
        r.strings(sn["allowedGroups"], "spec.systemNamespaces.allowedGroups",
                  d.systemNamespaces.allowedGroups);
      }
    }
  }
  if (const auto& sa = spec["serviceAccounts"]) {
    if (r.map(sa, "spec.serviceAccounts", {"allowed"})) {
      if (!sa["allowed"]) {
        r.error(sa, "spec.serviceAccounts.allowed", "is required");
      } else {
        r.strings(sa["allowed"], "spec.serviceAccounts.allowed", d.allowedServiceAccounts);
        for (size_t i = 0; i < d.allowedServiceAccounts.size(); ++i) {
          if (std::count(d.allowedServiceAccounts[i].begin(), d.allowedServiceAccounts[i].end(),
                         '/') > 1) {
            r.error(sa["allowed"][i], "spec.serviceAccounts.allowed[" + std::to_string(i) + "]",
                    "must be \"name\" or \"namespace/name\"");
          }
        }
        if (d.allowedServiceAccounts.empty()) {
          r.error(sa["allowed"], "spec.serviceAccounts.allowed",
                  "must list at least one service account");
        }
      }
    }
  }
  if (const auto& hp = spec["hostPaths"]) readHostPaths(r, hp, d);
  if (const auto& sv = spec["services"]) {
    if (r.map(sv, "spec.services",
              {"allowedTypes", "allowedExternalIPs", "allowedPorts", "allowedNodePorts",
               "denyInternalExternalNames"})) {
      readPortRanges(r, sv["allowedPorts"], "spec.services.allowedPorts", d.services.allowedPorts);
      readPortRanges(r, sv["allowedNodePorts"], "spec.services.allowedNodePorts",
                     d.services.allowedNodePorts);
      if (sv["denyInternalExternalNames"])
        r.boolean(sv["denyInternalExternalNames"], "spec.services.denyInternalExternalNames",
                  d.services.denyInternalExternalNames);
      if (sv["allowedTypes"]) {
        std::vector<std::string> types;
        r.strings(sv["allowedTypes"], "spec.services.allowedTypes", types);
        for (size_t i = 0; i < types.size(); ++i) {
          if (std::find(std::begin(kServiceTypes), std::end(kServiceTypes), types[i]) ==
              std::end(kServiceTypes)) {
            r.error(sv["allowedTypes"][i], "spec.services.allowedTypes[" + std::to_string(i) + "]",
                    "\"" + types[i] +
                        "\" is not a Service type: use ClusterIP, NodePort, LoadBalancer or "
                        "ExternalName");
          }
        }
        d.services.allowedTypes = std::move(types);
      }
      if (sv["allowedExternalIPs"]) {
        std::vector<std::string> texts;
        r.strings(sv["allowedExternalIPs"], "spec.services.allowedExternalIPs", texts);
        std::vector<IpBlock> blocks;
        for (size_t i = 0; i < texts.size(); ++i) {
          IpBlock b;
          if (!parseIpBlock(texts[i], b)) {
            r.error(sv["allowedExternalIPs"][i],
                    "spec.services.allowedExternalIPs[" + std::to_string(i) + "]",
                    "\"" + texts[i] +
                        "\" is not an IP address or CIDR block such as \"192.0.2.10\" or "
                        "\"10.0.0.0/8\"");
            continue;
          }
          blocks.push_back(std::move(b));
        }
        d.services.allowedExternalIPs = std::move(blocks);
      }
      if (!d.services.any()) {
        r.warning(sv, "spec.services",
                  "checks nothing: set allowedTypes, allowedExternalIPs, allowedPorts, "
                  "allowedNodePorts or denyInternalExternalNames");
      }
    }
  }
  if (const auto& pc = spec["podConnect"]) {
    if (r.map(pc, "spec.podConnect", {"allowedUsernames", "allowedGroups"})) {
      d.podConnect.enabled = true;
      if (pc["allowedUsernames"])
        r.strings(pc["allowedUsernames"], "spec.podConnect.allowedUsernames",
                  d.podConnect.allowedUsernames);
      if (pc["allowedGroups"])
        r.strings(pc["allowedGroups"], "spec.podConnect.allowedGroups", d.podConnect.allowedGroups);
    }
  }
  readContainerRules(r, spec, d);
  if (!d.judgesPods() && !d.services.any() && !d.podConnect.enabled) {
    r.warning(spec, "spec", "DeploymentPolicy \"" + p.name + "\" checks nothing");
  }
}

void readDocument(DocReader& r, const YAML::Node& doc, std::vector<Policy>& out) {
  size_t before = r.errorCount();
  if (!r.map(doc, "", {"apiVersion", "kind", "metadata", "spec"})) return;
  std::string apiVersion, kind, name;
  if (!doc["apiVersion"] || !r.string(doc["apiVersion"], "apiVersion", apiVersion) ||
      apiVersion != kPolicyApiVersion) {
    r.error(doc["apiVersion"] ? doc["apiVersion"] : doc, "apiVersion",
            "must be \"" + std::string(kPolicyApiVersion) + "\"");
  }
  Policy p;
  if (!doc["kind"] || !r.string(doc["kind"], "kind", kind) ||
      (kind != "ImagePolicy" && kind != "DeploymentPolicy")) {
    r.error(doc["kind"] ? doc["kind"] : doc, "kind", "must be ImagePolicy or DeploymentPolicy");
    return;
  }
  p.kind = kind == "ImagePolicy" ? PolicyKind::kImage : PolicyKind::kDeployment;
  const auto& meta = doc["metadata"];
  if (!meta) {
    r.error(doc, "metadata.name", "is required");
  } else if (r.map(meta, "metadata", {"name", "labels", "annotations"})) {
    if (!meta["name"]) {
      r.error(meta, "metadata.name", "is required");
    } else if (r.string(meta["name"], "metadata.name", name) && !validDnsName(name)) {
      r.error(meta["name"], "metadata.name", "\"" + name + "\" must be a lowercase DNS name");
    }
  }
  p.name = name;
  p.source = {r.file(), doc.Mark().line + 1};
  const auto& spec = doc["spec"];
  if (!spec) {
    r.error(doc, "spec", "is required");
    return;
  }
  if (p.kind == PolicyKind::kImage)
    readImagePolicy(r, spec, p);
  else
    readDeploymentPolicy(r, spec, p);
  if (r.errorCount() == before) out.push_back(std::move(p));
}

}  // namespace

std::string LoadMessage::toString() const {
  std::string s = file;
  if (line > 0) s += ":" + std::to_string(line) + ":" + std::to_string(column);
  s += ": ";
  if (!field.empty()) s += field + ": ";
  return s + message;
}

LoadResult loadPolicies(const std::vector<PolicyFile>& files) {
  LoadResult result;
  std::vector<Policy> policies;
  for (const auto& f : files) {
    const size_t firstError = result.errors.size(), firstWarning = result.warnings.size();
    auto byLine = [](const LoadMessage& a, const LoadMessage& b) { return a.line < b.line; };
    DocReader r(f.name, result);
    std::vector<YAML::Node> docs;
    if (YamlError ye; !checkYamlAliases(f.text, ye, 100'000)) {
      result.errors.push_back({f.name, ye.line, ye.column, "", "invalid YAML: " + ye.message});
      continue;
    }
    try {
      docs = YAML::LoadAll(f.text);
    } catch (const YAML::Exception& e) {
      LoadMessage m;
      m.file = f.name;
      if (!e.mark.is_null()) m.line = e.mark.line + 1, m.column = e.mark.column + 1;
      m.message = "invalid YAML: " + e.msg;
      result.errors.push_back(std::move(m));
      continue;
    }
    for (const auto& doc : docs) {
      if (doc.IsNull()) continue;
      try {
        readDocument(r, doc, policies);
      } catch (const std::exception& e) {
        r.error(doc, "", std::string("could not read document: ") + e.what());
      }
    }
    // Report each file's problems top to bottom.
    std::stable_sort(result.errors.begin() + firstError, result.errors.end(), byLine);
    std::stable_sort(result.warnings.begin() + firstWarning, result.warnings.end(), byLine);
  }
  std::set<std::string> names;
  for (const auto& p : policies) {
    if (!names.insert(p.name).second) {
      result.errors.push_back({p.source.file, p.source.line, 1, "metadata.name",
                               "duplicate policy name \"" + p.name + "\""});
    }
  }
  if (result.ok()) result.policies = std::make_shared<const PolicySet>(std::move(policies));
  return result;
}

}  // namespace kc::policy
