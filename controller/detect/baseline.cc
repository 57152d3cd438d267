#include "controller/detect/baseline.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/files.h"
#include "common/utf8.h"
#include "policies/image_ref.h"

namespace kc::audit {
namespace {

constexpr int kFormatVersion = 1;
constexpr size_t kMaxValueBytes = 256;

std::string_view stateName(Baseline::State s) {
  switch (s) {
    case Baseline::State::kLearned:
      return "learned";
    case Baseline::State::kFlagged:
      return "flagged";
    case Baseline::State::kAccepted:
      return "accepted";
  }
  return "learned";
}

bool parseState(std::string_view s, Baseline::State& out) {
  if (s == "learned") {
    out = Baseline::State::kLearned;
  } else if (s == "flagged") {
    out = Baseline::State::kFlagged;
  } else if (s == "accepted") {
    out = Baseline::State::kAccepted;
  } else {
    return false;
  }
  return true;
}

// Cut on a character boundary: a cut inside one would make the saved baseline invalid UTF-8.
std::string bounded(std::string_view s) { return std::string(utf8::prefix(s, kMaxValueBytes)); }

std::string entryKey(std::string_view ns, std::string_view kind) {
  std::string k(ns);
  k.push_back('/');
  k.append(kind);
  return k;
}

void setError(std::string* error, std::string text) {
  if (error) *error = std::move(text);
}

}  // namespace

std::string_view dimensionName(BaselineDimension d) {
  switch (d) {
    case BaselineDimension::kCreator:
      return "creator";
    case BaselineDimension::kImageSource:
      return "image-source";
    case BaselineDimension::kUserAgent:
      return "user-agent";
  }
  return "creator";
}

std::string_view dimensionRule(BaselineDimension d) {
  switch (d) {
    case BaselineDimension::kCreator:
      return "unexpected-creator";
    case BaselineDimension::kImageSource:
      return "unexpected-image-source";
    case BaselineDimension::kUserAgent:
      return "unexpected-user-agent";
  }
  return "unexpected-creator";
}

bool parseDimension(std::string_view text, BaselineDimension& out) {
  if (text == "unexpected-namespace-creator") {
    out = BaselineDimension::kCreator;
    return true;
  }
  for (auto d : {BaselineDimension::kCreator, BaselineDimension::kImageSource,
                 BaselineDimension::kUserAgent}) {
    if (text == dimensionName(d) || text == dimensionRule(d)) {
      out = d;
      return true;
    }
  }
  return false;
}

std::string normalizeUserAgent(std::string_view ua) {
  size_t start = ua.find_first_not_of(" \t");
  if (start == std::string_view::npos) return "unknown";
  ua = ua.substr(start);
  // The product token ends at '/', ' ' or '(' (RFC 9110 product = token ["/" version]).
  size_t end = ua.find_first_of("/ (\t");
  std::string_view product = ua.substr(0, end);
  if (product.empty()) return "unknown";
  // Controllers identify as "<binary>/<version> (...) kubernetes/<sha>/<controller>"; keep the
  // binary name: "kube-controller-manager".
  std::string out;
  for (char c : product.substr(0, 64)) {
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u >= 0x7f ? '?' : c);
  }
  return out;
}

std::string imageSource(std::string_view image) {
  policy::ImageRef ref;
  if (!policy::parseImageRef(image, ref)) return "invalid:" + std::string(utf8::prefix(image, 128));
  return ref.name();
}

Baseline::Baseline(BaselineOptions options) : options_(options) {}

bool Baseline::learning(int64_t nowMicros) const {
  std::lock_guard<std::mutex> lock(mu_);
  return startMicros_ == 0 || nowMicros < startMicros_ + options_.learningMicros;
}

int64_t Baseline::learningStartMicros() const {
  std::lock_guard<std::mutex> lock(mu_);
  return startMicros_;
}

