#pragma once
// The AdmissionReview v1 codec (admission.k8s.io/v1): decodes an API server request into views
// over a simdjson document and encodes the response. Bodies are untrusted: every field is type
// checked and a malformed review yields a DecodeError with a reason from a fixed set.
// Thread-safety: an AdmissionDecoder is used by one thread at a time (keep one per thread);
// decoded views are valid until that decoder's next decode().

#include <simdjson.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "policies/types.h"

namespace kc::webhook {

struct GroupVersionKind {
  std::string_view group, version, kind;
};
struct GroupVersionResource {
  std::string_view group, version, resource;
};

struct UserInfo {
  std::string_view username;
  std::string_view uid;
  std::vector<std::string_view> groups;
};

struct AdmissionRequest {
  std::string_view uid;
  GroupVersionKind kind;
  GroupVersionResource resource;
  std::string_view subResource;
  GroupVersionKind requestKind;
  GroupVersionResource requestResource;
  std::string_view requestSubResource;
  std::string_view name;
  std::string_view namespace_;
  std::string_view operation;
  UserInfo userInfo;
  simdjson::dom::element object = policy::nullElement();     // null when absent
  simdjson::dom::element oldObject = policy::nullElement();  // null when absent
  simdjson::dom::element options = policy::nullElement();    // null when absent
  bool dryRun = false;
};

enum class DecodeError {
  kNone,
  kInvalidJson,
  kTooDeep,
  kNotAdmissionReview,
  kMissingRequest,
  kMissingUid,
  kInvalidField,
  kTooManyValues,
};

// The metric label for an error: "invalid_json", "too_deep", ...
std::string_view reasonOf(DecodeError e);

// The message is the HTTP error body.
using DecodeResult = Status<DecodeError>;

// Counts the JSON separators and openers (`,` `:` `[` `{`) outside strings, stopping once the
// count passes `stopAfter`. Every value of a document but the first follows one of them, so
// this bounds what a DOM parse of `body` writes: about 27 bytes of tape and structural index
// per separator at worst (a dense array of numbers), against under one for a long string.
std::size_t countJsonSeparators(std::string_view body, std::size_t stopAfter);

class AdmissionDecoder {
 public:
  static constexpr std::size_t kMaxDepth = 256;
  static constexpr std::size_t kMaxUidBytes = 256;
  // Bodies over this are checked with countJsonSeparators before they are parsed, and the
  // handler parses them one at a time, in a decoder it frees afterwards.
  static constexpr std::size_t kLargeBodyBytes = 1u << 20;
  // The most separators a large body may have (a DOM of at most about 110 MiB). The largest
  // storable pod (1.5 MiB in etcd's protobuf, where an element of a list can take 5 bytes and
  // its JSON three separators) makes under 2 M in an UPDATE's two copies; a padded pod, whose
  // bulk is one long string, makes a few hundred.
  static constexpr std::size_t kMaxLargeBodySeparators = 4u << 20;
  AdmissionDecoder();
  DecodeResult decode(std::string_view body, AdmissionRequest& out);

 private:
  simdjson::dom::parser parser_;
};

struct AdmissionResponse {
  std::string_view uid;
  bool allowed = true;
  int code = 0;             // HTTP-style status code in `status`, e.g. 403 on deny; 0 omits status
  std::string_view reason;  // metav1.StatusReason, e.g. "Forbidden"
  std::string_view message;
  const std::vector<std::string>* warnings = nullptr;
  const std::map<std::string, std::string>* auditAnnotations = nullptr;
};

// {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{...}}
std::string encodeResponse(const AdmissionResponse& r);

// The policy engine's input for a decoded request (views into it; `now` left unset).
policy::EvalInput evalInputOf(const AdmissionRequest& r);

}  // namespace kc::webhook
