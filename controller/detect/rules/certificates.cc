// csr-created, csr-approved: client certificates minted through the API server's
// CertificateSigningRequests. A certificate signed by the cluster's client signer is a
// credential of its own: it outlives the removal of whatever access made it, it is not a token
// anyone lists, and its subject (CN the user, O the groups) is whatever the request asked for,
// system:masters included. The request (a PEM CSR in spec.request) is read with OpenSSL for the
// subject it asks for.
#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "common/utf8.h"
#include "controller/detect/rules/units.h"

namespace kc::audit::detect {
namespace {

constexpr std::string_view kCreatedRule = "csr-created";
constexpr std::string_view kApprovedRule = "csr-approved";
constexpr size_t kMaxRequestBytes = 64 * 1024;  // a CSR is a few hundred bytes

constexpr std::string_view kClientSigner = "kubernetes.io/kube-apiserver-client";
constexpr std::string_view kKubeletClientSigner = "kubernetes.io/kube-apiserver-client-kubelet";

// What a CSR asks for: the subject's common name and organizations (the user and groups of a
// client certificate). `read` is false when the request could not be decoded.
struct Subject {
  bool read = false;
  std::string commonName;
  std::vector<std::string> organizations;
};

// A PKCS#10 request as OpenSSL's X509_REQ reads it (the same ASN.1 structure, so the same
// requests are accepted), except that the public key stays undecoded: OpenSSL 3 decodes it
// through its provider decoders, about 150 µs a request, and only the subject is read here.
struct RequestKey {
  X509_ALGOR* algorithm;
  ASN1_BIT_STRING* key;
};
struct RequestInfo {
  ASN1_INTEGER* version;
  X509_NAME* subject;
  RequestKey* key;
  STACK_OF(X509_ATTRIBUTE) * attributes;
};
struct Request {
  RequestInfo* info;
  X509_ALGOR* signatureAlgorithm;
  ASN1_BIT_STRING* signature;
};

// clang-format off
ASN1_SEQUENCE(RequestKey) = {
  ASN1_SIMPLE(RequestKey, algorithm, X509_ALGOR),
  ASN1_SIMPLE(RequestKey, key, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(RequestKey)

ASN1_SEQUENCE(RequestInfo) = {
  ASN1_SIMPLE(RequestInfo, version, ASN1_INTEGER),
  ASN1_SIMPLE(RequestInfo, subject, X509_NAME),
  ASN1_SIMPLE(RequestInfo, key, RequestKey),
  // Optional as in OpenSSL's X509_REQ_INFO ("gets round invalid encodings").
  ASN1_IMP_SET_OF_OPT(RequestInfo, attributes, X509_ATTRIBUTE, 0)
} static_ASN1_SEQUENCE_END(RequestInfo)

ASN1_SEQUENCE(Request) = {
  ASN1_SIMPLE(Request, info, RequestInfo),
  ASN1_SIMPLE(Request, signatureAlgorithm, X509_ALGOR),
  ASN1_SIMPLE(Request, signature, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(Request)

void* d2iRequest(void** out, const unsigned char** in, long len) {
  return ASN1_item_d2i(reinterpret_cast<ASN1_VALUE**>(out), in, len, ASN1_ITEM_rptr(Request));
}
// clang-format on
void freeRequest(Request* r) {
  ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(r), ASN1_ITEM_rptr(Request));
}

Subject subjectOf(std::string_view base64Pem) {
  Subject out;
  if (base64Pem.empty() || base64Pem.size() > kMaxRequestBytes) return out;
  // spec.request is the PEM, base64-encoded once more by the JSON encoding of []byte.
  std::string pem(base64Pem.size() / 4 * 3 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(pem.data()),
                                reinterpret_cast<const unsigned char*>(base64Pem.data()),
                                static_cast<int>(base64Pem.size()));
  if (n <= 0) return out;
  pem.resize(static_cast<size_t>(n));
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), n), BIO_free);
  if (!bio) return out;
  // As PEM_read_bio_X509_REQ reads it: the same PEM labels, the same structure.
  std::unique_ptr<Request, decltype(&freeRequest)> req(
      static_cast<Request*>(
          PEM_ASN1_read_bio(d2iRequest, PEM_STRING_X509_REQ, bio.get(), nullptr, nullptr, nullptr)),
      freeRequest);
  if (!req) return out;
  const X509_NAME* name = req->info->subject;
  if (!name) return out;
  out.read = true;
  for (int i = 0; i < X509_NAME_entry_count(name) && i < 64; ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    const int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
    if (nid != NID_commonName && nid != NID_organizationName) continue;
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(entry);
    unsigned char* utf8Text = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8Text, data);
    if (len < 0) continue;
    std::string value(utf8::prefix(
        std::string_view(reinterpret_cast<const char*>(utf8Text), static_cast<size_t>(len)), 253));
    OPENSSL_free(utf8Text);
    if (nid == NID_commonName) {
      out.commonName = std::move(value);
    } else if (out.organizations.size() < kMaxListed) {
      out.organizations.push_back(std::move(value));
    }
  }
  return out;
}

bool hasMasters(const Subject& s) {
  return std::find(s.organizations.begin(), s.organizations.end(), "system:masters") !=
         s.organizations.end();
}

// The identities that mint and approve certificates as the cluster's own machinery: kubelets
// bootstrapping and renewing theirs, the controller manager's approver and signer.
bool nodeIdentity(std::string_view user) {
  return startsWith(user, "system:node:") || startsWith(user, "system:bootstrap:");
}
bool approverIdentity(std::string_view user) {
  return user == "system:kube-controller-manager" ||
         user == "system:serviceaccount:kube-system:certificate-controller";
}

class Certificates final : public RuleUnit {
 public:
  explicit Certificates(const RuleContext& ctx) : ctx_(ctx) {}

