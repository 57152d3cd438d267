#include "webhook/admission_review.h"

#include <array>
#include <cstdint>
#include <cstring>

#include "common/json_writer.h"

namespace kc::webhook {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// Reads an optional string field. Absent or null is fine; any other type is an error.
bool optString(const object& obj, std::string_view key, std::string_view& out) {
  element e;
  if (obj.at_key(key).get(e) != simdjson::SUCCESS || e.is_null()) return true;
  return e.get_string().get(out) == simdjson::SUCCESS;
}

DecodeResult fail(DecodeError e, std::string message) {
  return DecodeResult{e, std::move(message)};
}

}  // namespace

std::string_view reasonOf(DecodeError e) {
  switch (e) {
    case DecodeError::kNone:
      return "none";
    case DecodeError::kInvalidJson:
      return "invalid_json";
    case DecodeError::kTooDeep:
      return "too_deep";
    case DecodeError::kNotAdmissionReview:
      return "not_admission_review";
    case DecodeError::kMissingRequest:
      return "missing_request";
    case DecodeError::kMissingUid:
      return "missing_uid";
    case DecodeError::kInvalidField:
      return "invalid_field";
    case DecodeError::kTooManyValues:
      return "too_many_values";
  }
  return "other";
}

AdmissionDecoder::AdmissionDecoder() {
  // Grows on demand up to the body cap the server enforces; the depth limit stays.
  const auto err = parser_.allocate(64 * 1024, kMaxDepth);
  (void)err;
}

std::size_t countJsonSeparators(std::string_view body, std::size_t stopAfter) {
  static constexpr auto kTable = [] {
    std::array<std::uint8_t, 256> t{};
    t[static_cast<unsigned char>(',')] = 1;
    t[static_cast<unsigned char>(':')] = 1;
    t[static_cast<unsigned char>('[')] = 1;
    t[static_cast<unsigned char>('{')] = 1;
    t[static_cast<unsigned char>('"')] = 2;
    return t;
  }();
  std::size_t n = 0;
  const char* p = body.data();
  const char* const end = p + body.size();
  while (p < end) {
    const std::uint8_t kind = kTable[static_cast<unsigned char>(*p++)];
    if (kind == 1) {
      if (++n > stopAfter) return n;
    } else if (kind == 2) {
      // Step over the string: to the first quote not escaped by an odd run of backslashes.
      for (;;) {
        const void* q = std::memchr(p, '"', static_cast<std::size_t>(end - p));
        if (q == nullptr) return n;
        const char* quote = static_cast<const char*>(q);
        const char* b = quote;
        while (b > p && b[-1] == '\\') --b;
        p = quote + 1;
        if ((quote - b) % 2 == 0) break;
      }
    }
  }
  return n;
}

