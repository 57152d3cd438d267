#include "policies/pod_spec.h"

namespace kc::policy {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

constexpr std::string_view kContainerLists[] = {"initContainers", "containers",
                                                "ephemeralContainers"};

// A JSON path built on the stack and only turned into a string when a problem is reported, so
// reading a well-formed pod allocates no path strings.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;
  int index = -1;  // >= 0: an array element of parent

  std::string str() const {
    std::string out = parent ? parent->str() : std::string();
    if (index >= 0) return out + "[" + std::to_string(index) + "]";
    if (!out.empty()) out += '.';
    out += key;
    return out;
  }
};

Path child(const Path& p, std::string_view key) { return Path{&p, key, -1}; }
Path at(const Path& p, int i) { return Path{&p, {}, i}; }

class Reader {
 public:
  explicit Reader(PodModel& m) : m_(m) {}

  void bad(const Path& path, std::string_view expected) {
    m_.unreadable.push_back({path.str(), std::string(expected)});
  }

  Tri readBool(element v, const Path& base, std::string_view key) {
    if (v.is_null()) return Tri::kUnset;
    bool b;
    if (v.get_bool().get(b) == simdjson::SUCCESS) return b ? Tri::kTrue : Tri::kFalse;
    bad(child(base, key), "boolean");
    return Tri::kInvalid;
  }

  // A boolean only the opt-in rules read: a wrong type is kInvalid, judged by those rules, and
  // not listed as unreadable (which would fail every Pod Security Standards check).
  static Tri readOptInBool(element v) {
    if (v.is_null()) return Tri::kUnset;
    bool b;
    if (v.get_bool().get(b) == simdjson::SUCCESS) return b ? Tri::kTrue : Tri::kFalse;
    return Tri::kInvalid;
  }

  static OptString readOptInString(element v) {
    OptString s;
    if (v.is_null()) return s;
    std::string_view sv;
    if (v.get_string().get(sv) == simdjson::SUCCESS) {
      s.set = true;
      s.value = sv;
    } else {
      s.invalid = true;
    }
    return s;
  }

  static OptInt readOptInInt(element v) {
    OptInt i;
    if (v.is_null()) return i;
    int64_t x;
    if (v.get_int64().get(x) == simdjson::SUCCESS) {
      i.set = true;
      i.value = x;
    } else {
      i.invalid = true;
    }
    return i;
  }

  static void readGroupList(element v, SecurityContextModel& sc) {
    if (v.is_null()) return;
    simdjson::dom::array arr;
    if (v.get_array().get(arr) != simdjson::SUCCESS) {
      sc.supplementalGroupsInvalid = true;
      return;
    }
    for (element item : arr) {
      int64_t x;
      if (item.get_int64().get(x) != simdjson::SUCCESS) {
        sc.supplementalGroupsInvalid = true;
        continue;
      }
      sc.supplementalGroups.push_back(x);
    }
  }

  // The fields PSS reads: a wrong type is also an unreadable field (pss.unreadableFields).
  OptString readString(element v, const Path& base, std::string_view key) {
    OptString s = readOptInString(v);
    if (s.invalid) bad(child(base, key), "string");
    return s;
  }

  OptInt readInt(element v, const Path& base, std::string_view key) {
    OptInt i = readOptInInt(v);
    if (i.invalid) bad(child(base, key), "integer");
    return i;
  }

  StringList readStringList(element v, const Path& base, std::string_view key) {
    StringList l;
    if (v.is_null()) return l;
    l.set = true;
    simdjson::dom::array arr;
    if (v.get_array().get(arr) != simdjson::SUCCESS) {
      l.invalid = true;
      bad(child(base, key), "array of strings");
      return l;
    }
    for (element item : arr) {
      std::string_view s;
      if (item.get_string().get(s) == simdjson::SUCCESS) {
        l.items.push_back(s);
      } else {
        l.invalid = true;
        bad(child(base, key), "array of strings");
        break;
      }
    }
    return l;
  }

  bool readObject(element v, const Path& path, object& out) {
    if (v.get_object().get(out) == simdjson::SUCCESS) return true;
    bad(path, "object");
    return false;
  }

  void readPairs(element v, const Path& path,
                 std::vector<std::pair<std::string_view, std::string_view>>& out) {
    if (v.is_null()) return;
    object o;
    if (!readObject(v, path, o)) return;
    for (auto field : o) {
      std::string_view s;
      if (field.value.get_string().get(s) == simdjson::SUCCESS) {
        out.emplace_back(field.key, s);
      } else if (!field.value.is_null()) {
        bad(child(path, field.key), "string");
      }
    }
  }

