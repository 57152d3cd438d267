#include "respond/respond_settings.h"

#include <set>

namespace kc::respond {

settings::Section<RespondConfig> respondSection() {
  using S = RespondConfig;
  using settings::field;
  return {"node.respond",
          {
              field("evidenceMinSeverity", &S::evidenceMinSeverity),
              field("evidencePerMinute", &S::evidencePerMinute),
              field("isolate", &S::isolate),
              field("logTailLines", &S::logTailLines),
              field("includeEnv", &S::includeEnv),
              field("kubeletLogRoot", &S::kubeletLogRoot),
              field("maxBundles", &S::maxBundles),
              field("maxEvidenceBytes", &S::maxEvidenceBytes),
              field("maxBundleBytes", &S::maxBundleBytes),
          },
          [](const S& r, settings::Errors& errors) {
            static const std::set<std::string> kSeverities = {"off", "low", "medium", "high",
                                                              "critical"};
            if (!kSeverities.count(r.evidenceMinSeverity))
              errors.push_back({"node.respond.evidenceMinSeverity", 0,
                                "must be one of off, low, medium, high, critical"});
            static const std::set<std::string> kModes = {"off", "manual", "high", "critical"};
            if (!kModes.count(r.isolate))
              errors.push_back(
                  {"node.respond.isolate", 0, "must be one of off, manual, high, critical"});
            if (r.evidencePerMinute < 0 || r.evidencePerMinute > 600)
              errors.push_back({"node.respond.evidencePerMinute", 0, "must be between 0 and 600"});
            if (r.logTailLines < 1 || r.logTailLines > 100000)
              errors.push_back({"node.respond.logTailLines", 0, "must be between 1 and 100000"});
            if (r.maxBundles < 1) errors.push_back({"node.respond.maxBundles", 0, "must be >= 1"});
            if (r.maxBundleBytes < 4096)
              errors.push_back({"node.respond.maxBundleBytes", 0, "must be >= 4096"});
            if (r.maxEvidenceBytes < r.maxBundleBytes)
              errors.push_back(
                  {"node.respond.maxEvidenceBytes", 0, "must be >= node.respond.maxBundleBytes"});
          }};
}

}  // namespace kc::respond