std::vector<Novelty> Baseline::observe(const CreationObservation& obs) {
  std::vector<Novelty> out;
  std::lock_guard<std::mutex> lock(mu_);
  if (startMicros_ == 0 && obs.timeMicros > 0) startMicros_ = obs.timeMicros;
  const bool learning =
      startMicros_ == 0 || obs.timeMicros < startMicros_ + options_.learningMicros;

  const std::string key = entryKey(obs.namespace_, obs.kind);
  auto it = entries_.find(key);
  const bool newKey = it == entries_.end();
  Entry scratch;
  Entry* entry = nullptr;
  if (!newKey) {
    entry = &it->second;
  } else if (entries_.size() < options_.maxKeys) {
    entry = &entries_[key];
  } else {
    entry = &scratch;  // full: judged, not remembered
    ++saturated_;
  }

  auto consider = [&](BaselineDimension d, const std::string& value) {
    if (value.empty()) return;
    auto& values = entry->values[static_cast<int>(d)];
    if (values.count(value)) return;
    if (values.size() < options_.maxValuesPerDimension) {
      values[value] = Value{learning ? State::kLearned : State::kFlagged, obs.timeMicros};
    } else {
      ++saturated_;
    }
    if (!learning) out.push_back(Novelty{d, value, newKey});
  };
  consider(BaselineDimension::kCreator, bounded(obs.creator));
  if (obs.creatorOnly) return out;
  for (const auto& src : obs.imageSources) consider(BaselineDimension::kImageSource, bounded(src));
  consider(BaselineDimension::kUserAgent, normalizeUserAgent(obs.userAgent));
  return out;
}

bool Baseline::accept(std::string_view ns, std::string_view kind, BaselineDimension dimension,
                      std::string_view value, std::string* error) {
  if (kind.empty() || value.empty()) {
    setError(error, "kind and value are required");
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key = entryKey(ns, kind);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= options_.maxKeys) {
      setError(error, "baseline is full (maxKeys)");
      return false;
    }
    it = entries_.emplace(key, Entry{}).first;
  }
  auto& values = it->second.values[static_cast<int>(dimension)];
  std::string v = bounded(value);
  auto vit = values.find(v);
  if (vit == values.end()) {
    if (values.size() >= options_.maxValuesPerDimension) {
      setError(error, "baseline key is full (maxValuesPerDimension)");
      return false;
    }
    values[v] = Value{State::kAccepted, 0};
  } else {
    vit->second.state = State::kAccepted;
  }
  return true;
}

size_t Baseline::adoptAccepted(const Baseline& other) {
  if (&other == this) return 0;
  std::scoped_lock lock(mu_, other.mu_);
  size_t adopted = 0;
  for (const auto& [key, theirs] : other.entries_) {
    for (int d = 0; d < 3; ++d) {
      for (const auto& [value, meta] : theirs.values[d]) {
        if (meta.state != State::kAccepted) continue;
        auto it = entries_.find(key);
        if (it == entries_.end()) {
          if (entries_.size() >= options_.maxKeys) continue;
          it = entries_.emplace(key, Entry{}).first;
        }
        auto& mine = it->second.values[d];
        auto vit = mine.find(value);
        if (vit == mine.end()) {
          if (mine.size() >= options_.maxValuesPerDimension) continue;
          mine[value] = meta;
          ++adopted;
        } else if (vit->second.state != State::kAccepted) {
          vit->second.state = State::kAccepted;
          ++adopted;
        }
      }
    }
  }
  return adopted;
}

bool Baseline::acceptFinding(const nlohmann::json& f, std::string* error) {
  if (!f.is_object()) {
    setError(error, "a finding must be a JSON object");
    return false;
  }
  auto str = [&](const nlohmann::json& o, const char* name) -> std::string {
    auto it = o.find(name);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  BaselineDimension d;
  const std::string rule = str(f, "rule");
  if (!parseDimension(rule, d)) {
    setError(error, "rule \"" + rule +
                        "\" is not a baseline rule (unexpected-creator, "
                        "unexpected-image-source, unexpected-user-agent, "
                        "unexpected-namespace-creator)");
    return false;
  }
  auto details = f.find("details");
  if (details == f.end() || !details->is_object()) {
    setError(error, "finding has no details.value");
    return false;
  }
  return accept(str(f, "namespace"), str(f, "kind"), d, str(*details, "value"), error);
}

nlohmann::json Baseline::showLocked() const {
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& [key, entry] : entries_) {
    size_t slash = key.find('/');
    nlohmann::json k = {{"namespace", key.substr(0, slash)}, {"kind", key.substr(slash + 1)}};
    for (auto d : {BaselineDimension::kCreator, BaselineDimension::kImageSource,
                   BaselineDimension::kUserAgent}) {
      nlohmann::json values = nlohmann::json::array();
      for (const auto& [v, meta] : entry.values[static_cast<int>(d)]) {
        values.push_back({{"value", v},
                          {"state", stateName(meta.state)},
                          {"firstSeenMicros", meta.firstSeenMicros}});
      }
      k[std::string(dimensionName(d))] = std::move(values);
    }
    keys.push_back(std::move(k));
  }
  return {{"version", kFormatVersion},
          {"learningStartMicros", startMicros_},
          {"learningMicros", options_.learningMicros},
          {"keys", std::move(keys)}};
}

