#include "respond/auto_responder.h"

#include <algorithm>

#include "common/internal_errors.h"

namespace kc::respond {

namespace {

constexpr std::size_t kMaxRecent = 4096;  // containers remembered for samePerContainer

node::Runtime runtimeOf(const audit::Finding& f) {
  return f.runtime == "containerd" ? node::Runtime::kContainerd : node::Runtime::kDocker;
}

}  // namespace

std::optional<audit::Severity> autoIsolateSeverity(IsolateMode m) {
  switch (m) {
    case IsolateMode::kHigh:
      return audit::Severity::kHigh;
    case IsolateMode::kCritical:
      return audit::Severity::kCritical;
    default:
      return std::nullopt;
  }
}

AutoResponder::AutoResponder(AutoResponderOptions options, prometheus::Registry& registry)
    : options_(std::move(options)),
      isolateMin_(autoIsolateSeverity(options_.respond.isolate)),
      responses_(&prometheus::BuildCounter()
                      .Name("kube_customs_node_responses_total")
                      .Help("Responses of the node door to its findings, by action (evidence, "
                            "isolate) and outcome (ok, refused, failed, rate_limited, dropped)")
                      .Register(registry)),
      isolated_(&prometheus::BuildGauge()
                     .Name("kube_customs_node_isolated_containers")
                     .Help("Containers isolated on this node, as recorded in the state directory")
                     .Register(registry)),
      tokens_(options_.evidencePerMinute),
      refilled_(std::chrono::steady_clock::now()) {
  for (const char* action : {"evidence", "isolate"})
    for (const char* outcome : {"ok", "refused", "failed", "rate_limited", "dropped"})
      responses_->Add({{"action", action}, {"outcome", outcome}});
  std::vector<IsolationRecord> records;
  std::string error;
  Responder r(options_.respond);
  isolated_->Add({}).Set(r.isolations(records, error) ? static_cast<double>(records.size()) : 0);
}

AutoResponder::~AutoResponder() { stop(std::chrono::milliseconds(0)); }

void AutoResponder::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void AutoResponder::stop(std::chrono::milliseconds deadline) {
  {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    deadline_ = std::chrono::steady_clock::now() + deadline;
  }
  cv_.notify_all();
  thread_.join();
}

std::uint64_t AutoResponder::finished() const {
  std::lock_guard lock(mu_);
  return finished_;
}

void AutoResponder::count(std::string_view action, std::string_view outcome) {
  responses_->Add({{"action", std::string(action)}, {"outcome", std::string(outcome)}}).Increment();
}

void AutoResponder::onFinding(audit::Finding& f) {
  std::unique_lock lock(mu_);
  const bool queued = decide(f);
  lock.unlock();
  if (queued) cv_.notify_one();
}

void AutoResponder::onFindings(std::vector<audit::Finding>& findings) {
  bool queued = false;
  {
    std::lock_guard lock(mu_);
    for (auto& f : findings) queued = decide(f) || queued;
  }
  if (queued) cv_.notify_one();
}

bool AutoResponder::decide(audit::Finding& f) {
  if (f.runtime.empty() || f.containerID.empty()) return false;
  const bool wantEvidence = options_.evidenceMin && f.severity >= *options_.evidenceMin;
  const bool wantIsolate = isolateMin_ && f.severity >= *isolateMin_;
  if (!wantEvidence && !wantIsolate) return false;
  const auto now = std::chrono::steady_clock::now();
  if (stopping_ || !thread_.joinable()) return false;
  // Refill the bucket.
  const double minutes = std::chrono::duration<double>(now - refilled_).count() / 60.0;
  tokens_ = std::min(options_.evidencePerMinute, tokens_ + minutes * options_.evidencePerMinute);
  refilled_ = now;

  auto queued = std::find_if(queue_.begin(), queue_.end(),
                             [&](const Job& j) { return j.container.id == f.containerID; });
  Job fresh;
  Job* job = queued != queue_.end() ? &*queued : nullptr;
  if (!job) {
    if (queue_.size() >= options_.queueMax) {
      if (wantEvidence) count("evidence", "dropped");
      if (wantIsolate) count("isolate", "dropped");
      return false;
    }
    fresh.container.runtime = runtimeOf(f);
    if (auto it = f.details.find("runtimeNamespace"); it != f.details.end())
      fresh.container.namespace_ = it->second;
    fresh.container.id = f.containerID;
    fresh.container.name = f.containerName;
    fresh.container.image = f.image;
    job = &fresh;
  }
  if (wantEvidence) {
    if (!job->bundle.empty()) {
      // This container's bundle is queued already: the finding joins it.
    } else if (auto it = recent_.find(f.containerID);
               it != recent_.end() && now - it->second.first < options_.samePerContainer) {
      f.details["evidence"] = it->second.second;  // collected a moment ago
    } else if (tokens_ >= 1) {
      tokens_ -= 1;
      job->bundle = Responder::bundleName(job->container);
      if (recent_.size() >= kMaxRecent) {
        auto oldest = std::min_element(recent_.begin(), recent_.end(), [](auto& a, auto& b) {
          return a.second.first < b.second.first;
        });
        recent_.erase(oldest);
      }
      recent_[f.containerID] = {now, options_.respond.stateDir + "/evidence/" + job->bundle};
    } else {
      count("evidence", "rate_limited");
    }
    if (!job->bundle.empty())
      f.details["evidence"] = options_.respond.stateDir + "/evidence/" + job->bundle;
  }
  if (wantIsolate) {
    if (!job->isolate) {
      job->isolate = true;
      job->reason = {"auto", f.rule, std::string(audit::severityName(f.severity)), f.summary};
    }
    f.details["isolation"] = "requested";
  }
  if (job->bundle.empty() && !job->isolate) return false;
  job->findings.push_back(
      audit::toJson(f).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (job == &fresh) queue_.push_back(std::move(fresh));
  return true;
}

void AutoResponder::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      if (stopping_ && std::chrono::steady_clock::now() >= deadline_) {
        for (const Job& j : queue_) {
          if (!j.bundle.empty()) count("evidence", "dropped");
          if (j.isolate) count("isolate", "dropped");
        }
        queue_.clear();
        return;
      }
      // Isolations first, in the order they came: each takes tens of milliseconds, a bundle
      // ten times that, and a burst of findings must not keep a container running while the
      // bundles of the others are written. The evidence of an isolated container stays queued.
      auto isolating =
          std::find_if(queue_.begin(), queue_.end(), [](const Job& j) { return j.isolate; });
      if (isolating != queue_.end()) {
        job.container = isolating->container;
        job.reason = isolating->reason;
        job.isolate = true;
        isolating->isolate = false;
        if (isolating->bundle.empty()) queue_.erase(isolating);
      } else {
        job = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    internal::guarded(internal::Component::kResponder, job.container.id, [&] { handle(job); });
    std::lock_guard lock(mu_);
    ++finished_;
  }
}

void AutoResponder::handle(Job& job) {
  Responder r(options_.respond);
  // Isolation first: the container stops while its evidence is taken.
  if (job.isolate) {
    const Outcome o = r.isolate(job.container, job.reason, false);
    count("isolate", o.ok ? "ok" : o.refused ? "refused" : "failed");
    report("isolate", job, o);
    std::vector<IsolationRecord> records;
    std::string error;
    if (r.isolations(records, error)) isolated_->Add({}).Set(static_cast<double>(records.size()));
  }
  if (!job.bundle.empty()) {
    std::string findings;
    if (job.findings.size() == 1) {
      findings = job.findings[0];
    } else {
      findings = "[";
      for (std::size_t i = 0; i < job.findings.size(); ++i)
        findings += (i ? "," : "") + job.findings[i];
      findings += "]";
    }
    const Outcome o = r.evidence(job.container, findings, options_.includeEnv, job.bundle);
    count("evidence", o.ok ? "ok" : o.refused ? "refused" : "failed");
    report("evidence", job, o);
    if (!o.ok) {
      // The next finding about this container may try again, rather than name a bundle that
      // was never written.
      std::lock_guard lock(mu_);
      if (auto it = recent_.find(job.container.id);
          it != recent_.end() && it->second.second.ends_with("/" + job.bundle))
        recent_.erase(it);
    }
  }
}

void AutoResponder::report(std::string_view action, const Job& job, const Outcome& o) {
  if (!options_.onResponse) return;
  nlohmann::json j = {{"action", action},
                      {"outcome", o.ok        ? "ok"
                                  : o.refused ? "refused"
                                              : "failed"},
                      {"runtime", node::runtimeName(job.container.runtime)},
                      {"containerID", job.container.id},
                      {"containerName", job.container.name},
                      {"image", job.container.image},
                      {"rule", job.reason.rule}};
  if (job.reason.rule.empty() && !job.findings.empty()) {
    const auto f = nlohmann::json::parse(job.findings[0], nullptr, false);
    if (f.is_object()) j["rule"] = f.value("rule", "");
  }
  if (!job.container.namespace_.empty()) j["runtimeNamespace"] = job.container.namespace_;
  if (!o.steps.empty()) j["steps"] = o.steps;
  if (!o.notes.empty()) j["notes"] = o.notes;
  if (!o.error.empty()) j["error"] = o.error;
  if (!o.path.empty()) j["evidence"] = o.path;
  options_.onResponse(j);
}

}  // namespace kc::respond
