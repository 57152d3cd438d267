#include "policies/store/store_settings.h"

namespace kc::policy {

settings::Section<PoliciesConfig> policiesSection() {
  using S = PoliciesConfig;
  using settings::field;
  return {"policies",
          {
              field("dir", &S::dir),
              field("reloadIntervalSeconds", &S::reloadIntervalSeconds),
              field("settleSeconds", &S::settleSeconds),
              field("allowEmpty", &S::allowEmpty),
          },
          [](const S& s, settings::Errors& errors) {
            if (s.reloadIntervalSeconds <= 0)
              errors.push_back({"policies.reloadIntervalSeconds", 0, "must be > 0"});
            if (s.settleSeconds < 0)
              errors.push_back({"policies.settleSeconds", 0, "must be >= 0"});
          }};
}

}  // namespace kc::policy