  void readSeLinux(element v, const Path& path, SeLinuxModel& out) {
    if (v.is_null()) return;
    object o;
    if (!readObject(v, path, o)) {
      out.set = true;
      out.type.invalid = true;
      return;
    }
    out.set = true;
    for (auto f : o) {
      if (f.key == "type")
        out.type = readString(f.value, path, f.key);
      else if (f.key == "user")
        out.user = readString(f.value, path, f.key);
      else if (f.key == "role")
        out.role = readString(f.value, path, f.key);
    }
  }

  // Reads `{type: X, localhostProfile: Y}` style profiles (seccompProfile, appArmorProfile).
  void readProfile(element v, const Path& path, bool& set, OptString& type, OptString& localhost) {
    if (v.is_null()) return;
    set = true;
    object o;
    if (!readObject(v, path, o)) {
      type.invalid = true;
      return;
    }
    element t;
    if (o["type"].get(t) == simdjson::SUCCESS) {
      type = readString(t, path, "type");
    }
    if (o["localhostProfile"].get(t) == simdjson::SUCCESS) localhost = readOptInString(t);
  }

  void readSecurityContext(element v, const Path& path, SecurityContextModel& sc) {
    if (v.is_null()) return;
    sc.set = true;
    object o;
    if (!readObject(v, path, o)) {
      sc.invalid = true;
      return;
    }
    for (auto f : o) {
      std::string_view k = f.key;
      if (k == "privileged") {
        sc.privileged = readBool(f.value, path, k);
      } else if (k == "allowPrivilegeEscalation") {
        sc.allowPrivilegeEscalation = readBool(f.value, path, k);
      } else if (k == "runAsNonRoot") {
        sc.runAsNonRoot = readBool(f.value, path, k);
      } else if (k == "runAsUser") {
        sc.runAsUser = readInt(f.value, path, k);
      } else if (k == "runAsGroup") {
        sc.runAsGroup = readOptInInt(f.value);
      } else if (k == "fsGroup") {
        sc.fsGroup = readOptInInt(f.value);
      } else if (k == "supplementalGroups") {
        readGroupList(f.value, sc);
      } else if (k == "readOnlyRootFilesystem") {
        sc.readOnlyRootFilesystem = readOptInBool(f.value);
      } else if (k == "procMount") {
        sc.procMount = readString(f.value, path, k);
      } else if (k == "seccompProfile") {
        readProfile(f.value, child(path, "seccompProfile"), sc.seccompSet, sc.seccompType,
                    sc.seccompLocalhost);
      } else if (k == "appArmorProfile") {
        readProfile(f.value, child(path, "appArmorProfile"), sc.appArmorSet, sc.appArmorType,
                    sc.appArmorLocalhost);
      } else if (k == "seLinuxOptions") {
        readSeLinux(f.value, child(path, "seLinuxOptions"), sc.seLinux);
      } else if (k == "capabilities") {
        if (f.value.is_null()) continue;
        sc.capabilitiesSet = true;
        object caps;
        Path cpath = child(path, "capabilities");
        if (!readObject(f.value, cpath, caps)) {
          sc.capAdd.invalid = sc.capDrop.invalid = true;
          continue;
        }
        for (auto c : caps) {
          if (c.key == "add")
            sc.capAdd = readStringList(c.value, cpath, c.key);
          else if (c.key == "drop")
            sc.capDrop = readStringList(c.value, cpath, c.key);
        }
      } else if (k == "windowsOptions") {
        if (f.value.is_null()) continue;
        object w;
        Path wpath = child(path, "windowsOptions");
        if (!readObject(f.value, wpath, w)) {
          sc.windowsHostProcess = Tri::kInvalid;
          continue;
        }
        element hp;
        if (w["hostProcess"].get(hp) == simdjson::SUCCESS) {
          sc.windowsHostProcess = readBool(hp, wpath, "hostProcess");
        }
      } else if (k == "sysctls") {
        if (f.value.is_null()) continue;
        sc.sysctlNames.set = true;
        simdjson::dom::array arr;
        if (f.value.get_array().get(arr) != simdjson::SUCCESS) {
          sc.sysctlNames.invalid = true;
          bad(child(path, "sysctls"), "array");
          continue;
        }
        size_t i = 0;
        for (element s : arr) {
          object so;
          std::string_view name;
          if (s.get_object().get(so) != simdjson::SUCCESS ||
              so["name"].get_string().get(name) != simdjson::SUCCESS) {
            sc.sysctlNames.invalid = true;
            {
              Path sp = child(path, "sysctls");
              Path ep = at(sp, static_cast<int>(i));
              bad(child(ep, "name"), "string");
            }
          } else {
            sc.sysctlNames.items.push_back(name);
            SysctlModel entry{name, {}};
            element value;
            if (so["value"].get(value) == simdjson::SUCCESS) entry.value = readOptInString(value);
            sc.sysctls.push_back(entry);
          }
          ++i;
        }
      }
    }
  }

