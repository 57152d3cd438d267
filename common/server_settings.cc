#include "common/server_settings.h"

namespace kc {

using settings::field;

settings::Section<ServerConfig> serverSection() {
  using S = ServerConfig;
  return {"server",
          {
              field("listen", &S::listen),
              field("threads", &S::threads),
              field("maxBodyBytes", &S::maxBodyBytes),
              field("maxHeaderBytes", &S::maxHeaderBytes),
              field("headerTimeoutSeconds", &S::headerTimeoutSeconds),
              field("idleTimeoutSeconds", &S::idleTimeoutSeconds),
              field("maxConnections", &S::maxConnections),
              field("maxInFlightBodyBytes", &S::maxInFlightBodyBytes),
              field("shutdownGraceSeconds", &S::shutdownGraceSeconds),
          },
          [](const S& s, settings::Errors& errors) {
            if (s.maxBodyBytes == 0) errors.push_back({"server.maxBodyBytes", 0, "must be > 0"});
            if (s.maxHeaderBytes < 1024)
              errors.push_back({"server.maxHeaderBytes", 0, "must be at least 1024"});
            if (s.headerTimeoutSeconds <= 0)
              errors.push_back({"server.headerTimeoutSeconds", 0, "must be > 0"});
            if (s.idleTimeoutSeconds <= 0)
              errors.push_back({"server.idleTimeoutSeconds", 0, "must be > 0"});
            if (s.maxConnections == 0)
              errors.push_back({"server.maxConnections", 0, "must be > 0"});
            if (s.shutdownGraceSeconds < 0)
              errors.push_back({"server.shutdownGraceSeconds", 0, "must be >= 0"});
            if (s.threads < 0 || s.threads > 256)
              errors.push_back({"server.threads", 0, "must be between 0 and 256"});
          }};
}

settings::Section<TlsConfig> tlsSection() {
  using S = TlsConfig;
  return {"tls",
          {
              field("certFile", &S::certFile),
              field("keyFile", &S::keyFile),
              field("clientCAFile", &S::clientCAFile),
              field("reloadIntervalSeconds", &S::reloadIntervalSeconds),
          },
          [](const S& s, settings::Errors& errors) {
            if (s.certFile.empty() != s.keyFile.empty())
              errors.push_back({"tls", 0, "certFile and keyFile must be set together"});
            if (s.reloadIntervalSeconds <= 0)
              errors.push_back({"tls.reloadIntervalSeconds", 0, "must be > 0"});
          }};
}

settings::Section<MetricsConfig> metricsSection() {
  return {"metrics", {field("listen", &MetricsConfig::listen)}, nullptr};
}

}  // namespace kc
