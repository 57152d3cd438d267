#include "controller/events/audit_event.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/utf8.h"
#include "controller/events/dedupe.h"

namespace kc::audit {

namespace dom = simdjson::dom;

namespace {

constexpr std::string_view kV1 = "audit.k8s.io/v1";
constexpr std::string_view kV1beta1 = "audit.k8s.io/v1beta1";

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "kube-customs: fatal: %s\n", what);
  std::abort();
}

dom::element nullElement() {
  // A parsed `null`, so that absent bodies are still valid elements to inspect. Its parser
  // is never freed: the element must outlive every EventParser.
  static const dom::element root = [] {
    auto* parser = new dom::parser();
    dom::element e;
    if (parser->parse("null", 4).get(e)) die("cannot parse the JSON literal null");
    return e;
  }();
  return root;
}

RejectReason reasonForError(simdjson::error_code e) {
  switch (e) {
    case simdjson::CAPACITY:
      return RejectReason::kTooLarge;
    case simdjson::DEPTH_ERROR:
      return RejectReason::kTooDeep;
    case simdjson::UTF8_ERROR:
      return RejectReason::kInvalidUtf8;
    default:
      return RejectReason::kInvalidJson;
  }
}

bool isBlank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  }
  return true;
}

// Sizes, in bytes, of the elements of the array that holds a batch: the root itself when it
// is an array, else the root object's `items` or `records` array. The input has been
// validated by simdjson, so a bracket/string scanner is exact.
std::vector<size_t> batchElementSizes(std::string_view doc) {
  std::vector<size_t> sizes;
  int depth = 0;
  int targetDepth = -1;  // depth of the elements we measure
  bool inString = false;
  size_t strStart = 0;
  std::string_view lastDepth1String;
  size_t elemStart = std::string_view::npos;
  for (size_t i = 0; i < doc.size(); ++i) {
    char c = doc[i];
    if (inString) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        inString = false;
        if (depth == 1) lastDepth1String = doc.substr(strStart, i - strStart);
      }
      continue;
    }
    switch (c) {
      case '"':
        inString = true;
        strStart = i + 1;
        if (depth == targetDepth && elemStart == std::string_view::npos) elemStart = i;
        break;
      case '{':
      case '[':
        if (depth == targetDepth && elemStart == std::string_view::npos) elemStart = i;
        ++depth;
        if (targetDepth < 0 && c == '[') {
          if (depth == 1 ||
              (depth == 2 && (lastDepth1String == "items" || lastDepth1String == "records"))) {
            targetDepth = depth;
          }
        }
        break;
      case '}':
      case ']':
        if (depth == targetDepth) {
          if (elemStart != std::string_view::npos) sizes.push_back(i - elemStart);
          elemStart = std::string_view::npos;
          return sizes;  // end of the batch array
        }
        --depth;
        break;
      case ',':
        if (depth == targetDepth) {
          if (elemStart != std::string_view::npos) sizes.push_back(i - elemStart);
          elemStart = std::string_view::npos;
        }
        break;
      case ' ':
      case '\t':
      case '\r':
      case '\n':
        break;
      default:
        if (depth == targetDepth && elemStart == std::string_view::npos) elemStart = i;
    }
  }
  return sizes;
}

// Field decoding with type checks. A known field with the wrong type marks the event bad.
struct Decoder {
  bool wrongType = false;

  std::string_view str(dom::element v) {
    std::string_view s;
    if (v.get_string().get(s)) {
      if (!v.is_null()) wrongType = true;  // null is treated as absent
      return {};
    }
    return s;
  }

  void strings(dom::element v, std::vector<std::string_view>& out) {
    out.clear();
    dom::array arr;
    if (v.get_array().get(arr)) {
      if (!v.is_null()) wrongType = true;
      return;
    }
    for (dom::element item : arr) {
      std::string_view s;
      if (item.get_string().get(s)) {
        wrongType = true;
        return;
      }
      out.push_back(s);
    }
  }

  void user(dom::element v, UserInfo& u) {
    dom::object obj;
    if (v.get_object().get(obj)) {
      if (!v.is_null()) wrongType = true;
      return;
    }
    for (dom::key_value_pair kv : obj) {
      if (kv.key == "username") {
        u.username = str(kv.value);
      } else if (kv.key == "uid") {
        u.uid = str(kv.value);
      } else if (kv.key == "groups") {
        strings(kv.value, u.groups);
      } else if (kv.key == "extra") {
        extra(kv.value, u);
      }
    }
  }

  // Lenient: extra was not read before, and a malformed one must not cost the event.
  static void extra(dom::element v, UserInfo& u) {
    dom::object obj;
    if (v.get_object().get(obj)) return;
    for (dom::key_value_pair kv : obj) {
      if (u.extra.size() >= UserInfo::kMaxExtra) return;
      dom::array values;
      if (kv.value.get_array().get(values)) continue;
      for (dom::element item : values) {
        std::string_view first;
        if (!item.get_string().get(first)) u.extra.emplace_back(kv.key, first);
        break;
      }
    }
  }

