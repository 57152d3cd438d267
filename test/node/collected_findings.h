#pragma once
// The findings a node service hands to its outputs (NodeServiceOptions::onFinding), collected
// across its threads for a test to look at.

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controller/detect/finding.h"

namespace kc::testing {

struct CollectedFindings {
  std::mutex mu;
  std::vector<audit::Finding> findings;

  // For NodeServiceOptions::onFinding; the collection must outlive the service.
  std::function<void(const audit::Finding&)> sink() {
    return [this](const audit::Finding& f) {
      std::lock_guard lock(mu);
      findings.push_back(f);
    };
  }
  std::vector<audit::Finding> snapshot() {
    std::lock_guard lock(mu);
    return findings;
  }
  // The findings about container `id` (of `rule`, unless empty), waiting up to `timeout` until
  // there are `atLeast`; a zero timeout looks once.
  std::vector<audit::Finding> about(const std::string& id, std::size_t atLeast,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(10),
                                    const std::string& rule = "") {
    const auto until = std::chrono::steady_clock::now() + timeout;
    std::vector<audit::Finding> out;
    do {
      out.clear();
      for (const auto& f : snapshot())
        if (f.containerID == id && (rule.empty() || f.rule == rule)) out.push_back(f);
      if (out.size() >= atLeast) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < until);
    return out;
  }
};

}  // namespace kc::testing
