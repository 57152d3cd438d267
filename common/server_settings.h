#pragma once
// The settings every door that listens shares: the HTTPS server (`server.*`), its certificate
// (`tls.*`) and the metrics listener (`metrics.*`). Read through common/settings.h.

#include <cstddef>
#include <string>

#include "common/settings.h"

namespace kc {

struct ServerConfig {
  std::string listen = ":8443";
  int threads = 0;  // 0: one per CPU the process may use (common/cpus.h)
  // An AdmissionReview holds the object as the API server's JSON encoder writes it (which
  // escapes <, > and & in six bytes each), twice for an UPDATE: a pod of 1.5 MiB, etcd's limit,
  // can make 18 MiB. A review over the cap gets 413, and the API server's failurePolicy
  // decides (Ignore admits it): the cap must not be what a padded pod can pass.
  std::size_t maxBodyBytes = 24 * 1024 * 1024;
  std::size_t maxHeaderBytes = 16 * 1024;
  double headerTimeoutSeconds = 10;
  double idleTimeoutSeconds = 90;
  std::size_t maxConnections = 4096;
  // Request bodies held at once by all connections together: a body takes its declared length
  // when its headers arrive, and a request over the budget gets 503 with Retry-After before its
  // body is read. Without it, 4096 connections could each announce a 24 MiB body.
  std::size_t maxInFlightBodyBytes = 64 * 1024 * 1024;
  double shutdownGraceSeconds = 25;
};

struct TlsConfig {
  std::string certFile;
  std::string keyFile;
  std::string clientCAFile;
  double reloadIntervalSeconds = 2;
};

struct MetricsConfig {
  std::string listen = ":9090";
};

settings::Section<ServerConfig> serverSection();
settings::Section<TlsConfig> tlsSection();
settings::Section<MetricsConfig> metricsSection();

}  // namespace kc