  bool objectRef(dom::element v, ObjectRef& r) {
    dom::object obj;
    if (v.get_object().get(obj)) {
      if (!v.is_null()) wrongType = true;
      return false;
    }
    for (dom::key_value_pair kv : obj) {
      std::string_view k = kv.key;
      if (k == "resource") {
        r.resource = str(kv.value);
      } else if (k == "subresource") {
        r.subresource = str(kv.value);
      } else if (k == "namespace") {
        r.namespace_ = str(kv.value);
      } else if (k == "name") {
        r.name = str(kv.value);
      } else if (k == "apiGroup") {
        r.apiGroup = str(kv.value);
      } else if (k == "apiVersion") {
        r.apiVersion = str(kv.value);
      } else if (k == "uid") {
        r.uid = str(kv.value);
      }
    }
    return true;
  }

  int responseCode(dom::element v) {
    dom::object obj;
    if (v.get_object().get(obj)) {
      if (!v.is_null()) wrongType = true;
      return 0;
    }
    for (dom::key_value_pair kv : obj) {
      if (kv.key == "code") {
        int64_t code = 0;
        if (kv.value.get_int64().get(code) || code < 0 || code > 999) {
          wrongType = true;
          return 0;
        }
        return static_cast<int>(code);
      }
    }
    return 0;
  }

  void annotations(dom::element v, Event& ev) {
    dom::object obj;
    if (v.get_object().get(obj)) {
      if (!v.is_null()) wrongType = true;
      return;
    }
    for (dom::key_value_pair kv : obj) {
      std::string_view val;
      if (kv.value.get_string().get(val)) {
        wrongType = true;
        return;
      }
      ev.annotations.emplace_back(kv.key, val);
      if (kv.key == "audit.k8s.io/truncated") {
        ev.truncated = (val == "true");
      } else if (kv.key == "authorization.k8s.io/decision") {
        ev.authorizationDecision = val;
      }
    }
  }
};

void resetEvent(Event& ev) {
  ev.format = EventFormat::kKubernetes;
  ev.apiVersion = ev.auditID = ev.stage = ev.level = ev.verb = ev.requestURI = ev.userAgent = {};
  ev.user.username = ev.user.uid = {};
  ev.user.groups.clear();
  ev.user.extra.clear();
  ev.hasImpersonatedUser = false;
  ev.impersonatedUser.username = ev.impersonatedUser.uid = {};
  ev.impersonatedUser.groups.clear();
  ev.impersonatedUser.extra.clear();
  ev.sourceIPs.clear();
  ev.hasObjectRef = false;
  ev.objectRef = {};
  ev.responseCode = 0;
  ev.annotations.clear();
  ev.truncated = false;
  ev.authorizationDecision = {};
  ev.requestReceivedTimestamp = ev.stageTimestamp = {};
  ev.timeMicros = 0;
  ev.hasRequestObject = ev.hasResponseObject = false;
  ev.requestObject = ev.responseObject = nullElement();
}

int64_t firstTime(std::initializer_list<std::string_view> candidates) {
  for (std::string_view c : candidates) {
    if (c.empty()) continue;
    if (auto t = parseRfc3339Micros(c)) return *t;
  }
  return 0;
}

// Maps a google.rpc.Code (GKE status.code) to the HTTP status the apiserver answered.
int httpFromGrpc(int64_t code) {
  switch (code) {
    case 0:
      return 200;
    case 3:
      return 400;
    case 5:
      return 404;
    case 6:
      return 409;
    case 7:
      return 403;
    case 8:
      return 429;
    case 10:
      return 409;
    case 16:
      return 401;
    default:
      return 500;
  }
}

// The shape of one item, discovered by a single pass over its fields.
enum class Shape { kEvent, kAks, kGke, kNotEvent };

