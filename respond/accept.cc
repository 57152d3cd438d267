#include "respond/accept.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/utf8.h"
#include "controller/detect/baseline.h"
#include "controller/state_dir.h"
#include "node/normals.h"
#include "policies/image_ref.h"

namespace kc::respond {

using json = nlohmann::json;

namespace {

constexpr std::size_t kMaxEntries = 10000;  // of each list in node-accepted.json

std::string utcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The findings in `text`: an object, an array of objects, or one object per line.
bool findingsIn(std::string_view text, std::vector<json>& out, std::string& error) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_discarded()) {
    if (j.is_object())
      out.push_back(std::move(j));
    else if (j.is_array())
      for (auto& e : j)
        if (e.is_object()) out.push_back(std::move(e));
  } else {
    std::size_t start = 0, line = 0;
    while (start < text.size()) {
      auto end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      ++line;
      const std::string_view piece = text.substr(start, end - start);
      start = end + 1;
      if (piece.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      json e = json::parse(piece, nullptr, false);
      if (e.is_discarded() || !e.is_object()) {
        error = "line " + std::to_string(line) + " is not a JSON object";
        return false;
      }
      out.push_back(std::move(e));
    }
  }
  if (out.empty()) {
    error = "no finding in the input";
    return false;
  }
  return true;
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? std::string(utf8::prefix(it->get<std::string>(), 4096))
                                          : std::string();
}

std::string detail(const json& f, const char* key) {
  auto it = f.find("details");
  return it != f.end() && it->is_object() ? str(*it, key) : std::string();
}

bool saveNodeAccepted(const std::string& path, const NodeAccepted& a, std::string& error) {
  json normals = json::array();
  for (const auto& n : a.normals)
    normals.push_back(
        {{"workload", n.workload}, {"metric", n.metric}, {"value", n.value}, {"at", n.at}});
  const json j = {{"version", 1},
                  {"allowedOutsideKubernetes", a.allowedOutsideKubernetes},
                  {"normals", normals}};
  return files::writeFileAtomic(path, j.dump(2, ' ', false, json::error_handler_t::replace) + "\n",
                                0600, error);
}

}  // namespace

std::string nodeAcceptedPath(const std::string& stateDir) {
  return stateDir + "/node-accepted.json";
}

bool loadNodeAccepted(const std::string& path, NodeAccepted& out, std::string& error) {
  out = NodeAccepted{};
  std::string text;
  if (!files::readFile(path, text, 16u << 20)) {
    if (errno == ENOENT) return true;
    error = files::readError(path);
    return false;
  }
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error = path + ": not JSON";
    return false;
  }
  if (auto it = j.find("allowedOutsideKubernetes"); it != j.end() && it->is_array()) {
    for (const auto& e : *it)
      if (e.is_string() && out.allowedOutsideKubernetes.size() < kMaxEntries)
        out.allowedOutsideKubernetes.push_back(
            std::string(utf8::prefix(e.get<std::string>(), 4096)));
  }
  if (auto it = j.find("normals"); it != j.end() && it->is_array()) {
    for (const auto& e : *it) {
      if (!e.is_object() || out.normals.size() >= kMaxEntries) continue;
      NodeAccepted::Normal n;
      n.workload = str(e, "workload");
      n.metric = str(e, "metric");
      n.at = str(e, "at");
      if (auto v = e.find("value"); v != e.end() && v->is_number()) n.value = v->get<double>();
      if (!n.workload.empty() && !n.metric.empty()) out.normals.push_back(std::move(n));
    }
  }
  return true;
}

