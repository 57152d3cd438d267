// Tests of the certificate rules: csr-created, csr-approved. The CSRs are real PKCS#10 requests
// made here with OpenSSL, base64-encoded in spec.request as the API server logs them.
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>

#include "controller/detect/detections.h"
#include "test/controller/detect/detect_test_util.h"

namespace kc::audit {
namespace {

using namespace detect_test;

// A PEM CSR for CN=`cn` with one O= per group, base64-encoded (the JSON form of []byte).
std::string csrRequest(const std::string& cn, const std::vector<std::string>& groups) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  REQUIRE(key != nullptr);
  X509_REQ* req = X509_REQ_new();
  X509_NAME* name = X509_NAME_new();
  for (const auto& g : groups)
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(g.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_REQ_set_subject_name(req, name);
  X509_REQ_set_pubkey(req, key);
  REQUIRE(X509_REQ_sign(req, key, EVP_sha256()) > 0);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  X509_NAME_free(name);
  X509_REQ_free(req);
  EVP_PKEY_free(key);
  std::string b64(4 * ((pem.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                reinterpret_cast<const unsigned char*>(pem.data()),
                                static_cast<int>(pem.size()));
  b64.resize(static_cast<size_t>(n));
  return b64;
}

json csr(const std::string& name, const std::string& signer, const std::string& request,
         json conditions = nullptr) {
  json o = {{"kind", "CertificateSigningRequest"},
            {"apiVersion", "certificates.k8s.io/v1"},
            {"metadata", {{"name", name}}},
            {"spec",
             {{"request", request},
              {"signerName", signer},
              {"expirationSeconds", 31536000},
              {"usages", {"client auth"}}}}};
  if (!conditions.is_null()) o["status"] = {{"conditions", conditions}};
  return o;
}

// `user` creates CSR `name` (kubectl create -f csr.yaml), logged at Request level.
Ev creation(const std::string& id, const std::string& user, const json& object) {
  Ev e;
  e.auditID = id;
  e.level = "Request";
  e.user = user;
  e.apiGroup = "certificates.k8s.io";
  e.resource = "certificatesigningrequests";
  e.name = object["metadata"]["name"];
  e.uri = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
  e.requestObject = object;
  return e;
}

// `user` approves it (kubectl certificate approve), through the approval subresource.
Ev approval(const std::string& id, const std::string& user, const json& object) {
  Ev e = creation(id, user, object);
  e.verb = "update";
  e.code = 200;
  e.subresource = "approval";
  e.uri = "/apis/certificates.k8s.io/v1/certificatesigningrequests/" + e.name + "/approval";
  return e;
}

const json kApproved =
    json::array({{{"type", "Approved"}, {"status", "True"}, {"reason", "KubectlApprove"}}});

TEST_CASE("AClientCertificateInSystemMastersIsCriticalWhenAskedForAndWhenApproved",
          "[detections][certificates]") {
  Detector d(DetectorOptions{});
  const std::string req = csrRequest("mallory", {"system:masters"});
  auto fs = feed(d, creation("c-1", "mallory@example.com",
                             csr("mallory-admin", "kubernetes.io/kube-apiserver-client", req))
                        .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"csr-created"});
  CHECK(fs[0].severity == Severity::kCritical);
  CHECK(fs[0].technique == "T1649");
  CHECK(fs[0].kind == "CertificateSigningRequest");
  CHECK(fs[0].details.at("commonName") == "mallory");
  CHECK(fs[0].details.at("organizations") == "system:masters");
  CHECK(fs[0].summary ==
        "mallory@example.com requested certificate mallory-admin for CN=mallory, "
        "O=system:masters, signer kubernetes.io/kube-apiserver-client: a client certificate in "
        "system:masters is cluster-admin that no RBAC can revoke");

  fs = feed(d, approval("c-2", "admin@example.com",
                        csr("mallory-admin", "kubernetes.io/kube-apiserver-client", req, kApproved))
                   .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"csr-approved"});
  CHECK(fs[0].severity == Severity::kCritical);
  CHECK(fs[0].user == "admin@example.com");
  CHECK(fs[0].summary.find("admin@example.com approved certificate mallory-admin") == 0);
}

TEST_CASE("ANodesIdentityAskedForByAPersonIsHighAndKubeletsAreLeftAlone",
          "[detections][certificates]") {
  Detector d(DetectorOptions{});
  const std::string node = csrRequest("system:node:worker-1", {"system:nodes"});
  auto fs = feed(d, creation("n-1", "dev@example.com",
                             csr("node-csr-x", "kubernetes.io/kube-apiserver-client-kubelet", node))
                        .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"csr-created"});
  CHECK(fs[0].severity == Severity::kHigh);
  // The kubelet bootstrapping and renewing its own: nothing.
  for (const std::string user : {"system:bootstrap:abcdef", "system:node:worker-1"}) {
    INFO(user);
    CHECK(feed(d, creation("n-" + user, user,
                           csr("node-csr-y", "kubernetes.io/kube-apiserver-client-kubelet", node))
                      .str())
              .empty());
  }
  // The controller manager's approver approving it: nothing; a person: high.
  CHECK(feed(d, approval("n-3", "system:kube-controller-manager",
                         csr("node-csr-y", "kubernetes.io/kube-apiserver-client-kubelet", node,
                             kApproved))
                    .str())
            .empty());
  fs = feed(
      d, approval("n-4", "admin@example.com",
                  csr("node-csr-x", "kubernetes.io/kube-apiserver-client-kubelet", node, kApproved))
             .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"csr-approved"});
  CHECK(fs[0].severity == Severity::kHigh);
}

