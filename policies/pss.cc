#include "policies/pss.h"

#include <algorithm>
#include <charconv>
#include <set>

namespace kc::policy {
namespace {

using Names = std::vector<std::string_view>;

std::string_view pluralize(std::string_view singular, std::string_view plural, size_t n) {
  return n == 1 ? singular : plural;
}

template <typename T>
std::string joinQuote(const std::vector<T>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += '"';
    out += items[i];
    out += '"';
  }
  return out;
}

template <typename T>
std::string join(const std::vector<T>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

// Go's %q for the printable ASCII and UTF-8 text found in annotations.
std::string goQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          static const char* kHex = "0123456789abcdef";
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::vector<std::string> sortedUnique(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::string containersPhrase(const Names& names) {
  return std::string(pluralize("container", "containers", names.size())) + " " + joinQuote(names);
}

std::string_view valueOrUnreadable(const OptString& s) {
  return s.invalid ? std::string_view("<unreadable>") : s.value;
}

struct Ctx {
  const PodModel& pod;
  int minor;
};

using CheckFn = bool (*)(const Ctx&, PssCheckFailure&);

// ---- baseline -------------------------------------------------------------------------------

bool hostNamespaces(const Ctx& c, PssCheckFailure& f) {
  std::vector<std::string> bad;
  if (c.pod.hostNetwork == Tri::kTrue || c.pod.hostNetwork == Tri::kInvalid)
    bad.push_back("hostNetwork=true");
  if (c.pod.hostPID == Tri::kTrue || c.pod.hostPID == Tri::kInvalid) bad.push_back("hostPID=true");
  if (c.pod.hostIPC == Tri::kTrue || c.pod.hostIPC == Tri::kInvalid) bad.push_back("hostIPC=true");
  if (bad.empty()) return false;
  f.reason = "host namespaces";
  f.detail = join(bad, ", ");
  f.field = c.pod.specPath + "." + bad[0].substr(0, bad[0].find('='));
  return true;
}

bool privileged(const Ctx& c, PssCheckFailure& f) {
  for (const auto& ct : c.pod.containers) {
    if (ct.sc.privileged == Tri::kTrue || ct.sc.privileged == Tri::kInvalid) {
      if (f.containers.empty()) f.field = c.pod.containerPath(ct) + ".securityContext.privileged";
      f.containers.push_back(ct.name);
    }
  }
  if (f.containers.empty()) return false;
  f.reason = "privileged";
  f.detail = containersPhrase(f.containers) + " must not set securityContext.privileged=true";
  return true;
}

constexpr std::string_view kBaselineCaps[] = {
    "AUDIT_WRITE",      "CHOWN",   "DAC_OVERRIDE", "FOWNER",  "FSETID", "KILL",      "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID",       "SETPCAP", "SETUID", "SYS_CHROOT"};

bool capabilitiesBaseline(const Ctx& c, PssCheckFailure& f) {
  std::vector<std::string> caps;
  for (const auto& ct : c.pod.containers) {
    bool bad = false;
    if (ct.sc.capAdd.invalid) {
      bad = true;
      caps.push_back("<unreadable>");
    }
    for (auto cap : ct.sc.capAdd.items) {
      if (std::find(std::begin(kBaselineCaps), std::end(kBaselineCaps), cap) ==
          std::end(kBaselineCaps)) {
        bad = true;
        caps.emplace_back(cap);
      }
    }
    if (bad) {
      if (f.containers.empty())
        f.field = c.pod.containerPath(ct) + ".securityContext.capabilities.add";
      f.containers.push_back(ct.name);
    }
  }
  if (f.containers.empty()) return false;
  f.reason = "non-default capabilities";
  f.detail = containersPhrase(f.containers) + " must not include " + joinQuote(sortedUnique(caps)) +
             " in securityContext.capabilities.add";
  return true;
}

bool hostPathVolumes(const Ctx& c, PssCheckFailure& f) {
  Names bad;
  for (size_t i = 0; i < c.pod.volumes.size(); ++i) {
    const auto& v = c.pod.volumes[i];
    if (v.type == "hostPath" || v.invalid) {
      if (bad.empty()) f.field = c.pod.specPath + ".volumes[" + std::to_string(i) + "].hostPath";
      bad.push_back(v.name);
    }
  }
  if (bad.empty()) return false;
  f.reason = "hostPath volumes";
  f.detail = std::string(pluralize("volume", "volumes", bad.size())) + " " + joinQuote(bad);
  return true;
}

bool hostPorts(const Ctx& c, PssCheckFailure& f) {
  std::vector<std::string> ports;
  for (const auto& ct : c.pod.containers) {
    if (ct.hostPorts.empty()) continue;
    if (f.containers.empty()) f.field = c.pod.containerPath(ct) + ".ports";
    f.containers.push_back(ct.name);
    for (auto p : ct.hostPorts) ports.push_back(p < 0 ? "<unreadable>" : std::to_string(p));
  }
  if (f.containers.empty()) return false;
  ports = sortedUnique(std::move(ports));
  f.reason = "hostPort";
  f.detail = containersPhrase(f.containers) + " " +
             std::string(pluralize("uses", "use", f.containers.size())) + " " +
             std::string(pluralize("hostPort", "hostPorts", ports.size())) + " " +
             join(ports, ", ");
  return true;
}

bool allowedAppArmorAnnotation(std::string_view v) {
  return v.empty() || v == "runtime/default" || v.rfind("localhost/", 0) == 0;
}

bool appArmorProfile(const Ctx& c, PssCheckFailure& f) {
  std::vector<std::string> setters;
  std::vector<std::string> badValues;
  const auto& psc = c.pod.sc;
  auto badType = [](const OptString& t) {
    return t.invalid || !(t.value == "RuntimeDefault" || t.value == "Localhost");
  };
  if (psc.appArmorSet && badType(psc.appArmorType)) {
    setters.push_back("pod");
    badValues.emplace_back(valueOrUnreadable(psc.appArmorType));
    f.field = c.pod.specPath + ".securityContext.appArmorProfile.type";
  }
  for (const auto& ct : c.pod.containers) {
    if (ct.sc.appArmorSet && badType(ct.sc.appArmorType)) {
      if (f.field.empty())
        f.field = c.pod.containerPath(ct) + ".securityContext.appArmorProfile.type";
      f.containers.push_back(ct.name);
      badValues.emplace_back(valueOrUnreadable(ct.sc.appArmorType));
    }
  }
  if (!f.containers.empty()) setters.push_back(containersPhrase(f.containers));
  badValues = sortedUnique(std::move(badValues));
  std::vector<std::string> annotations;
  constexpr std::string_view kPrefix = "container.apparmor.security.beta.kubernetes.io/";
  for (const auto& [k, v] : c.pod.annotations) {
    if (k.rfind(kPrefix, 0) == 0 && !allowedAppArmorAnnotation(v)) {
      annotations.push_back(std::string(k) + "=" + goQuote(v));
    }
  }
  if (!annotations.empty()) {
    std::sort(annotations.begin(), annotations.end());
    setters.emplace_back(pluralize("annotation", "annotations", annotations.size()));
    if (f.field.empty()) f.field = "metadata.annotations";
    badValues.insert(badValues.end(), annotations.begin(), annotations.end());
  }
  if (setters.empty()) return false;
  f.reason =
      pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles", badValues.size());
  f.detail =
      join(setters, " and ") + " must not set AppArmor profile type to " + joinQuote(badValues);
  return true;
}

bool seLinuxOptions(const Ctx& c, PssCheckFailure& f) {
  std::vector<std::string> setters;
  std::vector<std::string> badTypes;
  bool setUser = false, setRole = false;
  auto valid = [&](const SeLinuxModel& o) {
    bool ok = true;
    std::string_view t = o.type.value;
    bool typeOk =
        !o.type.invalid && (t.empty() || t == "container_t" || t == "container_init_t" ||
                            t == "container_kvm_t" || (c.minor >= 31 && t == "container_engine_t"));
    if (!typeOk) {
      ok = false;
      badTypes.emplace_back(valueOrUnreadable(o.type));
    }
    if (o.user.invalid || !o.user.value.empty()) ok = false, setUser = true;
    if (o.role.invalid || !o.role.value.empty()) ok = false, setRole = true;
    return ok;
  };
  if (c.pod.sc.seLinux.set && !valid(c.pod.sc.seLinux)) {
    setters.push_back("pod");
    f.field = c.pod.specPath + ".securityContext.seLinuxOptions";
  }
  for (const auto& ct : c.pod.containers) {
    if (ct.sc.seLinux.set && !valid(ct.sc.seLinux)) {
      if (f.field.empty()) f.field = c.pod.containerPath(ct) + ".securityContext.seLinuxOptions";
      f.containers.push_back(ct.name);
    }
  }
  if (!f.containers.empty()) setters.push_back(containersPhrase(f.containers));
  if (setters.empty()) return false;
  std::vector<std::string> data;
  badTypes = sortedUnique(std::move(badTypes));
  if (!badTypes.empty()) {
    data.push_back(std::string(pluralize("type", "types", badTypes.size())) + " " +
                   joinQuote(badTypes));
  }
  if (setUser) data.push_back("user may not be set");
  if (setRole) data.push_back("role may not be set");
  f.reason = "seLinuxOptions";
  f.detail =
      join(setters, " and ") + " set forbidden securityContext.seLinuxOptions: " + join(data, "; ");
  return true;
}

bool procMountCommon(const Ctx& c, PssCheckFailure& f) {
  std::vector<std::string> types;
  for (const auto& ct : c.pod.containers) {
    const auto& pm = ct.sc.procMount;
    if ((pm.set && pm.value != "Default") || pm.invalid) {
      if (f.containers.empty()) f.field = c.pod.containerPath(ct) + ".securityContext.procMount";
      f.containers.push_back(ct.name);
      types.emplace_back(valueOrUnreadable(pm));
    }
  }
  if (f.containers.empty()) return false;
  f.reason = "procMount";
  f.detail = containersPhrase(f.containers) + " must not set securityContext.procMount to " +
             joinQuote(sortedUnique(std::move(types)));
  return true;
}

bool procMountBaseline(const Ctx& c, PssCheckFailure& f) {
  if (c.minor >= 35 && c.pod.userNamespace()) return false;
  return procMountCommon(c, f);
}

bool validSeccomp(const OptString& t) {
  return !t.invalid && (t.value == "RuntimeDefault" || t.value == "Localhost");
}

bool validSeccompAnnotation(std::string_view v) {
  return v == "runtime/default" || v == "docker/default" || v.rfind("localhost/", 0) == 0;
}

bool seccompProfileBaseline(const Ctx& c, PssCheckFailure& f) {
  if (c.minor < 19) {
    std::vector<std::string> forbidden;
    bool found = false;
    constexpr std::string_view kPodKey = "seccomp.security.alpha.kubernetes.io/pod";
    std::string_view v = c.pod.annotation(kPodKey, &found);
    if (found && !validSeccompAnnotation(v))
      forbidden.push_back(std::string(kPodKey) + "=" + goQuote(v));
    for (const auto& ct : c.pod.containers) {
      std::string key = "container.seccomp.security.alpha.kubernetes.io/" + std::string(ct.name);
      v = c.pod.annotation(key, &found);
      if (found && !validSeccompAnnotation(v)) {
        forbidden.push_back(key + "=" + goQuote(v));
        f.containers.push_back(ct.name);
      }
    }
    if (forbidden.empty()) return false;
    forbidden = sortedUnique(std::move(forbidden));
    f.reason = "seccompProfile";
    f.detail = "forbidden " +
               std::string(pluralize("annotation", "annotations", forbidden.size())) + " " +
               join(forbidden, ", ");
    f.field = "metadata.annotations";
    return true;
  }
  std::vector<std::string> setters, values;
  if (c.pod.sc.seccompSet && !validSeccomp(c.pod.sc.seccompType)) {
    setters.push_back("pod");
    values.emplace_back(valueOrUnreadable(c.pod.sc.seccompType));
    f.field = c.pod.specPath + ".securityContext.seccompProfile.type";
  }
  for (const auto& ct : c.pod.containers) {
    if (ct.sc.seccompSet && !validSeccomp(ct.sc.seccompType)) {
      if (f.field.empty())
        f.field = c.pod.containerPath(ct) + ".securityContext.seccompProfile.type";
      f.containers.push_back(ct.name);
      values.emplace_back(valueOrUnreadable(ct.sc.seccompType));
    }
  }
  if (!f.containers.empty()) setters.push_back(containersPhrase(f.containers));
  if (setters.empty()) return false;
  f.reason = "seccompProfile";
  f.detail = join(setters, " and ") + " must not set securityContext.seccompProfile.type to " +
             joinQuote(sortedUnique(std::move(values)));
  return true;
}

constexpr std::string_view kSysctls1_0[] = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"};
constexpr std::string_view kSysctls1_29[] = {
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes"};
constexpr std::string_view kSysctls1_32[] = {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"};
constexpr std::string_view kSysctls1_37[] = {"net.ipv4.tcp_slow_start_after_idle",
                                             "net.ipv4.tcp_notsent_lowat"};

template <size_t N>
bool contains(const std::string_view (&arr)[N], std::string_view s) {
  return std::find(std::begin(arr), std::end(arr), s) != std::end(arr);
}

bool sysctlAllowed(std::string_view name, int minor) {
  if (contains(kSysctls1_0, name)) return true;
  if (minor >= 27 && name == "net.ipv4.ip_local_reserved_ports") return true;
  if (minor >= 29 && contains(kSysctls1_29, name)) return true;
  if (minor >= 32 && contains(kSysctls1_32, name)) return true;
  if (minor >= 37 && contains(kSysctls1_37, name)) return true;
  return false;
}

bool sysctls(const Ctx& c, PssCheckFailure& f) {
  Names forbidden;
  for (auto name : c.pod.sc.sysctlNames.items) {
    if (!sysctlAllowed(name, c.minor)) forbidden.push_back(name);
  }
  if (c.pod.sc.sysctlNames.invalid) forbidden.push_back("<unreadable>");
  if (forbidden.empty()) return false;
  f.reason = "forbidden sysctls";
  f.detail = join(forbidden, ", ");
  f.field = c.pod.specPath + ".securityContext.sysctls";
  return true;
}

bool windowsHostProcess(const Ctx& c, PssCheckFailure& f) {
  auto on = [](Tri t) { return t == Tri::kTrue || t == Tri::kInvalid; };
  std::vector<std::string> setters;
  if (on(c.pod.sc.windowsHostProcess)) {
    setters.push_back("pod");
    f.field = c.pod.specPath + ".securityContext.windowsOptions.hostProcess";
  }
  for (const auto& ct : c.pod.containers) {
    if (on(ct.sc.windowsHostProcess)) {
      if (f.field.empty())
        f.field = c.pod.containerPath(ct) + ".securityContext.windowsOptions.hostProcess";
      f.containers.push_back(ct.name);
    }
  }
  if (!f.containers.empty()) setters.push_back(containersPhrase(f.containers));
  if (setters.empty()) return false;
  f.reason = "hostProcess";
  f.detail =
      join(setters, " and ") + " must not set securityContext.windowsOptions.hostProcess=true";
  return true;
}

bool hostProbesAndHostLifecycle(const Ctx& c, PssCheckFailure& f) {
  std::vector<std::string> names, hosts;
  for (const auto& ct : c.pod.containers) {
    if (ct.probeHosts.empty()) continue;
    if (f.field.empty()) f.field = c.pod.containerPath(ct);
    names.emplace_back(ct.name);
    f.containers.push_back(ct.name);
    for (auto h : ct.probeHosts) hosts.emplace_back(h);
  }
  if (names.empty()) return false;
  names = sortedUnique(std::move(names));
  hosts = sortedUnique(std::move(hosts));
  f.reason = "probe or lifecycle host";
  f.detail =
      std::string(pluralize("container", "containers", names.size())) + " " + joinQuote(names) +
      " " + std::string(pluralize("uses", "use", names.size())) + " " +
      std::string(pluralize("probe or lifecycle host", "probe or lifecycle hosts", hosts.size())) +
      " " + joinQuote(hosts);
  return true;
}

// ---- restricted -----------------------------------------------------------------------------

bool allowPrivilegeEscalation(const Ctx& c, PssCheckFailure& f) {
  if (c.minor >= 25 && c.pod.isWindows()) return false;
  for (const auto& ct : c.pod.containers) {
    if (ct.sc.allowPrivilegeEscalation != Tri::kFalse) {
      if (f.containers.empty())
        f.field = c.pod.containerPath(ct) + ".securityContext.allowPrivilegeEscalation";
      f.containers.push_back(ct.name);
    }
  }
  if (f.containers.empty()) return false;
  f.reason = "allowPrivilegeEscalation != false";
  f.detail =
      containersPhrase(f.containers) + " must set securityContext.allowPrivilegeEscalation=false";
  return true;
}

bool capabilitiesRestricted(const Ctx& c, PssCheckFailure& f) {
  if (c.minor >= 25 && c.pod.isWindows()) return false;
  Names missingDrop, adding;
  std::vector<std::string> caps;
  for (const auto& ct : c.pod.containers) {
    if (!ct.sc.capabilitiesSet) {
      missingDrop.push_back(ct.name);
    } else {
      bool dropAll = !ct.sc.capDrop.invalid &&
                     std::find(ct.sc.capDrop.items.begin(), ct.sc.capDrop.items.end(), "ALL") !=
                         ct.sc.capDrop.items.end();
      if (!dropAll) missingDrop.push_back(ct.name);
      bool bad = false;
      if (ct.sc.capAdd.invalid) bad = true, caps.push_back("<unreadable>");
      for (auto cap : ct.sc.capAdd.items) {
        if (cap != "NET_BIND_SERVICE") bad = true, caps.emplace_back(cap);
      }
      if (bad) adding.push_back(ct.name);
    }
    if ((!missingDrop.empty() && missingDrop.back() == ct.name) ||
        (!adding.empty() && adding.back() == ct.name)) {
      if (f.field.empty()) f.field = c.pod.containerPath(ct) + ".securityContext.capabilities";
      if (f.containers.empty() || f.containers.back() != ct.name) f.containers.push_back(ct.name);
    }
  }
  std::vector<std::string> details;
  if (!missingDrop.empty()) {
    details.push_back(containersPhrase(missingDrop) +
                      " must set securityContext.capabilities.drop=[\"ALL\"]");
  }
  if (!adding.empty()) {
    details.push_back(containersPhrase(adding) + " must not include " +
                      joinQuote(sortedUnique(caps)) + " in securityContext.capabilities.add");
  }
  if (details.empty()) return false;
  f.reason = "unrestricted capabilities";
  f.detail = join(details, "; ");
  return true;
}

bool procMountRestricted(const Ctx& c, PssCheckFailure& f) { return procMountCommon(c, f); }

bool restrictedVolumes(const Ctx& c, PssCheckFailure& f) {
  static constexpr std::string_view kAllowed[] = {
      "configMap", "csi",   "downwardAPI",           "emptyDir",
      "ephemeral", "image", "persistentVolumeClaim", "projected",
      "secret"};
  static constexpr std::string_view kKnown[] = {"hostPath",
                                                "gcePersistentDisk",
                                                "awsElasticBlockStore",
                                                "gitRepo",
                                                "nfs",
                                                "iscsi",
                                                "glusterfs",
                                                "rbd",
                                                "flexVolume",
                                                "cinder",
                                                "cephfs",
                                                "flocker",
                                                "fc",
                                                "azureFile",
                                                "vsphereVolume",
                                                "quobyte",
                                                "azureDisk",
                                                "photonPersistentDisk",
                                                "portworxVolume",
                                                "scaleIO",
                                                "storageos"};
  Names bad;
  std::vector<std::string> types;
  for (size_t i = 0; i < c.pod.volumes.size(); ++i) {
    const auto& v = c.pod.volumes[i];
    // A volume without a source is defaulted to emptyDir by the API server.
    if (!v.invalid && (v.type.empty() || contains(kAllowed, v.type))) continue;
    if (bad.empty()) f.field = c.pod.specPath + ".volumes[" + std::to_string(i) + "]";
    bad.push_back(v.name);
    types.emplace_back(!v.invalid && contains(kKnown, v.type) ? v.type
                                                              : std::string_view("unknown"));
  }
  if (bad.empty()) return false;
  types = sortedUnique(std::move(types));
  f.reason = "restricted volume types";
  f.detail =
      std::string(pluralize("volume", "volumes", bad.size())) + " " + joinQuote(bad) + " " +
      std::string(pluralize("uses", "use", bad.size())) + " " +
      std::string(pluralize("restricted volume type", "restricted volume types", types.size())) +
      " " + joinQuote(types);
  return true;
}

bool runAsNonRoot(const Ctx& c, PssCheckFailure& f) {
  if (c.minor >= 35 && c.pod.userNamespace()) return false;
  std::vector<std::string> setters;
  bool podTrue = false;
  if (c.pod.sc.runAsNonRoot == Tri::kTrue) {
    podTrue = true;
  } else if (c.pod.sc.runAsNonRoot != Tri::kUnset) {
    setters.push_back("pod");
    f.field = c.pod.specPath + ".securityContext.runAsNonRoot";
  }
  Names explicitBad, implicitBad;
  for (const auto& ct : c.pod.containers) {
    Tri v = ct.sc.runAsNonRoot;
    if (v == Tri::kFalse || v == Tri::kInvalid) {
      explicitBad.push_back(ct.name);
    } else if (v == Tri::kUnset && !podTrue) {
      implicitBad.push_back(ct.name);
    } else {
      continue;
    }
    if (f.field.empty()) f.field = c.pod.containerPath(ct) + ".securityContext.runAsNonRoot";
  }
  f.reason = "runAsNonRoot != true";
  if (!explicitBad.empty()) setters.push_back(containersPhrase(explicitBad));
  if (!setters.empty()) {
    f.containers = explicitBad;
    f.detail = join(setters, " and ") + " must not set securityContext.runAsNonRoot=false";
    return true;
  }
  if (!implicitBad.empty()) {
    f.containers = implicitBad;
    f.detail =
        "pod or " + containersPhrase(implicitBad) + " must set securityContext.runAsNonRoot=true";
    return true;
  }
  return false;
}

bool runAsUser(const Ctx& c, PssCheckFailure& f) {
  if (c.minor >= 35 && c.pod.userNamespace()) return false;
  auto isRoot = [](const OptInt& u) { return u.invalid || (u.set && u.value == 0); };
  std::vector<std::string> setters;
  if (isRoot(c.pod.sc.runAsUser)) {
    setters.push_back("pod");
    f.field = c.pod.specPath + ".securityContext.runAsUser";
  }
  for (const auto& ct : c.pod.containers) {
    if (isRoot(ct.sc.runAsUser)) {
      if (f.field.empty()) f.field = c.pod.containerPath(ct) + ".securityContext.runAsUser";
      f.containers.push_back(ct.name);
    }
  }
  if (!f.containers.empty()) setters.push_back(containersPhrase(f.containers));
  if (setters.empty()) return false;
  f.reason = "runAsUser=0";
  f.detail = join(setters, " and ") + " must not set runAsUser=0";
  return true;
}

bool seccompProfileRestricted(const Ctx& c, PssCheckFailure& f) {
  if (c.minor >= 25 && c.pod.isWindows()) return false;
  std::vector<std::string> setters, values;
  bool podSet = false;
  if (c.pod.sc.seccompSet) {
    if (!validSeccomp(c.pod.sc.seccompType)) {
      setters.push_back("pod");
      values.emplace_back(valueOrUnreadable(c.pod.sc.seccompType));
      f.field = c.pod.specPath + ".securityContext.seccompProfile.type";
    } else {
      podSet = true;
    }
  }
  Names explicitBad, implicitBad;
  for (const auto& ct : c.pod.containers) {
    if (ct.sc.seccompSet) {
      if (validSeccomp(ct.sc.seccompType)) continue;
      explicitBad.push_back(ct.name);
      values.emplace_back(valueOrUnreadable(ct.sc.seccompType));
    } else if (!podSet) {
      implicitBad.push_back(ct.name);
    } else {
      continue;
    }
    if (f.field.empty()) f.field = c.pod.containerPath(ct) + ".securityContext.seccompProfile.type";
  }
  f.reason = "seccompProfile";
  if (!explicitBad.empty()) setters.push_back(containersPhrase(explicitBad));
  if (!setters.empty()) {
    f.containers = explicitBad;
    f.detail = join(setters, " and ") + " must not set securityContext.seccompProfile.type to " +
               joinQuote(sortedUnique(std::move(values)));
    return true;
  }
  if (!implicitBad.empty()) {
    f.containers = implicitBad;
    f.detail =
        "pod or " + containersPhrase(implicitBad) +
        " must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"";
    return true;
  }
  return false;
}

// Wrongly typed data anywhere in the pod: fail closed rather than guess.
bool unreadableFields(const Ctx& c, PssCheckFailure& f) {
  if (c.pod.unreadable.empty()) return false;
  std::vector<std::string> parts;
  for (const auto& u : c.pod.unreadable) parts.push_back(u.field + " must be " + u.expected);
  f.reason = "unreadable fields";
  f.detail = join(parts, ", ");
  f.field = c.pod.unreadable.front().field;
  return true;
}

struct CheckDef {
  std::string_view id;
  PssLevel level;
  int minMinor;
  std::string_view overriddenBy;  // restricted check replacing this baseline one
  int overrideFrom;               // ...from this policy version on
  CheckFn fn;
};

// Upstream's registration order (check file names sorted), which is also the message order.
constexpr CheckDef kChecks[] = {
    {"allowPrivilegeEscalation", PssLevel::kRestricted, 8, "", 0, allowPrivilegeEscalation},
    {"appArmorProfile", PssLevel::kBaseline, 0, "", 0, appArmorProfile},
    {"capabilities_baseline", PssLevel::kBaseline, 0, "capabilities_restricted", 22,
     capabilitiesBaseline},
    {"capabilities_restricted", PssLevel::kRestricted, 22, "", 0, capabilitiesRestricted},
    {"hostNamespaces", PssLevel::kBaseline, 0, "", 0, hostNamespaces},
    {"hostPathVolumes", PssLevel::kBaseline, 0, "restrictedVolumes", 0, hostPathVolumes},
    {"hostPorts", PssLevel::kBaseline, 0, "", 0, hostPorts},
    {"hostProbesAndHostLifecycle", PssLevel::kBaseline, 34, "", 0, hostProbesAndHostLifecycle},
    {"privileged", PssLevel::kBaseline, 0, "", 0, privileged},
    {"procMount", PssLevel::kBaseline, 0, "procMount_restricted", 35, procMountBaseline},
    {"procMount_restricted", PssLevel::kRestricted, 35, "", 0, procMountRestricted},
    {"restrictedVolumes", PssLevel::kRestricted, 0, "", 0, restrictedVolumes},
    {"runAsNonRoot", PssLevel::kRestricted, 0, "", 0, runAsNonRoot},
    {"runAsUser", PssLevel::kRestricted, 23, "", 0, runAsUser},
    {"seLinuxOptions", PssLevel::kBaseline, 0, "", 0, seLinuxOptions},
    {"seccompProfile_baseline", PssLevel::kBaseline, 0, "seccompProfile_restricted", 19,
     seccompProfileBaseline},
    {"seccompProfile_restricted", PssLevel::kRestricted, 19, "", 0, seccompProfileRestricted},
    {"sysctls", PssLevel::kBaseline, 0, "", 0, sysctls},
    {"windowsHostProcess", PssLevel::kBaseline, 0, "", 0, windowsHostProcess},
    {"unreadableFields", PssLevel::kBaseline, 0, "", 0, unreadableFields},
};

}  // namespace

const std::vector<std::string_view>& pssCheckIds() {
  static const std::vector<std::string_view> kIds = [] {
    std::vector<std::string_view> ids;
    for (const auto& c : kChecks) ids.push_back(c.id);
    return ids;
  }();
  return kIds;
}

std::string_view pssLevelName(PssLevel level) {
  switch (level) {
    case PssLevel::kPrivileged:
      return "privileged";
    case PssLevel::kBaseline:
      return "baseline";
    case PssLevel::kRestricted:
      return "restricted";
  }
  return "unknown";
}

std::string PssLevelVersion::toString() const {
  std::string s(pssLevelName(level));
  s += ':';
  s += latest ? std::string("latest") : "v1." + std::to_string(minor);
  return s;
}

bool parsePssVersion(std::string_view text, int& minor, bool& latest) {
  if (text == "latest") {
    latest = true;
    minor = kPssLatestMinor;
    return true;
  }
  if (text.size() < 4 || text.substr(0, 3) != "v1.") return false;
  std::string_view digits = text.substr(3);
  if (digits.size() > 1 && digits[0] == '0') return false;
  int m = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), m);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || m < 0) return false;
  latest = false;
  minor = m;
  return true;
}

bool parsePssLevelVersion(std::string_view text, PssLevelVersion& out, std::string* error) {
  std::string_view level = text, version = "latest";
  if (auto colon = text.find(':'); colon != std::string_view::npos) {
    level = text.substr(0, colon);
    version = text.substr(colon + 1);
  }
  PssLevelVersion lv;
  if (level == "privileged")
    lv.level = PssLevel::kPrivileged;
  else if (level == "baseline")
    lv.level = PssLevel::kBaseline;
  else if (level == "restricted")
    lv.level = PssLevel::kRestricted;
  else {
    if (error)
      *error = "unknown Pod Security level \"" + std::string(level) +
               "\" (want privileged, baseline or restricted)";
    return false;
  }
  if (!parsePssVersion(version, lv.minor, lv.latest)) {
    if (error)
      *error =
          "invalid Pod Security version \"" + std::string(version) + "\" (want latest or v1.N)";
    return false;
  }
  out = lv;
  return true;
}

std::string PssResult::forbiddenDetail() const {
  std::string out;
  for (size_t i = 0; i < failures.size(); ++i) {
    if (i) out += ", ";
    out += failures[i].reason;
    if (!failures[i].detail.empty()) {
      out += " (";
      out += failures[i].detail;
      out += ")";
    }
  }
  return out;
}

PssResult evaluatePss(const PodModel& pod, const PssLevelVersion& lv) {
  PssResult result;
  if (lv.level == PssLevel::kPrivileged) return result;
  Ctx ctx{pod, lv.effectiveMinor()};
  bool restricted = lv.level == PssLevel::kRestricted;
  for (const auto& def : kChecks) {
    if (ctx.minor < def.minMinor) continue;
    if (def.level == PssLevel::kRestricted && !restricted) continue;
    if (restricted && !def.overriddenBy.empty() && ctx.minor >= def.overrideFrom) continue;
    PssCheckFailure f;
    if (def.fn(ctx, f)) {
      f.checkId = def.id;
      result.failures.push_back(std::move(f));
    }
  }
  result.allowed = result.failures.empty();
  return result;
}

std::string pssDenyMessage(const PssLevelVersion& lv, const PssResult& result) {
  return "violates PodSecurity \"" + lv.toString() + "\": " + result.forbiddenDetail();
}

std::string pssWarningMessage(const PssLevelVersion& lv, const PssResult& result) {
  return "would violate PodSecurity \"" + lv.toString() + "\": " + result.forbiddenDetail();
}

}  // namespace kc::policy