// Percent-encodes a query value (RFC 3986 unreserved characters stay as they are).
void appendQueryValue(std::string& out, std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

// GKE entries carry no requestURI: the request line is rebuilt from resourceName
// ("core/v1/namespaces/shop/pods/web/exec" is /api/v1/namespaces/shop/pods/web/exec,
// "apps/v1/..." is /apis/apps/v1/..., a non-resource path such as "readyz" is /readyz), and
// for a session the command and container are taken from the logged request options when the
// entry has them, as the query string the API server's own audit would show.
std::string gkeRequestUri(std::string_view resourceName, bool isResource, dom::element request) {
  std::string uri;
  std::string_view rest = resourceName;
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  if (!isResource) return "/" + std::string(utf8::prefix(rest, 4096));
  const size_t slash = rest.find('/');
  const std::string_view group = rest.substr(0, slash);
  uri = group == "core" ? "/api" : "/apis/" + std::string(group);
  uri += "/";
  uri += rest.substr(slash + 1, 4096);
  dom::object options;
  if (request.get_object().get(options) != simdjson::SUCCESS) return uri;
  char sep = '?';
  auto param = [&](std::string_view name, std::string_view value) {
    uri.push_back(sep);
    sep = '&';
    uri += name;
    uri.push_back('=');
    appendQueryValue(uri, utf8::prefix(value, 4096));
  };
  for (dom::key_value_pair kv : options) {
    std::string_view one;
    dom::array many;
    if (kv.key == "container" && kv.value.get_string().get(one) == simdjson::SUCCESS) {
      param("container", one);
    } else if (kv.key == "command" && kv.value.get_string().get(one) == simdjson::SUCCESS) {
      param("command", one);
    } else if (kv.key == "command" && kv.value.get_array().get(many) == simdjson::SUCCESS) {
      size_t n = 0;
      for (dom::element arg : many) {
        if (arg.get_string().get(one) == simdjson::SUCCESS && n++ < 256) param("command", one);
      }
    }
  }
  return uri;
}

// Standard base64 (RFC 4648, padded or not, no line breaks) into `out`; false when `in` is not.
bool base64Decode(std::string_view in, std::string& out) {
  static constexpr auto kTable = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i)
      t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return false;
  out.clear();
  out.reserve(in.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int8_t v = kTable[static_cast<unsigned char>(c)];
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

enum class Inflated { kOk, kTooLarge, kBad };

// Inflates gzip (or zlib) data into `out`, at most `cap` bytes.
Inflated gunzip(const std::string& in, size_t cap, std::string& out) {
  z_stream zs{};
  if (inflateInit2(&zs, 32 + MAX_WBITS) != Z_OK) return Inflated::kBad;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  out.clear();
  Inflated result = Inflated::kBad;
  char buf[64 * 1024];
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    const size_t n = sizeof buf - zs.avail_out;
    if (out.size() + n > cap) {
      result = Inflated::kTooLarge;
      break;
    }
    out.append(buf, n);
    if (rc == Z_STREAM_END) {
      result = Inflated::kOk;
      break;
    }
    if (n == 0 && zs.avail_in == 0) break;  // truncated
  }
  inflateEnd(&zs);
  return result;
}

}  // namespace

std::string_view rejectReasonName(RejectReason r) {
  switch (r) {
    case RejectReason::kTooLarge:
      return "too_large";
    case RejectReason::kTooDeep:
      return "too_deep";
    case RejectReason::kInvalidUtf8:
      return "invalid_utf8";
    case RejectReason::kInvalidJson:
      return "invalid_json";
    case RejectReason::kWrongType:
      return "wrong_type";
    case RejectReason::kMissingField:
      return "missing_field";
    case RejectReason::kUnsupportedVersion:
      return "unsupported_version";
    case RejectReason::kNotAnEvent:
      return "not_an_event";
    case RejectReason::kBadEncoding:
      return "bad_encoding";
    case RejectReason::kCount:
      break;
  }
  return "unknown";
}

std::string_view Event::annotation(std::string_view key) const {
  for (const auto& [k, v] : annotations) {
    if (k == key) return v;
  }
  return {};
}

uint64_t ParseStats::rejectedTotal() const {
  uint64_t n = 0;
  for (uint64_t r : rejected) n += r;
  return n;
}

ParseStats& ParseStats::operator+=(const ParseStats& o) {
  documents += o.documents;
  events += o.events;
  for (size_t i = 0; i < rejected.size(); ++i) rejected[i] += o.rejected[i];
  return *this;
}

std::optional<int64_t> parseRfc3339Micros(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)
  auto digits = [&](size_t pos, size_t n, int& out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
  };
  int y, mo, d, h, mi, sec;
  if (!digits(0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(5, 2, mo) || s[7] != '-' ||
      !digits(8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(11, 2, h) ||
      s[13] != ':' || !digits(14, 2, mi) || s[16] != ':' || !digits(17, 2, sec)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  size_t pos = 19;
  int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 6) micros = micros * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (int i = n; i < 6; ++i) micros *= 10;
  }
  int64_t offsetSec = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(pos + 4, 2, om)) {
      return std::nullopt;
    }
    offsetSec = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  // Days from civil (Howard Hinnant's algorithm).
  int yy = y - (mo <= 2);
  int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
  int64_t yoe = yy - era * 400;
  int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = era * 146097 + doe - 719468;
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offsetSec;
  return secs * 1000000 + micros;
}

EventParser::EventParser(ParserLimits limits)
    : limits_(limits), outer_(limits.maxDocumentBytes), inner_(limits.maxEventBytes), stream_() {
  (void)nullElement();
  // No helper thread by default: simdjson's would be created, with a second parser
  // allocated, for every parse_many call (see setStage1Thread).
  stream_.threaded = false;
  if (stream_.allocate(simdjson::dom::DEFAULT_BATCH_SIZE, limits_.maxDepth)) {
    die("cannot allocate the audit event parser");
  }
}