DecodeResult AdmissionDecoder::decode(std::string_view body, AdmissionRequest& out) {
  out = AdmissionRequest{};
  if (body.size() > kLargeBodyBytes &&
      countJsonSeparators(body, kMaxLargeBodySeparators) > kMaxLargeBodySeparators)
    return fail(DecodeError::kTooManyValues,
                "body has more than " + std::to_string(kMaxLargeBodySeparators) +
                    " JSON values, more than any storable object makes");
  element root;
  const auto err = parser_.parse(body.data(), body.size()).get(root);
  if (err == simdjson::DEPTH_ERROR)
    return fail(DecodeError::kTooDeep, "JSON nesting exceeds " + std::to_string(kMaxDepth));
  if (err != simdjson::SUCCESS)
    return fail(DecodeError::kInvalidJson,
                std::string("body is not valid JSON: ") + simdjson::error_message(err));
  object top;
  if (root.get_object().get(top) != simdjson::SUCCESS)
    return fail(DecodeError::kNotAdmissionReview, "body is not a JSON object");
  std::string_view apiVersion, kind;
  if (!optString(top, "apiVersion", apiVersion) || !optString(top, "kind", kind) ||
      kind != "AdmissionReview")
    return fail(DecodeError::kNotAdmissionReview, "kind must be AdmissionReview");
  if (apiVersion != "admission.k8s.io/v1")
    return fail(DecodeError::kNotAdmissionReview,
                "apiVersion must be admission.k8s.io/v1 (set admissionReviewVersions: [v1])");
  element reqEl;
  object req;
  if (top.at_key("request").get(reqEl) != simdjson::SUCCESS || reqEl.is_null())
    return fail(DecodeError::kMissingRequest, "AdmissionReview has no request");
  if (reqEl.get_object().get(req) != simdjson::SUCCESS)
    return fail(DecodeError::kInvalidField, "request must be an object");
  if (!optString(req, "uid", out.uid))
    return fail(DecodeError::kInvalidField, "request.uid must be a string");
  if (out.uid.empty()) return fail(DecodeError::kMissingUid, "request.uid is missing");
  // The API server's uids are UUIDs; the answer echoes it, so a long one is refused here.
  if (out.uid.size() > kMaxUidBytes)
    return fail(DecodeError::kInvalidField,
                "request.uid is longer than " + std::to_string(kMaxUidBytes) + " bytes");

  // One pass over the request's fields (a lookup per field would rescan the object each time).
  // With a repeated key the first one counts, as at_key would have it.
  enum Field : unsigned {
    kKind,
    kResource,
    kSubResource,
    kRequestKind,
    kRequestResource,
    kRequestSubResource,
    kName,
    kNamespace,
    kOperation,
    kObject,
    kOldObject,
    kOptions,
    kDryRun,
    kUserInfo,
    kFieldCount
  };
  static constexpr std::string_view kNames[kFieldCount] = {
      "kind",   "resource",  "subResource", "requestKind", "requestResource", "requestSubResource",
      "name",   "namespace", "operation",   "object",      "oldObject",       "options",
      "dryRun", "userInfo"};
  element fields[kFieldCount];
  unsigned present = 0;
  for (auto field : req) {
    for (unsigned i = 0; i < kFieldCount; ++i) {
      if (field.key != kNames[i]) continue;
      if ((present & (1u << i)) == 0 && !field.value.is_null()) {
        fields[i] = field.value;
        present |= 1u << i;
      }
      break;
    }
  }
  auto has = [&](Field f) { return (present & (1u << f)) != 0; };
  auto str = [&](Field f, std::string_view& dst) {
    return !has(f) || fields[f].get_string().get(dst) == simdjson::SUCCESS;
  };
  auto gvk = [&](Field f, GroupVersionKind& dst) {
    if (!has(f)) return true;
    object o;
    return fields[f].get_object().get(o) == simdjson::SUCCESS && optString(o, "group", dst.group) &&
           optString(o, "version", dst.version) && optString(o, "kind", dst.kind);
  };
  auto gvr = [&](Field f, GroupVersionResource& dst) {
    if (!has(f)) return true;
    object o;
    return fields[f].get_object().get(o) == simdjson::SUCCESS && optString(o, "group", dst.group) &&
           optString(o, "version", dst.version) && optString(o, "resource", dst.resource);
  };
  auto obj = [&](Field f, element& dst) {
    if (!has(f)) return true;
    if (fields[f].type() != element_type::OBJECT) return false;
    dst = fields[f];
    return true;
  };

  const char* bad = nullptr;
  if (!gvk(kKind, out.kind))
    bad = "request.kind";
  else if (!gvr(kResource, out.resource))
    bad = "request.resource";
  else if (!str(kSubResource, out.subResource))
    bad = "request.subResource";
  else if (!gvk(kRequestKind, out.requestKind))
    bad = "request.requestKind";
  else if (!gvr(kRequestResource, out.requestResource))
    bad = "request.requestResource";
  else if (!str(kRequestSubResource, out.requestSubResource))
    bad = "request.requestSubResource";
  else if (!str(kName, out.name))
    bad = "request.name";
  else if (!str(kNamespace, out.namespace_))
    bad = "request.namespace";
  else if (!str(kOperation, out.operation))
    bad = "request.operation";
  else if (!obj(kObject, out.object))
    bad = "request.object";
  else if (!obj(kOldObject, out.oldObject))
    bad = "request.oldObject";
  else if (!obj(kOptions, out.options))
    bad = "request.options";
  if (bad != nullptr)
    return fail(DecodeError::kInvalidField, std::string(bad) + " has the wrong type");

  if (has(kDryRun) && fields[kDryRun].get_bool().get(out.dryRun) != simdjson::SUCCESS)
    return fail(DecodeError::kInvalidField, "request.dryRun must be a boolean");
  if (has(kUserInfo)) {
    object user;
    if (fields[kUserInfo].get_object().get(user) != simdjson::SUCCESS ||
        !optString(user, "username", out.userInfo.username) ||
        !optString(user, "uid", out.userInfo.uid))
      return fail(DecodeError::kInvalidField, "request.userInfo has the wrong type");
    element groupsEl;
    if (user.at_key("groups").get(groupsEl) == simdjson::SUCCESS && !groupsEl.is_null()) {
      simdjson::dom::array groups;
      if (groupsEl.get_array().get(groups) != simdjson::SUCCESS)
        return fail(DecodeError::kInvalidField, "request.userInfo.groups must be a list");
      for (element g : groups) {
        std::string_view s;
        if (g.get_string().get(s) != simdjson::SUCCESS)
          return fail(DecodeError::kInvalidField, "request.userInfo.groups must hold strings");
        out.userInfo.groups.push_back(s);
      }
    }
  }
  if (out.operation.empty())
    return fail(DecodeError::kInvalidField, "request.operation is missing");
  return {};
}

