#pragma once
// Creates a private CA and a serving certificate signed by it, for a webhook Service
// (`NAME.NAMESPACE.svc`) and for local runs (localhost, 127.0.0.1, ::1). Keys are ECDSA P-256.
// Thread-safe: no shared state.

#include <string>
#include <vector>

namespace kc::tls {

struct GeneratedCerts {
  std::string caCertPem;
  std::string caKeyPem;
  std::string certPem;
  std::string keyPem;
};

struct CertRequest {
  std::string service = "kube-customs";
  std::string namespace_ = "kube-customs";
  std::vector<std::string> extraDnsNames;  // added to the service names
  std::vector<std::string> extraIps;
  int validDays = 365;
  // A client certificate (extended key usage clientAuth, subject CN = service) instead of a
  // serving one: e.g. for the API server's audit webhook backend.
  bool clientAuth = false;
};

// The DNS names a webhook Service is reached by: NAME, NAME.NS, NAME.NS.svc,
// NAME.NS.svc.cluster.local.
std::vector<std::string> serviceDnsNames(const std::string& service, const std::string& ns);

// Returns false and sets `error` on failure.
bool generateCerts(const CertRequest& req, GeneratedCerts& out, std::string& error);

// Writes ca.crt, tls.crt and tls.key (0600) into `dir`, creating it. False and `error` on failure.
bool writeCerts(const GeneratedCerts& certs, const std::string& dir, std::string& error);

std::string base64(const std::string& data);

}  // namespace kc::tls