  void onEvent(EventClass, const Event& e, Findings& out) override {
    const element obj = e.hasRequestObject ? e.requestObject : policy::nullElement();
    element spec = policy::nullElement();
    if (obj.is_object()) {
      element s;
      if (obj["spec"].get(s) == simdjson::SUCCESS && s.is_object()) spec = s;
    }
    const std::string_view signer = spec.is_object() ? str(spec, "signerName") : "";
    const Subject subject = spec.is_object() ? subjectOf(str(spec, "request")) : Subject{};
    if (e.objectRef.subresource == "approval") return approved(e, obj, signer, subject, out);
    created(e, obj, signer, subject, out);
  }

 private:
  static void describe(Finding& f, std::string_view signer, const Subject& subject) {
    f.kind = "CertificateSigningRequest";
    if (!signer.empty()) f.details["signerName"] = std::string(utf8::prefix(signer, 253));
    if (subject.read) {
      f.details["commonName"] = subject.commonName;
      if (!subject.organizations.empty())
        f.details["organizations"] = joinList(subject.organizations);
    }
  }
  // "for CN=mallory, O=system:masters, signer kubernetes.io/kube-apiserver-client".
  static std::string asked(std::string_view signer, const Subject& subject) {
    std::string s;
    if (subject.read) {
      s = " for CN=" + subject.commonName;
      for (const auto& o : subject.organizations) s += ", O=" + o;
    }
    if (!signer.empty())
      s += std::string(s.empty() ? " for" : ",") + " signer " + std::string(signer);
    return s;
  }

  void created(const Event& e, element obj, std::string_view signer, const Subject& subject,
               Findings& out) {
    const std::string_view user = e.user.username;
    if (ctx_.trusted(kCreatedRule, user) || approverIdentity(user)) return;
    Severity s;
    std::string why;
    if (hasMasters(subject)) {
      s = Severity::kCritical;
      why = ": a client certificate in system:masters is cluster-admin that no RBAC can revoke";
    } else if (!nodeIdentity(user) &&
               (signer == kKubeletClientSigner || startsWith(subject.commonName, "system:node:"))) {
      s = Severity::kHigh;
      why = ": a node's identity asked for by someone who is not that node";
    } else if (nodeIdentity(user)) {
      return;  // kubelets bootstrap and renew their own certificates
    } else if (signer == kClientSigner) {
      s = Severity::kMedium;
      why = ": a client certificate is a credential that outlives the access that made it";
    } else if (!obj.is_object()) {
      s = Severity::kMedium;  // Metadata level: the request was not logged
      why = " (the request was not logged: what it asks for is unknown)";
    } else {
      return;  // serving certificates and other signers
    }
    Finding f = ctx_.finding(e, kCreatedRule);
    f.severity = s;
    describe(f, signer, subject);
    f.summary = f.user + " requested certificate " + f.name + asked(signer, subject) + why;
    out.push_back(std::move(f));
  }

  void approved(const Event& e, element obj, std::string_view signer, const Subject& subject,
                Findings& out) {
    const std::string_view user = e.user.username;
    if (approverIdentity(user) || ctx_.trusted(kApprovedRule, user)) return;
    // Only an approval: a denial or a failure condition written through the subresource is not.
    bool approval = !obj.is_object();  // Metadata level: the condition is not known
    element status, conditions;
    if (obj.is_object() && obj["status"].get(status) == simdjson::SUCCESS && status.is_object() &&
        status["conditions"].get(conditions) == simdjson::SUCCESS && conditions.is_array()) {
      for (element c : conditions.get_array()) {
        if (str(c, "type") == "Approved" && str(c, "status") != "False") approval = true;
      }
    }
    if (!approval) return;
    Severity s = Severity::kMedium;
    std::string why;
    if (hasMasters(subject)) {
      s = Severity::kCritical;
      why = ": a client certificate in system:masters is cluster-admin that no RBAC can revoke";
    } else if (signer == kKubeletClientSigner || startsWith(subject.commonName, "system:node:")) {
      s = Severity::kHigh;
      why = ": a node's identity, approved by hand";
    } else if (signer == kClientSigner) {
      s = Severity::kHigh;
      why = ": a client certificate, a credential that outlives the access that made it";
    } else if (!obj.is_object()) {
      why = " (the request was not logged: what it asks for is unknown)";
    }
    Finding f = ctx_.finding(e, kApprovedRule);
    f.severity = s;
    describe(f, signer, subject);
    f.summary = f.user + " approved certificate " + f.name + asked(signer, subject) + why;
    out.push_back(std::move(f));
  }

  const RuleContext& ctx_;
};

}  // namespace

std::unique_ptr<RuleUnit> makeCertificates(const RuleContext& ctx) {
  return std::make_unique<Certificates>(ctx);
}

}  // namespace kc::audit::detect
