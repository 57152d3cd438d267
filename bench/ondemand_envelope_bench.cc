// What an envelope-only parse of audit events would cost: simdjson's On-Demand API walking
// the fields the detections read from every event (kind, apiVersion, level, auditID, stage,
// verb, requestURI, userAgent, user, sourceIPs, objectRef, responseStatus.code, the
// timestamps and annotations) and stepping over requestObject and responseObject, against
// simdjson's DOM parse_many of the same file. Interleaved, best of ROUNDS each.
//
//   ondemand_envelope_bench FILE.jsonl [ROUNDS]
//
// On-Demand is compiled into this program, not taken from the shared library: it runs the
// SIMD kernels only when this file is built for them (bench/audit.cmake adds -march=haswell
// where the compiler accepts it). The implementation in use is printed; "fallback" means
// the scalar kernels and a meaningless comparison.

#include <simdjson.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

namespace {

namespace od = simdjson::ondemand;

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Each read string's length goes into sum, so the walk cannot be optimised away.
bool readString(od::value v, uint64_t& sum) {
  std::string_view s;
  if (v.get_string().get(s)) return false;
  sum += s.size();
  return true;
}

bool readStringArray(od::value v, uint64_t& sum) {
  od::array a;
  if (v.get_array().get(a)) return false;
  for (auto item : a) {
    od::value iv;
    if (item.get(iv) || !readString(iv, sum)) return false;
  }
  return true;
}

// An object whose values are all strings (objectRef, annotations).
bool readStringObject(od::value v, uint64_t& sum) {
  od::object o;
  if (v.get_object().get(o)) return false;
  for (auto field : o) {
    od::value fv;
    if (field.value().get(fv) || !readString(fv, sum)) return false;
  }
  return true;
}

bool readUser(od::value v, uint64_t& sum) {
  od::object o;
  if (v.get_object().get(o)) return false;
  for (auto field : o) {
    od::raw_json_string key;
    od::value fv;
    if (field.key().get(key) || field.value().get(fv)) return false;
    if (key.unsafe_is_equal("username") || key.unsafe_is_equal("uid")) {
      if (!readString(fv, sum)) return false;
    } else if (key.unsafe_is_equal("groups")) {
      if (!readStringArray(fv, sum)) return false;
    }
  }
  return true;
}

bool readResponseStatus(od::value v, uint64_t& sum) {
  od::object o;
  if (v.get_object().get(o)) return false;
  for (auto field : o) {
    od::raw_json_string key;
    if (field.key().get(key)) return false;
    if (key.unsafe_is_equal("code")) {
      int64_t code = 0;
      if (field.value().get_int64().get(code)) return false;
      sum += static_cast<uint64_t>(code);
    }
  }
  return true;
}

// One pass over the top-level fields, in the order they come.
bool readEnvelope(od::document_reference doc, uint64_t& sum) {
  od::object o;
  if (doc.get_object().get(o)) return false;
  for (auto field : o) {
    od::raw_json_string key;
    od::value v;
    if (field.key().get(key) || field.value().get(v)) return false;
    bool ok = true;
    if (key.unsafe_is_equal("user") || key.unsafe_is_equal("impersonatedUser")) {
      ok = readUser(v, sum);
    } else if (key.unsafe_is_equal("objectRef") || key.unsafe_is_equal("annotations")) {
      ok = readStringObject(v, sum);
    } else if (key.unsafe_is_equal("sourceIPs")) {
      ok = readStringArray(v, sum);
    } else if (key.unsafe_is_equal("responseStatus")) {
      ok = readResponseStatus(v, sum);
    } else if (key.unsafe_is_equal("requestObject") || key.unsafe_is_equal("responseObject")) {
      // stepped over by the next field's read
    } else {
      ok = readString(v, sum);  // kind, apiVersion, level, auditID, stage, verb, ...
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE.jsonl [ROUNDS]\n", argv[0]);
    return 2;
  }
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  simdjson::padded_string data;
  if (auto err = simdjson::padded_string::load(argv[1]).get(data)) {
    std::fprintf(stderr, "%s: %s\n", argv[1], simdjson::error_message(err));
    return 1;
  }
  std::printf("file %s: %.1f MB; DOM: %s, On-Demand (compiled in): %s\n", argv[1],
              data.size() / 1e6, simdjson::get_active_implementation()->name().c_str(),
              SIMDJSON_STRINGIFY(SIMDJSON_BUILTIN_IMPLEMENTATION));
  double bestDom = 1e30, bestOd = 1e30;
  uint64_t domDocs = 0, odDocs = 0, odBad = 0, sum = 0;
  simdjson::dom::parser dom;
  od::parser ondemand;
  for (int r = 0; r < rounds; ++r) {
    double t0 = seconds();
    uint64_t n = 0;
    simdjson::dom::document_stream docs;
    if (dom.parse_many(data, 4u << 20).get(docs)) return 1;
    for (auto doc : docs) {
      if (!doc.error()) ++n;
    }
    double t1 = seconds();
    uint64_t m = 0, bad = 0;
    od::document_stream stream;
    if (ondemand.iterate_many(data, 4u << 20).get(stream)) return 1;
    for (auto doc : stream) {
      od::document_reference d;
      if (!std::move(doc).get(d) && readEnvelope(d, sum)) {
        ++m;
      } else {
        ++bad;
      }
    }
    double t2 = seconds();
    if (t1 - t0 < bestDom) bestDom = t1 - t0;
    if (t2 - t1 < bestOd) bestOd = t2 - t1;
    domDocs = n;
    odDocs = m;
    odBad = bad;
  }
  std::printf("DOM parse_many (raw)        %8.3f s  %6.0f MB/s  (%llu documents)\n", bestDom,
              data.size() / 1e6 / bestDom, static_cast<unsigned long long>(domDocs));
  std::printf(
      "On-Demand envelope walk     %8.3f s  %6.0f MB/s  (%llu events, %llu bad)  "
      "%.2f x the DOM parse's time\n",
      bestOd, data.size() / 1e6 / bestOd, static_cast<unsigned long long>(odDocs),
      static_cast<unsigned long long>(odBad), bestOd / bestDom);
  std::printf("checksum %llu\n", static_cast<unsigned long long>(sum));
  return 0;
}