void EventParser::reject(ParseStats& stats, RejectReason r) {
  ++stats.rejected[static_cast<size_t>(r)];
  if (onReject_) onReject_(r, document_);
}

ParseStats EventParser::parse(std::string_view document, const Callback& onEvent) {
  document_ = document;
  ParseStats stats;
  ++stats.documents;
  if (document.size() > limits_.maxDocumentBytes) {
    reject(stats, RejectReason::kTooLarge);
    return stats;
  }
  if (outer_.max_depth() != limits_.maxDepth || outer_.capacity() < document.size()) {
    // Grow geometrically, bounded by the document cap, to avoid reallocating per line.
    size_t cap = std::max<size_t>(
        document.size(),
        std::min(limits_.maxDocumentBytes, std::max<size_t>(outer_.capacity() * 2, 64 * 1024)));
    if (outer_.allocate(cap, limits_.maxDepth)) {
      reject(stats, RejectReason::kTooLarge);
      return stats;
    }
  }
  dom::element root;
  if (auto err = outer_.parse(document.data(), document.size()).get(root)) {
    reject(stats, reasonForError(err));
    return stats;
  }
  visitDocument(root, document, stats, onEvent);
  if (document.size() > kKeptDocumentCapacity) outer_ = simdjson::dom::parser{};
  return stats;
}

ParseStats EventParser::parseLinesOneByOne(std::string_view buffer, const Callback& onEvent) {
  ParseStats total;
  while (!buffer.empty()) {
    size_t nl = buffer.find('\n');
    std::string_view line = buffer.substr(0, nl);
    buffer = nl == std::string_view::npos ? std::string_view{} : buffer.substr(nl + 1);
    if (isBlank(line)) continue;
    total += parse(line, onEvent);
  }
  return total;
}

ParseStats EventParser::parseLines(std::string_view buffer, const Callback& onEvent, bool padded) {
  if (padded) return parseLinesPadded(buffer, onEvent);
  // Copy into a padded buffer, a few MiB of whole lines at a time.
  constexpr size_t kChunk = 4u << 20;
  ParseStats total;
  while (!buffer.empty()) {
    size_t take = buffer.size();
    if (take > kChunk) {
      size_t nl = buffer.find('\n', kChunk);
      take = nl == std::string_view::npos ? buffer.size() : nl + 1;
    }
    if (take > limits_.maxDocumentBytes + kChunk) {
      // One huge line: no need to copy it, the per-line path rejects it by size.
      total += parseLinesOneByOne(buffer.substr(0, take), onEvent);
    } else {
      if (padded_.size() < take + simdjson::SIMDJSON_PADDING) {
        padded_.resize(take + simdjson::SIMDJSON_PADDING);
      }
      std::memcpy(padded_.data(), buffer.data(), take);
      total += parseLinesPadded(std::string_view(padded_.data(), take), onEvent);
    }
    buffer = buffer.substr(take);
  }
  return total;
}

ParseStats EventParser::parseLinesPadded(std::string_view buffer, const Callback& onEvent) {
  // Fast path: simdjson's parse_many over many lines at once. Any error, or a document that
  // spans lines (a truncated line running into the next), sends a window of lines from the
  // last good document to the one-line-at-a-time path, which counts the bad line exactly.
  constexpr size_t kBatch = simdjson::dom::DEFAULT_BATCH_SIZE;
  ParseStats total;
  size_t pos = 0;
  while (pos < buffer.size()) {
    size_t lastEnd = pos;
    bool failed = false;
    {
      simdjson::dom::document_stream stream;
      if (stream_.parse_many(buffer.data() + pos, buffer.size() - pos, kBatch).get(stream)) {
        failed = true;
      } else {
        for (auto it = stream.begin(); it != stream.end(); ++it) {
          dom::element root;
          if ((*it).get(root)) {
            failed = true;
            break;
          }
          std::string_view src = it.source();
          // A document must lie within this buffer and within one line. (simdjson 3.0.1 can
          // report a malformed last document as reaching into the padding after the buffer,
          // which is the next bytes of the file when the buffer is a mapped window.)
          if (it.current_index() + src.size() > buffer.size() - pos ||
              std::memchr(src.data(), '\n', src.size()) != nullptr) {
            failed = true;
            break;
          }
          ++total.documents;
          document_ = src;
          if (src.size() > limits_.maxDocumentBytes) {
            reject(total, RejectReason::kTooLarge);
          } else {
            visitDocument(root, src, total, onEvent);
          }
          lastEnd = pos + it.current_index() + src.size();
        }
        // An incomplete document at the end (a truncated last line) is not an error to
        // parse_many, which leaves it out: read it line by line so that it is counted.
        if (!failed && stream.truncated_bytes() > 0) failed = true;
      }
    }
    if (!failed) break;
    // Per line from the end of the last good document, for about one batch.
    size_t windowEnd = std::min(buffer.size(), lastEnd + kBatch);
    size_t nl = buffer.find('\n', windowEnd == 0 ? 0 : windowEnd - 1);
    windowEnd = nl == std::string_view::npos ? buffer.size() : nl + 1;
    total += parseLinesOneByOne(buffer.substr(lastEnd, windowEnd - lastEnd), onEvent);
    pos = windowEnd;
  }
  return total;
}

