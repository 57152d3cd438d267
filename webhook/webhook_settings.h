#pragma once
// The admission door's settings (`webhook.*`), read through common/settings.h.

#include <string>

#include "common/settings.h"

namespace kc::webhook {

struct WebhookConfig {
  // The answer to a review whose judging reaches the deadline taken from the API server's
  // timeout: "deny" (fail closed) or "allow" (fail open, with a warning). A violation found
  // in time denies either way.
  std::string deadlineAction = "deny";
};

settings::Section<WebhookConfig> webhookSection();

}  // namespace kc::webhook
