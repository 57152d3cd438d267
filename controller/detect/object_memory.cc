#include "controller/detect/object_memory.h"

#include <simdjson.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "common/files.h"
#include "common/json_writer.h"

namespace kc::audit {
namespace {

constexpr std::string_view kHeaderKind = "KubeCustomsObjectMemory";
constexpr int64_t kVersion = 1;
// A line holds one object; the largest the caps below allow (279 strings of 8 KiB, each byte
// escaped to six) is under 14 MB.
constexpr size_t kMaxLineBytes = 16u << 20;
constexpr size_t kMaxStringBytes = 8u << 10;
constexpr size_t kMaxContainers = 64;
constexpr uint64_t kMaxFileBytes = 1ull << 30;

void appendField(std::string& out, std::string_view key, std::string_view value) {
  out.push_back(',');
  json::appendJsonString(out, key);
  out.push_back(':');
  json::appendJsonString(out, value);
}

void appendList(std::string& out, std::string_view key, const std::vector<std::string>& values) {
  out.push_back(',');
  json::appendJsonString(out, key);
  out.append(":[");
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    json::appendJsonString(out, values[i]);
  }
  out.push_back(']');
}

void appendObject(std::string& out, const TrackedObject& o, bool nameIndexed) {
  out.append("{\"uid\":");
  json::appendJsonString(out, o.uid);
  appendField(out, "kind", o.kind);
  appendField(out, "namespace", o.namespace_);
  appendField(out, "name", o.name);
  appendField(out, "owner", o.ownerUid);
  appendField(out, "actor", o.actor);
  appendField(out, "actorUserAgent", o.actorUserAgent);
  appendList(out, "changers", o.changers);
  out.append(o.hasContainers ? ",\"hasContainers\":true" : ",\"hasContainers\":false");
  out.append(",\"containers\":[");
  for (size_t i = 0; i < o.containers.size(); ++i) {
    const ContainerState& c = o.containers[i];
    if (i > 0) out.push_back(',');
    out.append("{\"name\":");
    json::appendJsonString(out, c.name);
    appendField(out, "image", c.image);
    appendField(out, "command", c.command);
    out.push_back('}');
  }
  out.push_back(']');
  appendList(out, "keys", o.findingKeys);
  if (!nameIndexed) out.append(",\"byName\":false");
  out.append("}\n");
}

// A bounded string field; absent is empty. False when present with another type or too long.
bool readString(simdjson::dom::object obj, std::string_view key, std::string& out) {
  simdjson::dom::element v;
  if (obj.at_key(key).get(v) != simdjson::SUCCESS) return true;
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS || s.size() > kMaxStringBytes) return false;
  out.assign(s);
  return true;
}

bool readStrings(simdjson::dom::object obj, std::string_view key, size_t max,
                 std::vector<std::string>& out) {
  simdjson::dom::element v;
  if (obj.at_key(key).get(v) != simdjson::SUCCESS) return true;
  simdjson::dom::array a;
  if (v.get_array().get(a) != simdjson::SUCCESS || a.size() > max) return false;
  for (simdjson::dom::element e : a) {
    std::string_view s;
    if (e.get_string().get(s) != simdjson::SUCCESS || s.size() > kMaxStringBytes) return false;
    out.emplace_back(s);
  }
  return true;
}

// Reads one saved object; false when the line is not one (nothing is changed then).
bool readObject(simdjson::dom::element root, TrackedObject& o, bool& nameIndexed) {
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) return false;
  if (!readString(obj, "uid", o.uid) || !readString(obj, "kind", o.kind) ||
      !readString(obj, "namespace", o.namespace_) || !readString(obj, "name", o.name) ||
      !readString(obj, "owner", o.ownerUid) || !readString(obj, "actor", o.actor) ||
      !readString(obj, "actorUserAgent", o.actorUserAgent) ||
      !readStrings(obj, "changers", TrackedObject::kMaxChangers, o.changers) ||
      !readStrings(obj, "keys", TrackedObject::kMaxKeys, o.findingKeys)) {
    return false;
  }
  if (o.uid.empty() && o.name.empty()) return false;  // nothing to find it by
  simdjson::dom::element v;
  nameIndexed = true;
  if (obj.at_key("byName").get(v) == simdjson::SUCCESS &&
      v.get_bool().get(nameIndexed) != simdjson::SUCCESS) {
    return false;
  }
  if (obj.at_key("hasContainers").get(v) == simdjson::SUCCESS &&
      v.get_bool().get(o.hasContainers) != simdjson::SUCCESS) {
    return false;
  }
  if (obj.at_key("containers").get(v) == simdjson::SUCCESS) {
    simdjson::dom::array a;
    if (v.get_array().get(a) != simdjson::SUCCESS || a.size() > kMaxContainers) return false;
    for (simdjson::dom::element e : a) {
      simdjson::dom::object c;
      if (e.get_object().get(c) != simdjson::SUCCESS) return false;
      ContainerState s;
      if (!readString(c, "name", s.name) || !readString(c, "image", s.image) ||
          !readString(c, "command", s.command)) {
        return false;
      }
      o.containers.push_back(std::move(s));
    }
  }
  return true;
}