void EventParser::visitDocument(dom::element root, std::string_view doc, ParseStats& stats,
                                const Callback& onEvent) {
  dom::array batch;
  bool isBatch = false;
  if (root.is_array()) {
    batch = root.get_array().value_unsafe();
    isBatch = true;
  } else if (root.is_object()) {
    dom::object obj = root.get_object().value_unsafe();
    // Fast path: the apiserver writes "kind":"Event" first.
    auto first = obj.begin();
    std::string_view firstKind;
    if (first != obj.end() && first.key() == "kind" &&
        first.value().get_string().get(firstKind) == simdjson::SUCCESS && firstKind == "Event") {
      visitValue(root, doc.size(), EventFormat::kKubernetes, true, stats, onEvent);
      return;
    }
    dom::element items, logEvents, awslogs;
    bool hasItems = false, hasRecords = false, hasLogEvents = false, hasAwsLogs = false;
    std::string_view kindStr, messageType;
    for (dom::key_value_pair kv : obj) {
      if (kv.key == "kind") {
        if (kv.value.get_string().get(kindStr)) kindStr = {};
      } else if (kv.key == "logEvents" || (kv.key == "events" && !hasLogEvents)) {
        // CloudWatch Logs: a subscription payload, or a FilterLogEvents answer.
        hasLogEvents = true;
        logEvents = kv.value;
      } else if (kv.key == "messageType") {
        if (kv.value.get_string().get(messageType)) messageType = {};
      } else if (kv.key == "awslogs") {
        hasAwsLogs = true;
        awslogs = kv.value;
      } else if (kv.key == "items") {
        hasItems = true;
        items = kv.value;
      } else if (kv.key == "records" && !hasItems) {
        hasRecords = true;
        items = kv.value;
      }
    }
    if (kindStr.empty() && !hasItems && !hasRecords) {
      if (hasAwsLogs) return visitAwsLogs(awslogs, stats, onEvent);
      if (messageType == "CONTROL_MESSAGE") return;  // CloudWatch checking the destination
      if (hasLogEvents) return visitLogEvents(logEvents, stats, onEvent);
    }
    if (kindStr == "EventList" || ((hasItems || hasRecords) && kindStr.empty())) {
      if (!hasItems && !hasRecords) {  // `items` is then a default element: no document
        reject(stats, RejectReason::kMissingField);
        return;
      }
      if (!items.is_array()) {
        reject(stats, RejectReason::kWrongType);
        return;
      }
      std::string_view apiVersion;
      dom::element av;
      if (kindStr == "EventList" && obj.at_key("apiVersion").get(av) == simdjson::SUCCESS) {
        if (av.get_string().get(apiVersion) || (apiVersion != kV1 && apiVersion != kV1beta1)) {
          reject(stats, RejectReason::kUnsupportedVersion);
          return;
        }
      }
      batch = items.get_array().value_unsafe();
      isBatch = true;
    }
  }
  if (!isBatch) {
    visitValue(root, doc.size(), EventFormat::kKubernetes, true, stats, onEvent);
    return;
  }
  // Item sizes are only needed when some item could exceed the per-event cap.
  std::vector<size_t> sizes;
  if (doc.size() > limits_.maxEventBytes) sizes = batchElementSizes(doc);
  size_t i = 0;
  for (dom::element item : batch) {
    size_t bytes = i < sizes.size() ? sizes[i] : 0;
    visitValue(item, bytes, EventFormat::kKubernetes, true, stats, onEvent);
    ++i;
  }
}

