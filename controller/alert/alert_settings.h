#pragma once
// Where every door's findings are sent as alerts (`alertmanager.*`), read through
// common/settings.h.

#include <string>
#include <vector>

#include "common/settings.h"

namespace kc::audit {

struct AlertmanagerConfig {
  std::vector<std::string> urls;
  std::string caFile;
  std::string bearerTokenFile;
  double resendIntervalSeconds = 60;
  double alertLifetimeSeconds = 3600;
};

settings::Section<AlertmanagerConfig> alertmanagerSection();

}  // namespace kc::audit