  // Collects non-empty httpGet.host / tcpSocket.host of one probe or lifecycle handler.
  void readHandlerHosts(element v, const Path& path, ContainerModel& c) {
    if (v.is_null()) return;
    object o;
    if (!readObject(v, path, o)) {
      c.probeHosts.push_back("<unreadable>");
      return;
    }
    for (std::string_view action : {"httpGet", "tcpSocket"}) {
      element a;
      if (o[action].get(a) != simdjson::SUCCESS || a.is_null()) continue;
      object ao;
      Path apath = child(path, action);
      if (!readObject(a, apath, ao)) {
        c.probeHosts.push_back("<unreadable>");
        continue;
      }
      element h;
      if (ao["host"].get(h) != simdjson::SUCCESS) continue;
      OptString host = readString(h, apath, "host");
      if (host.invalid)
        c.probeHosts.push_back("<unreadable>");
      else if (host.set && !host.value.empty())
        c.probeHosts.push_back(host.value);
    }
  }

  // volumeMounts, for the opt-in hostPath rules: a list that cannot be read is one invalid
  // mount, which those rules judge as the worst case.
  static void readMounts(element v, ContainerModel& c) {
    if (v.is_null()) return;
    simdjson::dom::array arr;
    if (v.get_array().get(arr) != simdjson::SUCCESS) {
      VolumeMountModel unreadable;
      unreadable.invalid = true;
      c.mounts.push_back(unreadable);
      return;
    }
    for (element item : arr) {
      VolumeMountModel m;
      object o;
      if (item.get_object().get(o) != simdjson::SUCCESS) {
        m.invalid = true;
        c.mounts.push_back(m);
        continue;
      }
      for (auto f : o) {
        if (f.key == "name" || f.key == "subPath" || f.key == "subPathExpr") {
          OptString s = readOptInString(f.value);
          m.invalid = m.invalid || s.invalid;
          if (f.key == "name")
            m.name = s.value;
          else if (f.key == "subPath")
            m.subPath = s.value;
          else
            m.expanded = m.expanded || (s.set && !s.value.empty());
        } else if (f.key == "readOnly") {
          m.readOnly = readOptInBool(f.value);
          m.invalid = m.invalid || m.readOnly == Tri::kInvalid;
        }
      }
      c.mounts.push_back(m);
    }
  }

  void readContainer(element v, ContainerKind kind, int index, const Path& path) {
    ContainerModel c;
    c.kind = kind;
    c.index = index;
    object o;
    if (!readObject(v, path, o)) {
      c.sc.invalid = true;
      m_.containers.push_back(std::move(c));
      return;
    }
    for (auto f : o) {
      std::string_view k = f.key;
      if (k == "name") {
        c.name = readString(f.value, path, k).value;
      } else if (k == "image") {
        c.image = readString(f.value, path, k);
      } else if (k == "imagePullPolicy") {
        c.imagePullPolicy = readOptInString(f.value);
      } else if (k == "securityContext") {
        readSecurityContext(f.value, child(path, "securityContext"), c.sc);
      } else if (k == "ports") {
        if (f.value.is_null()) continue;
        simdjson::dom::array ports;
        if (f.value.get_array().get(ports) != simdjson::SUCCESS) {
          bad(child(path, "ports"), "array");
          c.hostPorts.push_back(-1);
          continue;
        }
        size_t i = 0;
        for (element p : ports) {
          Path portsPath = child(path, "ports");
          Path ppath = at(portsPath, static_cast<int>(i++));
          object po;
          if (!readObject(p, ppath, po)) {
            c.hostPorts.push_back(-1);
            continue;
          }
          element hp;
          if (po["hostPort"].get(hp) != simdjson::SUCCESS) continue;
          OptInt port = readInt(hp, ppath, "hostPort");
          if (port.invalid)
            c.hostPorts.push_back(-1);
          else if (port.set && port.value != 0)
            c.hostPorts.push_back(port.value);
        }
      } else if (k == "volumeMounts") {
        readMounts(f.value, c);
      } else if (k == "livenessProbe" || k == "readinessProbe" || k == "startupProbe") {
        readHandlerHosts(f.value, child(path, k), c);
      } else if (k == "lifecycle") {
        if (f.value.is_null()) continue;
        object lo;
        Path lpath = child(path, "lifecycle");
        if (!readObject(f.value, lpath, lo)) {
          c.probeHosts.push_back("<unreadable>");
          continue;
        }
        for (auto h : lo) {
          if (h.key == "postStart" || h.key == "preStop") {
            readHandlerHosts(h.value, child(lpath, h.key), c);
          }
        }
      }
    }
    m_.containers.push_back(std::move(c));
  }

