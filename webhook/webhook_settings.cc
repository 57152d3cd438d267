#include "webhook/webhook_settings.h"

namespace kc::webhook {

settings::Section<WebhookConfig> webhookSection() {
  return {"webhook",
          {settings::field("deadlineAction", &WebhookConfig::deadlineAction)},
          [](const WebhookConfig& s, settings::Errors& errors) {
            if (s.deadlineAction != "deny" && s.deadlineAction != "allow")
              errors.push_back({"webhook.deadlineAction", 0, "expected deny or allow"});
          }};
}

}  // namespace kc::webhook