void EventParser::visitValue(dom::element v, size_t approxBytes, EventFormat format,
                             bool allowWrappers, ParseStats& stats, const Callback& onEvent) {
  if (approxBytes > limits_.maxEventBytes) {
    reject(stats, RejectReason::kTooLarge);
    return;
  }
  dom::object obj;
  if (v.get_object().get(obj)) {
    reject(stats, RejectReason::kNotAnEvent);
    return;
  }
  Event& ev = event_;
  resetEvent(ev);
  ev.format = format;
  Decoder dec;
  std::string_view kind, timestamp, creationTimestamp;
  dom::element protoPayload, properties;
  bool hasProto = false, hasProperties = false, hasApiVersion = false;
  for (dom::key_value_pair kv : obj) {
    std::string_view k = kv.key;
    if (k.empty()) continue;
    switch (k[0]) {
      case 'a':
        if (k == "auditID") {
          ev.auditID = dec.str(kv.value);
        } else if (k == "apiVersion") {
          hasApiVersion = true;
          ev.apiVersion = dec.str(kv.value);
        } else if (k == "annotations") {
          dec.annotations(kv.value, ev);
        }
        break;
      case 'k':
        if (k == "kind") kind = dec.str(kv.value);
        break;
      case 'l':
        if (k == "level") ev.level = dec.str(kv.value);
        break;
      case 'i':
        if (k == "impersonatedUser") {
          ev.hasImpersonatedUser = kv.value.is_object();
          dec.user(kv.value, ev.impersonatedUser);
        }
        break;
      case 'm':
        if (k == "metadata") {
          dom::element ct;
          if (kv.value.is_object() &&
              kv.value.get_object().value_unsafe().at_key("creationTimestamp").get(ct) ==
                  simdjson::SUCCESS) {
            creationTimestamp = dec.str(ct);
          }
        }
        break;
      case 'o':
        if (k == "objectRef") ev.hasObjectRef = dec.objectRef(kv.value, ev.objectRef);
        break;
      case 'p':
        if (k == "protoPayload") {
          hasProto = true;
          protoPayload = kv.value;
        } else if (k == "properties") {
          hasProperties = true;
          properties = kv.value;
        }
        break;
      case 'r':
        if (k == "requestURI") {
          ev.requestURI = dec.str(kv.value);
        } else if (k == "responseStatus") {
          ev.responseCode = dec.responseCode(kv.value);
        } else if (k == "requestObject") {
          ev.requestObject = kv.value;
          ev.hasRequestObject = kv.value.is_object();
        } else if (k == "responseObject") {
          ev.responseObject = kv.value;
          ev.hasResponseObject = kv.value.is_object();
        } else if (k == "requestReceivedTimestamp") {
          ev.requestReceivedTimestamp = dec.str(kv.value);
        }
        break;
      case 's':
        if (k == "stage") {
          ev.stage = dec.str(kv.value);
        } else if (k == "stageTimestamp") {
          ev.stageTimestamp = dec.str(kv.value);
        } else if (k == "sourceIPs") {
          dec.strings(kv.value, ev.sourceIPs);
        }
        break;
      case 't':
        if (k == "timestamp") timestamp = dec.str(kv.value);
        break;
      case 'u':
        if (k == "user") {
          dec.user(kv.value, ev.user);
        } else if (k == "userAgent") {
          ev.userAgent = dec.str(kv.value);
        }
        break;
      case 'v':
        if (k == "verb") ev.verb = dec.str(kv.value);
        break;
      default:
        break;
    }
  }

  if (ev.auditID.empty() && hasProto && allowWrappers) {
    decodeGke(obj, protoPayload, stats, onEvent);
    return;
  }
  if (ev.auditID.empty() && hasProperties && allowWrappers) {
    dom::element log;
    if (!properties.is_object() ||
        properties.get_object().value_unsafe().at_key("log").get(log) != simdjson::SUCCESS) {
      reject(stats, RejectReason::kNotAnEvent);
      return;
    }
    std::string_view logStr;
    if (log.get_string().get(logStr) == simdjson::SUCCESS) {
      visitEmbedded(logStr, EventFormat::kAks, stats, onEvent);
      return;
    }
    if (!log.is_object()) {
      reject(stats, RejectReason::kWrongType);
      return;
    }
    visitValue(log, 0, EventFormat::kAks, false, stats, onEvent);
    return;
  }
  if (dec.wrongType) {
    reject(stats, RejectReason::kWrongType);
    return;
  }
  if (!kind.empty() && kind != "Event") {
    reject(stats, RejectReason::kNotAnEvent);
    return;
  }
  if (hasApiVersion && ev.apiVersion != kV1 && ev.apiVersion != kV1beta1) {
    reject(stats, RejectReason::kUnsupportedVersion);
    return;
  }
  if (ev.auditID.empty() || ev.stage.empty() || ev.verb.empty()) {
    reject(stats, RejectReason::kMissingField);
    return;
  }
  if (ev.truncated) {
    // The truncating backend dropped the bodies; never judge a partial object.
    ev.hasRequestObject = ev.hasResponseObject = false;
    ev.requestObject = ev.responseObject = nullElement();
  }
  ev.timeMicros =
      firstTime({ev.stageTimestamp, ev.requestReceivedTimestamp, timestamp, creationTimestamp});
  ++stats.events;
  onEvent(ev);
}