// Whether loading would take the object back: saving leaves out what it would refuse (hostile
// events can carry names longer than any real object's), so what is saved always loads.
bool loadable(const TrackedObject& o) {
  auto fits = [](const std::string& s) { return s.size() <= kMaxStringBytes; };
  auto allFit = [&](const std::vector<std::string>& v, size_t max) {
    return v.size() <= max && std::all_of(v.begin(), v.end(), fits);
  };
  if (o.uid.empty() && o.name.empty()) return false;
  if (!fits(o.uid) || !fits(o.kind) || !fits(o.namespace_) || !fits(o.name) || !fits(o.ownerUid) ||
      !fits(o.actor) || !fits(o.actorUserAgent) ||
      !allFit(o.changers, TrackedObject::kMaxChangers) ||
      !allFit(o.findingKeys, TrackedObject::kMaxKeys) || o.containers.size() > kMaxContainers) {
    return false;
  }
  return std::all_of(o.containers.begin(), o.containers.end(), [&](const ContainerState& c) {
    return fits(c.name) && fits(c.image) && fits(c.command);
  });
}

bool isBlank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

}  // namespace

std::string objectMemoryText(const ObjectTracker& tracker) {
  // The header counts the objects saved: counted first, so that the text (tens of MB) is
  // written once in place instead of being copied behind its header.
  size_t saved = 0;
  tracker.forEachOldestFirst([&](const TrackedObject& o, bool) { saved += loadable(o); });
  std::string text = "{\"kind\":\"" + std::string(kHeaderKind) +
                     "\",\"version\":" + std::to_string(kVersion) +
                     ",\"objects\":" + std::to_string(saved) + "}\n";
  text.reserve(text.size() + saved * 640);  // a pod record is about 600 bytes
  tracker.forEachOldestFirst([&](const TrackedObject& o, bool nameIndexed) {
    if (loadable(o)) appendObject(text, o, nameIndexed);
  });
  return text;
}

bool saveObjectMemory(const ObjectTracker& tracker, const std::string& path, std::string* error) {
  std::string why;
  if (!files::writeFileAtomic(path, objectMemoryText(tracker), 0600, why)) {
    if (error) *error = why;
    return false;
  }
  return true;
}

ObjectMemoryLoad loadObjectMemory(const std::string& path, ObjectTracker& tracker) {
  ObjectMemoryLoad r;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      r.ok = true;
      return r;
    }
    r.error = path + ": " + std::strerror(errno);
    return r;
  }
  if (!S_ISREG(st.st_mode)) {
    r.error = path + ": not a regular file";
    return r;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
    r.error = path + ": larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB";
    return r;
  }
  std::string text;
  // Bounded by the tracker's cap times the line cap in principle; a file past 1 GiB is not one
  // this process wrote for any sane cap.
  if (!files::readFile(path, text, size_t{1} << 30)) {
    r.error = files::readError(path);
    return r;
  }
  return loadObjectMemoryText(text, path, tracker);
}

ObjectMemoryLoad loadObjectMemoryText(std::string_view text, const std::string& path,
                                      ObjectTracker& tracker) {
  ObjectMemoryLoad r;
  simdjson::dom::parser parser;
  std::string_view rest = text;
  bool header = false;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    if (isBlank(line)) continue;
    simdjson::dom::element root;
    const bool parsed = line.size() <= kMaxLineBytes &&
                        parser.parse(line.data(), line.size()).get(root) == simdjson::SUCCESS;
    if (!header) {
      // The header decides whether the rest is read at all.
      std::string_view kind;
      int64_t version = 0;
      if (!parsed || root["kind"].get(kind) != simdjson::SUCCESS || kind != kHeaderKind ||
          root["version"].get(version) != simdjson::SUCCESS) {
        r.error = path + ": not an object memory file (no header line)";
        return r;
      }
      if (version != kVersion) {
        r.error = path + ": object memory version " + std::to_string(version) +
                  " (this build reads version " + std::to_string(kVersion) + ")";
        return r;
      }
      header = true;
      continue;
    }
    TrackedObject o;
    bool nameIndexed = true;
    if (!parsed || !readObject(root, o, nameIndexed)) {
      ++r.damaged;
      continue;
    }
    TrackedObject& rec = tracker.restore(o.uid, o.kind, o.namespace_, o.name, nameIndexed);
    rec.ownerUid = std::move(o.ownerUid);
    rec.actor = std::move(o.actor);
    rec.actorUserAgent = std::move(o.actorUserAgent);
    rec.changers = std::move(o.changers);
    rec.hasContainers = o.hasContainers;
    rec.containers = std::move(o.containers);
    rec.findingKeys = std::move(o.findingKeys);
    ++r.loaded;
  }
  // Without a header every line was blank (the first other line is read as the header or the
  // file refused): an empty memory.
  r.ok = true;
  return r;
}

}  // namespace kc::audit
