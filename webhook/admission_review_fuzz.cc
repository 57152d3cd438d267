// libFuzzer target: any byte string through the AdmissionReview decoder and, when it decodes,
// through the response encoder. Must never crash, hang or produce invalid JSON.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "webhook/admission_review.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kc::webhook::AdmissionDecoder decoder;
  kc::webhook::AdmissionRequest req;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  if (decoder.decode(body, req).ok()) {
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