std::string encodeResponse(const AdmissionResponse& r) {
  std::string out;
  out.reserve(256 + r.message.size());
  out += R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":)";
  kc::json::appendJsonString(out, r.uid);
  out += r.allowed ? ",\"allowed\":true" : ",\"allowed\":false";
  if (r.code != 0 || !r.message.empty()) {
    out += ",\"status\":{";
    bool first = true;
    if (r.code != 0) {
      out += "\"code\":" + std::to_string(r.code);
      first = false;
    }
    if (!r.allowed) {
      out += first ? "" : ",";
      out += "\"status\":\"Failure\"";
      first = false;
    }
    if (!r.reason.empty()) {
      out += first ? "\"reason\":" : ",\"reason\":";
      kc::json::appendJsonString(out, r.reason);
      first = false;
    }
    if (!r.message.empty()) {
      out += first ? "\"message\":" : ",\"message\":";
      kc::json::appendJsonString(out, r.message);
    }
    out += "}";
  }
  if (r.warnings != nullptr && !r.warnings->empty()) {
    out += ",\"warnings\":[";
    bool first = true;
    for (const auto& w : *r.warnings) {
      if (!first) out.push_back(',');
      kc::json::appendJsonString(out, w);
      first = false;
    }
    out += "]";
  }
  if (r.auditAnnotations != nullptr && !r.auditAnnotations->empty()) {
    out += ",\"auditAnnotations\":{";
    bool first = true;
    for (const auto& [k, v] : *r.auditAnnotations) {
      if (!first) out.push_back(',');
      kc::json::appendJsonString(out, k);
      out.push_back(':');
      kc::json::appendJsonString(out, v);
      first = false;
    }
    out += "}";
  }
  out += "}}";
  return out;
}

policy::EvalInput evalInputOf(const AdmissionRequest& r) {
  policy::EvalInput in;
  in.operation = r.operation;
  in.group = r.kind.group;
  in.version = r.kind.version;
  in.kind = r.kind.kind;
  in.subResource = r.subResource;
  in.namespace_ = r.namespace_;
  in.name = r.name;
  in.user.username = r.userInfo.username;
  in.user.groups = r.userInfo.groups;
  in.object = r.object;
  in.oldObject = r.oldObject;
  in.dryRun = r.dryRun;
  return in;
}

}  // namespace kc::webhook