TEST_CASE("OrdinaryClientCertificatesAreMediumAndDenialsAreNotApprovals",
          "[detections][certificates]") {
  Detector d(DetectorOptions{});
  const std::string dev = csrRequest("dev", {"developers"});
  auto fs = feed(
      d, creation("o-1", "dev@example.com", csr("dev", "kubernetes.io/kube-apiserver-client", dev))
             .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"csr-created"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].details.at("organizations") == "developers");
  // A denial written through the approval subresource.
  CHECK(feed(d, approval("o-2", "admin@example.com",
                         csr("dev", "kubernetes.io/kube-apiserver-client", dev,
                             json::array({{{"type", "Denied"}, {"status", "True"}}})))
                    .str())
            .empty());
  // A serving certificate for a custom signer: not a client credential.
  CHECK(feed(d, creation("o-3", "cert-manager@example.com",
                         csr("web-tls", "example.com/serving", csrRequest("web.shop.svc", {})))
                    .str())
            .empty());
}

TEST_CASE("CertificatesLoggedWithoutBodiesOrWithGarbageAreStillToldByTheirRequestLine",
          "[detections][certificates]") {
  Detector d(DetectorOptions{});
  Ev meta = approval("m-1", "admin@example.com", csr("x", "", ""));
  meta.level = "Metadata";
  meta.requestObject = nullptr;
  auto fs = feed(d, meta.str());
  REQUIRE(rules(fs) == std::vector<std::string>{"csr-approved"});
  CHECK(fs[0].severity == Severity::kMedium);
  CHECK(fs[0].summary.find("the request was not logged") != std::string::npos);
  // A request that is not a CSR: the signer still tells it, the subject is not claimed.
  fs = feed(d, creation("m-2", "dev@example.com",
                        csr("junk", "kubernetes.io/kube-apiserver-client", "bm90IGEgY3Ny"))
                   .str());
  REQUIRE(rules(fs) == std::vector<std::string>{"csr-created"});
  CHECK(fs[0].details.count("commonName") == 0);
  // Trusted identities are left alone.
  DetectorOptions o;
  o.trustedIdentities = {{"csr-created", {"system:serviceaccount:vault:*"}}};
  Detector trusting(o);
  CHECK(feed(trusting,
             creation("m-3", "system:serviceaccount:vault:vault",
                      csr("v", "kubernetes.io/kube-apiserver-client", csrRequest("app", {"apps"})))
                 .str())
            .empty());
}

}  // namespace
}  // namespace kc::audit
