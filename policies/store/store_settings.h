#pragma once
// The policy store's settings (`policies.*`), read through common/settings.h.

#include <string>

#include "common/settings.h"

namespace kc::policy {

struct PoliciesConfig {
  std::string dir;  // empty: the built-in defaults
  double reloadIntervalSeconds = 2;
  // A change is loaded once the files have read the same for this long.
  double settleSeconds = 1;
  // Let a reload replace a set with policies by an empty one.
  bool allowEmpty = false;
};

settings::Section<PoliciesConfig> policiesSection();

}  // namespace kc::policy