  void readVolumes(element v, const Path& path) {
    if (v.is_null()) return;
    simdjson::dom::array arr;
    if (v.get_array().get(arr) != simdjson::SUCCESS) {
      bad(path, "array");
      VolumeModel unreadable;
      unreadable.invalid = true;
      m_.volumes.push_back(unreadable);
      return;
    }
    size_t i = 0;
    for (element item : arr) {
      Path vpath = at(path, static_cast<int>(i++));
      VolumeModel vol;
      object o;
      if (!readObject(item, vpath, o)) {
        vol.invalid = true;
        m_.volumes.push_back(vol);
        continue;
      }
      for (auto f : o) {
        if (f.key == "name") {
          vol.name = readString(f.value, vpath, "name").value;
        } else if (vol.type.empty() && !f.value.is_null()) {
          vol.type = f.key;
          if (f.key == "flexVolume") {
            object fv;
            element drv;
            if (f.value.get_object().get(fv) != simdjson::SUCCESS)
              vol.flexDriver.invalid = true;
            else if (fv["driver"].get(drv) == simdjson::SUCCESS)
              vol.flexDriver = readOptInString(drv);
          }
          if (f.key == "hostPath") {
            object hp;
            if (readObject(f.value, child(vpath, "hostPath"), hp)) {
              element p;
              if (hp["path"].get(p) == simdjson::SUCCESS) {
                OptString s = readString(p, child(vpath, "hostPath"), "path");
                if (s.invalid) vol.invalid = true;
                vol.hostPath = s.value;
              }
            } else {
              vol.invalid = true;
            }
          }
        }
      }
      m_.volumes.push_back(vol);
    }
  }

  void readSpec(object spec, const Path& path) {
    for (auto f : spec) {
      std::string_view k = f.key;
      if (k == "containers" || k == "initContainers" || k == "ephemeralContainers") {
        continue;  // read below, in PSA's visiting order
      } else if (k == "hostNetwork") {
        m_.hostNetwork = readBool(f.value, path, k);
      } else if (k == "hostPID") {
        m_.hostPID = readBool(f.value, path, k);
      } else if (k == "hostIPC") {
        m_.hostIPC = readBool(f.value, path, k);
      } else if (k == "hostUsers") {
        m_.hostUsers = readBool(f.value, path, k);
      } else if (k == "os") {
        if (f.value.is_null()) continue;
        object os;
        if (readObject(f.value, child(path, "os"), os)) {
          element n;
          if (os["name"].get(n) == simdjson::SUCCESS)
            m_.osName = readString(n, child(path, "os"), "name");
        } else {
          m_.osName.invalid = true;
        }
      } else if (k == "serviceAccountName") {
        m_.serviceAccountName = readString(f.value, path, k);
      } else if (k == "runtimeClassName") {
        m_.runtimeClassName = readString(f.value, path, k);
      } else if (k == "nodeName") {
        m_.nodeName = readString(f.value, path, k);
      } else if (k == "securityContext") {
        readSecurityContext(f.value, child(path, "securityContext"), m_.sc);
      } else if (k == "volumes") {
        readVolumes(f.value, child(path, "volumes"));
      }
    }
    ContainerKind kinds[] = {ContainerKind::kInit, ContainerKind::kRegular,
                             ContainerKind::kEphemeral};
    for (int li = 0; li < 3; ++li) {
      element list;
      if (spec[kContainerLists[li]].get(list) != simdjson::SUCCESS || list.is_null()) continue;
      Path lpath = child(path, kContainerLists[li]);
      simdjson::dom::array arr;
      if (list.get_array().get(arr) != simdjson::SUCCESS) {
        bad(lpath, "array");
        ContainerModel c;
        c.kind = kinds[li];
        c.sc.invalid = true;
        m_.containers.push_back(std::move(c));
        continue;
      }
      int i = 0;
      for (element item : arr) {
        readContainer(item, kinds[li], i, at(lpath, i));
        ++i;
      }
    }
  }