void EventParser::visitEmbedded(std::string_view log, EventFormat format, ParseStats& stats,
                                const Callback& onEvent) {
  if (log.size() > limits_.maxEventBytes) {
    reject(stats, RejectReason::kTooLarge);
    return;
  }
  if (inner_.max_depth() != limits_.maxDepth || inner_.capacity() < log.size()) {
    size_t cap = std::max<size_t>(
        log.size(),
        std::min(limits_.maxEventBytes, std::max<size_t>(inner_.capacity() * 2, 64 * 1024)));
    if (inner_.allocate(cap, limits_.maxDepth)) {
      reject(stats, RejectReason::kTooLarge);
      return;
    }
  }
  dom::element root;
  if (auto err = inner_.parse(log.data(), log.size()).get(root)) {
    reject(stats, reasonForError(err));
    return;
  }
  visitValue(root, log.size(), format, false, stats, onEvent);
}

void EventParser::visitLogEvents(dom::element logEvents, ParseStats& stats,
                                 const Callback& onEvent) {
  dom::array items;
  if (logEvents.get_array().get(items)) {
    reject(stats, RejectReason::kWrongType);
    return;
  }
  for (dom::element item : items) {
    dom::element message;
    std::string_view text;
    if (!item.is_object() ||
        item.get_object().value_unsafe().at_key("message").get(message) != simdjson::SUCCESS) {
      reject(stats, RejectReason::kNotAnEvent);
      continue;
    }
    if (message.get_string().get(text)) {
      reject(stats, RejectReason::kWrongType);
      continue;
    }
    visitEmbedded(text, EventFormat::kEks, stats, onEvent);
  }
}

void EventParser::visitAwsLogs(dom::element awslogs, ParseStats& stats, const Callback& onEvent) {
  dom::element data;
  std::string_view encoded;
  if (!awslogs.is_object() ||
      awslogs.get_object().value_unsafe().at_key("data").get(data) != simdjson::SUCCESS ||
      data.get_string().get(encoded)) {
    reject(stats, RejectReason::kNotAnEvent);
    return;
  }
  // The decoded payload is at most the document cap, like any other document.
  const size_t cap = limits_.maxDocumentBytes;
  std::string compressed;
  if (!base64Decode(encoded, compressed)) {
    reject(stats, RejectReason::kBadEncoding);
    return;
  }
  switch (gunzip(compressed, cap, decodedText_)) {
    case Inflated::kOk:
      break;
    case Inflated::kTooLarge:
      reject(stats, RejectReason::kTooLarge);
      return;
    case Inflated::kBad:
      reject(stats, RejectReason::kBadEncoding);
      return;
  }
  if (decoded_.max_depth() != limits_.maxDepth &&
      decoded_.allocate(decodedText_.size(), limits_.maxDepth)) {
    reject(stats, RejectReason::kTooLarge);
    return;
  }
  dom::element root;
  if (auto err = decoded_.parse(decodedText_).get(root)) {
    reject(stats, reasonForError(err));
    return;
  }
  dom::object obj;
  if (root.get_object().get(obj)) {
    reject(stats, RejectReason::kNotAnEvent);
    return;
  }
  std::string_view messageType;
  dom::element mt, logEvents;
  if (obj.at_key("messageType").get(mt) == simdjson::SUCCESS &&
      mt.get_string().get(messageType) != simdjson::SUCCESS)
    messageType = {};
  if (messageType == "CONTROL_MESSAGE") return;  // CloudWatch checking the destination
  if (obj.at_key("logEvents").get(logEvents) != simdjson::SUCCESS) {
    reject(stats, RejectReason::kNotAnEvent);
    return;
  }
  visitLogEvents(logEvents, stats, onEvent);
  // A large payload's buffers are not kept.
  if (decodedText_.capacity() > kKeptDocumentCapacity) {
    std::string().swap(decodedText_);
    decoded_ = dom::parser();
  }
}

