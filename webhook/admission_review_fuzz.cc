// libFuzzer target: any byte string through the AdmissionReview decoder and, when it decodes,
// through the policy engine (the built-in policies, Service rules and session rules) and the
// response encoder. Must never crash, hang or produce invalid JSON. And, for any
// valid JSON, countJsonSeparators (the large-body check, a scan that only knows strings) must
// agree with the separators the parsed document implies.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "policies/engine.h"
#include "policies/loader.h"
#include "policies/store/policy_store.h"
#include "webhook/admission_review.h"

namespace {

// `{` or `[`, a `:` per member and a `,` between elements, for every value in the tree.
std::size_t separatorsOf(simdjson::dom::element e) {
  std::size_t n = 0;
  simdjson::dom::object o;
  simdjson::dom::array a;
  if (e.get_object().get(o) == simdjson::SUCCESS) {
    std::size_t members = 0;
    for (auto field : o) {
      ++members;
      n += separatorsOf(field.value);
    }
    n += 1 + members + (members > 0 ? members - 1 : 0);
  } else if (e.get_array().get(a) == simdjson::SUCCESS) {
    std::size_t items = 0;
    for (auto item : a) {
      ++items;
      n += separatorsOf(item);
    }
    n += 1 + (items > 0 ? items - 1 : 0);
  }
  return n;
}

// The built-in policies, and one with Service type and address rules (the built-in set only
// has an empty address list).
const kc::policy::PolicySet& policies() {
  static const std::shared_ptr<const kc::policy::PolicySet> set = [] {
    std::vector<kc::policy::PolicyFile> files = kc::policy::embeddedDefaultPolicies();
    files.push_back({"services.yaml", R"(apiVersion: policy.kube-customs.io/v1alpha1
kind: DeploymentPolicy
metadata: {name: services}
spec:
  services:
    allowedTypes: [ClusterIP, LoadBalancer]
    allowedExternalIPs: ["10.0.0.0/8", "2001:db8::/32", 192.0.2.7]
  podConnect: {allowedUsernames: ["oncall-*"], allowedGroups: [sre]}
)"});
    const kc::policy::LoadResult r = kc::policy::loadPolicies(files);
    if (!r.ok()) std::abort();
    return r.policies;
  }();
  return *set;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kc::webhook::AdmissionDecoder decoder;
  kc::webhook::AdmissionRequest req;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  {
    static simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(body.data(), body.size()).get(root) == simdjson::SUCCESS &&
        kc::webhook::countJsonSeparators(body, ~std::size_t{0} - 1) != separatorsOf(root))
      std::abort();
  }
  if (decoder.decode(body, req).ok()) {
    const kc::policy::Verdict v = policies().evaluate(kc::webhook::evalInputOf(req));
    if (v.allowed != v.message.empty()) std::abort();
    kc::webhook::AdmissionResponse res;
    res.uid = req.uid;
    res.allowed = false;
    res.code = 403;
    res.message = req.name;
    const std::string out = kc::webhook::encodeResponse(res);
    simdjson::dom::parser check;
    simdjson::dom::element e;
    if (check.parse(out).get(e) != simdjson::SUCCESS) std::abort();
  }
  return 0;
}