 private:
  PodModel& m_;
};

// Walks `path` (dot-separated keys) from `root`; returns false when a step is missing.
bool descend(element root, std::initializer_list<std::string_view> keys, element& out) {
  element cur = root;
  for (auto k : keys) {
    object o;
    if (cur.get_object().get(o) != simdjson::SUCCESS) return false;
    if (o[k].get(cur) != simdjson::SUCCESS) return false;
  }
  out = cur;
  return true;
}

}  // namespace

bool isPodCarryingKind(std::string_view kind) {
  return kind == "Pod" || kind == "Deployment" || kind == "ReplicaSet" || kind == "StatefulSet" ||
         kind == "DaemonSet" || kind == "Job" || kind == "ReplicationController" ||
         kind == "CronJob" || kind == "PodTemplate";
}

std::string PodModel::containerPath(const ContainerModel& c) const {
  std::string_view list = kContainerLists[static_cast<int>(c.kind)];
  return specPath + "." + std::string(list) + "[" + std::to_string(c.index) + "]";
}

std::string_view PodModel::annotation(std::string_view key, bool* found) const {
  for (const auto& [k, v] : annotations) {
    if (k == key) {
      if (found) *found = true;
      return v;
    }
  }
  if (found) *found = false;
  return {};
}

ExtractStatus extractPod(element objectEl, std::string_view kind, PodModel& out) {
  out = PodModel{};
  if (kind.empty()) {
    std::string_view k;
    if (objectEl["kind"].get_string().get(k) == simdjson::SUCCESS) kind = k;
  }
  if (!isPodCarryingKind(kind)) return ExtractStatus::kNotPodCarrying;
  out.kind = kind;
  Reader r(out);

  element topMeta;
  if (descend(objectEl, {"metadata"}, topMeta) && !topMeta.is_null()) {
    object mo;
    const Path metadata{nullptr, "metadata"};
    if (r.readObject(topMeta, metadata, mo)) {
      element v;
      if (mo["name"].get(v) == simdjson::SUCCESS)
        out.name = r.readString(v, metadata, "name").value;
      if (mo["namespace"].get(v) == simdjson::SUCCESS)
        out.namespace_ = r.readString(v, metadata, "namespace").value;
    }
  }

  std::string_view metaPath, specPath;
  element podMeta, spec;
  bool haveMeta = false, haveSpec = false;
  if (kind == "Pod") {
    metaPath = "metadata";
    specPath = "spec";
    haveMeta = descend(objectEl, {"metadata"}, podMeta);
    haveSpec = descend(objectEl, {"spec"}, spec);
  } else if (kind == "CronJob") {
    metaPath = "spec.jobTemplate.spec.template.metadata";
    specPath = "spec.jobTemplate.spec.template.spec";
    haveMeta = descend(objectEl, {"spec", "jobTemplate", "spec", "template", "metadata"}, podMeta);
    haveSpec = descend(objectEl, {"spec", "jobTemplate", "spec", "template", "spec"}, spec);
  } else if (kind == "PodTemplate") {
    metaPath = "template.metadata";
    specPath = "template.spec";
    haveMeta = descend(objectEl, {"template", "metadata"}, podMeta);
    haveSpec = descend(objectEl, {"template", "spec"}, spec);
  } else {
    metaPath = "spec.template.metadata";
    specPath = "spec.template.spec";
    haveMeta = descend(objectEl, {"spec", "template", "metadata"}, podMeta);
    haveSpec = descend(objectEl, {"spec", "template", "spec"}, spec);
  }
  out.specPath = std::string(specPath);

  const Path metaP{nullptr, metaPath};
  const Path specP{nullptr, out.specPath};
  if (haveMeta && !podMeta.is_null()) {
    object mo;
    if (r.readObject(podMeta, metaP, mo)) {
      element v;
      if (mo["labels"].get(v) == simdjson::SUCCESS)
        r.readPairs(v, child(metaP, "labels"), out.labels);
      if (mo["annotations"].get(v) == simdjson::SUCCESS)
        r.readPairs(v, child(metaP, "annotations"), out.annotations);
    }
  }
  object specObj;
  if (!haveSpec || spec.is_null()) {
    r.bad(specP, "object");
    return ExtractStatus::kNoPodSpec;
  }
  if (!r.readObject(spec, specP, specObj)) return ExtractStatus::kNoPodSpec;
  r.readSpec(specObj, specP);
  return ExtractStatus::kOk;
}

}  // namespace kc::policy