void EventParser::decodeGke(dom::object entry, dom::element proto, ParseStats& stats,
                            const Callback& onEvent) {
  Event& ev = event_;
  resetEvent(ev);
  ev.format = EventFormat::kGke;
  Decoder dec;
  dom::object pp;
  if (proto.get_object().get(pp)) {
    reject(stats, RejectReason::kWrongType);
    return;
  }
  std::string_view insertId, timestamp, methodName, resourceName;
  bool first = false, last = false;  // protobuf JSON omits false booleans
  bool denied = false;               // an authorization check not granted
  for (dom::key_value_pair kv : entry) {
    if (kv.key == "insertId") {
      insertId = dec.str(kv.value);
    } else if (kv.key == "timestamp") {
      timestamp = dec.str(kv.value);
    } else if (kv.key == "operation") {
      dom::object op;
      if (kv.value.get_object().get(op)) {
        dec.wrongType = true;
        continue;
      }
      for (dom::key_value_pair o : op) {
        if (o.key == "id") {
          ev.auditID = dec.str(o.value);
        } else if (o.key == "first") {
          if (o.value.get_bool().get(first)) dec.wrongType = true;
        } else if (o.key == "last") {
          if (o.value.get_bool().get(last)) dec.wrongType = true;
        }
      }
    } else if (kv.key == "labels") {
      dec.annotations(kv.value, ev);
    }
  }
  for (dom::key_value_pair kv : pp) {
    std::string_view k = kv.key;
    if (k == "methodName") {
      methodName = dec.str(kv.value);
    } else if (k == "resourceName") {
      resourceName = dec.str(kv.value);
    } else if (k == "authenticationInfo") {
      dom::element email;
      if (kv.value.is_object() &&
          kv.value.get_object().value_unsafe().at_key("principalEmail").get(email) ==
              simdjson::SUCCESS) {
        ev.user.username = dec.str(email);
      }
    } else if (k == "requestMetadata") {
      dom::object rm;
      if (kv.value.get_object().get(rm)) continue;
      for (dom::key_value_pair r : rm) {
        if (r.key == "callerIp") {
          std::string_view ip = dec.str(r.value);
          if (!ip.empty()) ev.sourceIPs.push_back(ip);
        } else if (r.key == "callerSuppliedUserAgent") {
          ev.userAgent = dec.str(r.value);
        }
      }
    } else if (k == "status") {
      dom::element code;
      int64_t c = 0;
      if (kv.value.is_object() &&
          kv.value.get_object().value_unsafe().at_key("code").get(code) == simdjson::SUCCESS &&
          code.get_int64().get(c)) {
        dec.wrongType = true;
      }
      ev.responseCode = httpFromGrpc(c);
    } else if (k == "authorizationInfo") {
      // Protobuf JSON leaves out false booleans: a check without "granted": true was denied.
      dom::array checks;
      if (kv.value.get_array().get(checks)) continue;
      for (dom::element check : checks) {
        bool granted = false;
        dom::element g;
        if (!check.is_object() ||
            check.get_object().value_unsafe().at_key("granted").get(g) != simdjson::SUCCESS ||
            g.get_bool().get(granted) != simdjson::SUCCESS || !granted)
          denied = true;
      }
    } else if (k == "request") {
      ev.requestObject = kv.value;
      ev.hasRequestObject = kv.value.is_object();
    } else if (k == "response") {
      ev.responseObject = kv.value;
      ev.hasResponseObject = kv.value.is_object();
    }
  }
  if (dec.wrongType) {
    reject(stats, RejectReason::kWrongType);
    return;
  }
  if (ev.auditID.empty()) ev.auditID = insertId;
  // Denied by the authorizer: nothing happened, whatever status the entry carries.
  if (denied) {
    ev.authorizationDecision = "forbid";
    if (ev.responseCode == 0 || (ev.responseCode >= 200 && ev.responseCode < 300))
      ev.responseCode = 403;
  }
  // methodName: io.k8s.<group>.<version>.<resource>[.<subresource>].<verb>
  if (size_t dot = methodName.rfind('.'); dot != std::string_view::npos) {
    ev.verb = methodName.substr(dot + 1);
  }
  ev.stage =
      (first && !last) ? std::string_view("ResponseStarted") : std::string_view("ResponseComplete");
  ev.level = ev.hasRequestObject || ev.hasResponseObject ? std::string_view("RequestResponse")
                                                         : std::string_view("Metadata");
  ev.apiVersion = {};
  // resourceName: <group>/<version>/[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]
  std::vector<std::string_view> parts;
  for (std::string_view rest = resourceName; !rest.empty();) {
    size_t slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  }
  // A resource request's method is io.k8s.<group>.<version>.<resource>[.<subresource>].<verb>;
  // a non-resource one (a health probe, discovery) is io.k8s.<verb> with the path as its name.
  const bool resourceMethod =
      std::count(methodName.begin(), methodName.end(), '.') >= 5 && resourceName.rfind('/', 0) != 0;
  if (parts.size() >= 3 && resourceMethod) {
    ev.hasObjectRef = true;
    ev.objectRef.apiGroup = parts[0] == "core" ? std::string_view{} : parts[0];
    ev.objectRef.apiVersion = parts[1];
    size_t i = 2;
    if (parts.size() >= 5 && parts[2] == "namespaces") {
      ev.objectRef.namespace_ = parts[3];
      i = 4;
    }
    ev.objectRef.resource = parts[i];
    if (i + 1 < parts.size()) ev.objectRef.name = parts[i + 1];
    if (i + 2 < parts.size()) ev.objectRef.subresource = parts[i + 2];
  }
  if (ev.auditID.empty() || ev.verb.empty()) {
    reject(stats, RejectReason::kMissingField);
    return;
  }
  // Valid while onEvent runs, as the views into the document are.
  const std::string requestURI = gkeRequestUri(resourceName, ev.hasObjectRef, ev.requestObject);
  ev.requestURI = requestURI;
  ev.timeMicros = firstTime({timestamp});
  ev.stageTimestamp = timestamp;
  ++stats.events;
  onEvent(ev);
}

}  // namespace kc::audit