nlohmann::json Baseline::show() const {
  std::lock_guard<std::mutex> lock(mu_);
  return showLocked();
}

bool Baseline::fromJsonLocked(const nlohmann::json& j, std::string* error) {
  if (!j.is_object() || !j.contains("version") || j["version"] != kFormatVersion) {
    setError(error, "not a kube-customs baseline (version 1 expected)");
    return false;
  }
  std::map<std::string, Entry> entries;
  int64_t start = 0;
  if (auto it = j.find("learningStartMicros"); it != j.end()) {
    if (!it->is_number_integer()) {
      setError(error, "learningStartMicros: integer expected");
      return false;
    }
    start = it->get<int64_t>();
  }
  auto keys = j.find("keys");
  if (keys == j.end() || !keys->is_array()) {
    setError(error, "keys: array expected");
    return false;
  }
  size_t index = 0;
  for (const auto& k : *keys) {
    const std::string where = "keys[" + std::to_string(index++) + "]";
    if (!k.is_object() || !k.contains("namespace") || !k["namespace"].is_string() ||
        !k.contains("kind") || !k["kind"].is_string()) {
      setError(error, where + ": namespace and kind strings expected");
      return false;
    }
    if (entries.size() >= options_.maxKeys) break;
    Entry& e = entries[entryKey(k["namespace"].get<std::string>(), k["kind"].get<std::string>())];
    for (auto d : {BaselineDimension::kCreator, BaselineDimension::kImageSource,
                   BaselineDimension::kUserAgent}) {
      auto values = k.find(std::string(dimensionName(d)));
      if (values == k.end()) continue;
      if (!values->is_array()) {
        setError(error, where + "." + std::string(dimensionName(d)) + ": array expected");
        return false;
      }
      for (const auto& v : *values) {
        State st = State::kLearned;
        if (!v.is_object() || !v.contains("value") || !v["value"].is_string() ||
            (v.contains("state") &&
             (!v["state"].is_string() || !parseState(v["state"].get<std::string>(), st)))) {
          setError(error, where + "." + std::string(dimensionName(d)) +
                              ": {value, state: learned|flagged|accepted} expected");
          return false;
        }
        auto& map = e.values[static_cast<int>(d)];
        if (map.size() >= options_.maxValuesPerDimension) continue;
        int64_t first = 0;
        if (v.contains("firstSeenMicros") && v["firstSeenMicros"].is_number_integer()) {
          first = v["firstSeenMicros"].get<int64_t>();
        }
        map[bounded(v["value"].get<std::string>())] = Value{st, first};
      }
    }
  }
  if (auto it = j.find("learningMicros"); options_.learningFromFile && it != j.end() &&
                                          it->is_number_integer() && it->get<int64_t>() >= 0) {
    options_.learningMicros = it->get<int64_t>();
  }
  entries_ = std::move(entries);
  startMicros_ = start;
  return true;
}

bool Baseline::fromJson(const nlohmann::json& j, std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  return fromJsonLocked(j, error);
}

bool Baseline::save(const std::string& path, std::string* error) const {
  std::string text;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Values are cut on character boundaries; replace stands guard for any invalid byte left,
    // which would otherwise make dump() throw and the save fail.
    text = showLocked().dump(1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  text.push_back('\n');
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    setError(error, tmp + ": " + std::strerror(errno));
    return false;
  }
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      setError(error, tmp + ": write: " + std::strerror(errno));
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    setError(error, tmp + ": fsync: " + std::strerror(errno));
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    setError(error, path + ": rename: " + std::strerror(errno));
    ::unlink(tmp.c_str());
    return false;
  }
  // Make the rename durable.
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash ? slash : 1);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

bool Baseline::load(const std::string& path, std::string* error) {
  // Bounded by its caps (keys, values per dimension) to far less than 1 GiB.
  std::string text;
  if (!files::readFile(path, text, size_t{1} << 30)) {
    if (errno == ENOENT) {
      std::lock_guard<std::mutex> lock(mu_);
      entries_.clear();
      startMicros_ = 0;
      return true;
    }
    setError(error, files::readError(path));
    return false;
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    setError(error, path + ": invalid JSON");
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!fromJsonLocked(j, error)) {
    if (error) *error = path + ": " + *error;
    return false;
  }
  return true;
}

size_t Baseline::keyCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

uint64_t Baseline::saturated() const {
  std::lock_guard<std::mutex> lock(mu_);
  return saturated_;
}

}  // namespace kc::audit