Outcome acceptFinding(std::string_view text, const AcceptOptions& options) {
  Outcome out;
  std::vector<json> findings;
  if (!findingsIn(text, findings, out.error)) return out;
  const std::string would = options.dryRun ? "would " : "";

  // What goes where.
  std::vector<std::string> allow;
  std::vector<NodeAccepted::Normal> normals;
  std::vector<json> baseline;
  for (const json& f : findings) {
    const std::string rule = str(f, "rule");
    const std::string runtime = str(f, "runtime");
    if (rule == "container-outside-kubernetes") {
      const std::string image = str(f, "image");
      if (image.empty()) {
        out.notes.push_back("container-outside-kubernetes: the finding has no image");
        continue;
      }
      // Image globs name a repository, never a tag: every tag of it is allowed.
      policy::ImageRef ref;
      std::string why;
      if (!policy::parseImageRef(image, ref, &why)) {
        out.notes.push_back("container-outside-kubernetes: the image \"" + image +
                            "\" cannot be read: " + why);
        continue;
      }
      allow.push_back("image:" + ref.name());
    } else if (rule == "container-cpu-anomaly" || rule == "container-memory-anomaly" ||
               rule == "container-network-anomaly") {
      NodeAccepted::Normal n;
      n.workload = detail(f, "workload");
      n.metric = detail(f, "metric");
      node::Metric m;
      try {
        n.value = std::stod(detail(f, "value"));
      } catch (const std::exception&) {
        n.value = -1;
      }
      if (n.workload.empty() || !node::parseMetric(n.metric, m) || !(n.value >= 0) ||
          !std::isfinite(n.value)) {
        out.notes.push_back(rule + ": the finding has no workload, metric or value to accept");
        continue;
      }
      n.at = utcNow();
      normals.push_back(std::move(n));
    } else if (rule == "unexpected-creator" || rule == "unexpected-image-source" ||
               rule == "unexpected-user-agent") {
      baseline.push_back(f);
    } else if (!rule.empty()) {
      out.notes.push_back(rule +
                          ": nothing to accept from a finding; tune it in the configuration or the "
                          "policies (docs/detections.md#" +
                          rule + ")");
    } else {
      out.notes.push_back("an object without a rule is skipped");
    }
  }
  if (allow.empty() && normals.empty() && baseline.empty()) {
    out.refused = true;
    out.error = "nothing to accept";
    return out;
  }

  if (!allow.empty() || !normals.empty()) {
    const std::string path = nodeAcceptedPath(options.stateDir);
    files::ExclusiveLock lock(path + ".lock");
    if (!options.dryRun && !lock.locked()) {
      out.error = "cannot lock " + lock.error();
      return out;
    }
    NodeAccepted accepted;
    if (!loadNodeAccepted(path, accepted, out.error)) return out;
    bool changed = false;
    for (const auto& entry : allow) {
      if (std::find(accepted.allowedOutsideKubernetes.begin(),
                    accepted.allowedOutsideKubernetes.end(),
                    entry) != accepted.allowedOutsideKubernetes.end()) {
        out.steps.push_back(entry + " is allowed outside Kubernetes already");
        continue;
      }
      accepted.allowedOutsideKubernetes.push_back(entry);
      out.steps.push_back(would + "allow " + entry + " outside Kubernetes on this node (" + path +
                          ")");
      changed = true;
    }
    for (const auto& n : normals) {
      auto same = std::find_if(accepted.normals.begin(), accepted.normals.end(), [&](auto& e) {
        return e.workload == n.workload && e.metric == n.metric;
      });
      if (same != accepted.normals.end() && same->value >= n.value) {
        out.steps.push_back("the normal " + n.metric + " of " + n.workload + " is at " +
                            std::to_string(same->value) + " already");
        continue;
      }
      out.steps.push_back(would + "raise the normal " + n.metric + " of " + n.workload + " to " +
                          std::to_string(n.value) + " (" + path + ")");
      if (same != accepted.normals.end())
        *same = n;
      else
        accepted.normals.push_back(n);
      changed = true;
    }
    if (changed && !options.dryRun && !saveNodeAccepted(path, accepted, out.error)) {
      out.steps.clear();
      return out;
    }
    if (changed && !options.dryRun)
      out.notes.push_back("a running node role takes this in within seconds");
  }

  if (!baseline.empty()) {
    audit::StatePaths paths = audit::StatePaths::under(options.stateDir);
    if (!options.baselineFile.empty()) paths.baseline = options.baselineFile;
    files::ExclusiveLock lock(paths.baselineLock());
    if (!lock.locked()) {
      out.error = "cannot lock " + lock.error();
      return out;
    }
    audit::BaselineOptions bo;
    bo.learningFromFile = true;
    audit::Baseline b(bo);
    std::string error;
    if (!b.load(paths.baseline, &error)) {
      out.error = error;
      return out;
    }
    for (const json& f : baseline) {
      if (!b.acceptFinding(f, &error)) {
        out.error = error;
        return out;
      }
      out.steps.push_back(would + "accept " + str(f, "rule") + " of " + str(f, "namespace") +
                          " into the baseline (" + paths.baseline + ")");
    }
    if (!options.dryRun && !b.save(paths.baseline, &error)) {
      out.error = error;
      return out;
    }
    if (!options.dryRun)
      out.notes.push_back("a running audit role adopts it at its next state save");
  }
  out.ok = true;
  return out;
}

}  // namespace kc::respond
