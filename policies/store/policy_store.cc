#include "policies/store/policy_store.h"

#include <algorithm>
#include <filesystem>

#include "common/files.h"
#include "common/log.h"

namespace kc::policy {

bool readPolicyDir(const std::string& dir, std::vector<policy::PolicyFile>& out,
                   std::string& error) {
  namespace fs = std::filesystem;
  out.clear();
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    error = "cannot read policy directory " + dir + ": " + ec.message();
    return false;
  }
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    const std::string ext = entry.path().extension().string();
    if (ext != ".yaml" && ext != ".yml") continue;
    if (!fs::is_regular_file(entry.path(), ec)) continue;  // follows symlinks
    policy::PolicyFile file;
    file.name = entry.path().string();
    if (!files::readFile(file.name, file.text)) {
      error = "cannot read policy file " + files::readError(file.name);
      return false;
    }
    out.push_back(std::move(file));
  }
  std::sort(out.begin(), out.end(), [](const policy::PolicyFile& a, const policy::PolicyFile& b) {
    return a.name < b.name;
  });
  return true;
}

PolicyStore::PolicyStore(std::string dir, Hooks hooks)
    : PolicyStore(std::move(dir), std::move(hooks), Options{}) {}

PolicyStore::PolicyStore(std::string dir, Hooks hooks, Options options)
    : dir_(std::move(dir)),
      hooks_(std::move(hooks)),
      options_(options),
      current_(policy::PolicySet::empty()) {}

bool PolicyStore::settled(const std::string& fp, bool now, Clock::time_point at) {
  // The first load, a forced one, or no settling asked for: at once.
  if (!attempted_ || now || options_.settle.count() == 0) return true;
  if (fp != pendingFingerprint_) {
    pendingFingerprint_ = fp;
    pendingSince_ = at;
    return false;
  }
  return at - pendingSince_ >= options_.settle;
}

std::shared_ptr<const policy::PolicySet> PolicyStore::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

std::vector<policy::LoadMessage> PolicyStore::lastErrors() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lastErrors_;
}

bool PolicyStore::reload(bool now, Clock::time_point at) {
  std::vector<policy::PolicyFile> files;
  std::string error;
  if (dir_.empty()) {
    files = embeddedDefaultPolicies();
  } else if (!readPolicyDir(dir_, files, error)) {
    // An unreadable directory is a failed load, not an empty set.
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string fp = "<error>" + error;
    if (attempted_ && fp == lastFingerprint_) return false;
    attempted_ = true;
    lastFingerprint_ = fp;
    lastErrors_ = {policy::LoadMessage{dir_, 0, 0, "", error}};
    log::error("policy load failed; keeping the previous policies",
               {{log::field::kEventType, log::event::kPolicyLoadFailed},
                {log::field::kPath, dir_},
                {log::field::kError, error}});
    if (hooks_.onLoad) hooks_.onLoad(false, current_->policies().size());
    return false;
  }
  std::string fp;
  for (const auto& f : files) {
    fp += f.name;
    fp.push_back('\0');
    fp += f.text;
    fp.push_back('\0');
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (attempted_ && fp == lastFingerprint_) {
      pendingFingerprint_.clear();  // changed and changed back: nothing pending
      return false;
    }
    if (!settled(fp, now, at)) return false;
    attempted_ = true;
    lastFingerprint_ = fp;
    pendingFingerprint_.clear();
  }
  policy::LoadResult result = policy::loadPolicies(files);
  if (result.ok() && result.policies->policies().empty() && !options_.allowEmpty) {
    // Files moved away or renamed to another extension must not open the door: an empty set
    // never replaces one with policies unless the operator said so.
    const std::size_t count = current()->policies().size();
    if (count > 0) {
      const std::string error = "the policy directory holds no policies now; keeping the " +
                                std::to_string(count) +
                                " in force (set policies.allowEmpty: true to run with none)";
      {
        std::lock_guard<std::mutex> lock(mutex_);
        lastErrors_ = {policy::LoadMessage{dir_, 0, 0, "", error}};
      }
      log::error("policy load refused; keeping the previous policies",
                 {{log::field::kEventType, log::event::kPolicyLoadFailed},
                  {log::field::kPath, dir_},
                  {log::field::kError, error}});
      if (hooks_.onLoad) hooks_.onLoad(false, count);
      return false;
    }
  }
  for (const auto& w : result.warnings)
    log::warn("policy warning", {{log::field::kEventType, log::event::kPolicyLoad},
                                 {log::field::kError, w.toString()}});
  if (!result.ok()) {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& e : result.errors) errors.push_back(e.toString());
    std::size_t count;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      lastErrors_ = result.errors;
      count = current_->policies().size();
    }
    log::error("policy load failed; keeping the previous policies",
               {{log::field::kEventType, log::event::kPolicyLoadFailed},
                {log::field::kPath, dir_.empty() ? "<built-in>" : dir_},
                {"errors", errors}});
    if (hooks_.onLoad) hooks_.onLoad(false, count);
    return false;
  }
  std::size_t count = result.policies->policies().size();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    current_ = std::move(result.policies);
    lastErrors_.clear();
  }
  everLoaded_.store(true);
  nlohmann::json names = nlohmann::json::array();
  for (const auto& p : current()->policies()) names.push_back(p.name);
  log::write(count == 0 ? log::Level::kWarn : log::Level::kInfo,
             count == 0 ? "no policies loaded: every object is admitted" : "policies loaded",
             {{log::field::kEventType, log::event::kPolicyLoad},
              {log::field::kPath, dir_.empty() ? "<built-in>" : dir_},
              {"policies", names}});
  if (hooks_.onLoad) hooks_.onLoad(true, count);
  return true;
}

}  // namespace kc::policy
