#include "controller/alert/alert_settings.h"

namespace kc::audit {

settings::Section<AlertmanagerConfig> alertmanagerSection() {
  using S = AlertmanagerConfig;
  using settings::field;
  return {"alertmanager",
          {
              field("urls", &S::urls),
              field("caFile", &S::caFile),
              field("bearerTokenFile", &S::bearerTokenFile),
              field("resendIntervalSeconds", &S::resendIntervalSeconds),
              field("alertLifetimeSeconds", &S::alertLifetimeSeconds),
          },
          [](const S& s, settings::Errors& errors) {
            if (s.resendIntervalSeconds <= 0 || s.alertLifetimeSeconds <= 0)
              errors.push_back({"alertmanager", 0,
                                "resendIntervalSeconds and alertLifetimeSeconds must be > 0"});
          }};
}

}  // namespace kc::audit
