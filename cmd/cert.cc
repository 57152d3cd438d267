// `kube-customs cert generate`: a CA and a serving certificate for a webhook Service.

#include <iostream>

#include "cmd/commands.h"
#include "cmd/flags.h"
#include "cmd/output.h"
#include "common/certgen.h"

namespace kc::cmd {
namespace {

constexpr const char* kUsage =
    "usage: kube-customs cert generate --service NAME --namespace NS [--out-dir DIR]\n"
    "                                  [--dns NAME]... [--ip ADDR]... [--days N] [--client]\n"
    "Creates a CA and a serving certificate for NAME.NS.svc, writes ca.crt, tls.crt and\n"
    "tls.key into DIR (default: current directory) and prints the base64 CA bundle for the\n"
    "webhook configuration's caBundle. With --client the certificate is a client certificate\n"
    "(CN=NAME, clientAuth), e.g. for the API server's audit webhook backend: then trust\n"
    "DIR/ca.crt with serve --audit-client-ca.\n";

}  // namespace

int runCert(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "generate") {
    std::cerr << kUsage;
    return 2;
  }
  Flags flags({"service", "namespace", "out-dir", "dns", "ip", "days"}, {"help", "client"});
  std::string error;
  if (!flags.parse({args.begin() + 1, args.end()}, error)) {
    std::cerr << "kube-customs cert: " << error << "\n" << kUsage;
    return 2;
  }
  if (flags.has("help")) {
    std::cout << kUsage;
    return 0;
  }
  tls::CertRequest req;
  if (!flags.get("service") || !flags.get("namespace")) {
    std::cerr << "kube-customs cert: --service and --namespace are required\n" << kUsage;
    return 2;
  }
  req.service = *flags.get("service");
  req.namespace_ = *flags.get("namespace");
  req.extraDnsNames = flags.getAll("dns");
  req.extraIps = flags.getAll("ip");
  req.clientAuth = flags.has("client");
  if (auto days = flags.get("days")) {
    try {
      req.validDays = std::stoi(*days);
    } catch (...) {
      req.validDays = 0;
    }
    if (req.validDays <= 0 || req.validDays > 3650) {
      std::cerr << "kube-customs cert: --days must be between 1 and 3650\n";
      return 2;
    }
  }
  tls::GeneratedCerts certs;
  if (!tls::generateCerts(req, certs, error)) {
    std::cerr << "kube-customs cert: " << error << "\n";
    return 1;
  }
  const std::string dir = flags.get("out-dir").value_or(".");
  if (!tls::writeCerts(certs, dir, error)) {
    std::cerr << "kube-customs cert: " << error << "\n";
    return 1;
  }
  std::cerr << "wrote " << dir << "/ca.crt, " << dir << "/tls.crt, " << dir << "/tls.key for "
            << req.service << "." << req.namespace_ << ".svc\ncaBundle:\n";
  std::cout << tls::base64(certs.caCertPem) << "\n";
  // The files are written, but the caBundle the caller pipes into its configuration is not.
  return stdoutWritten("cert") ? 0 : 1;
}

}  // namespace kc::cmd
