#include "policies/yaml_json.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <unordered_map>

namespace kc::policy {
namespace {

constexpr int kMaxDepth = 200;

YamlError errorAt(const YAML::Mark& mark, std::string message) {
  YamlError e;
  e.message = std::move(message);
  if (!mark.is_null()) {
    e.line = mark.line + 1;
    e.column = mark.column + 1;
  }
  return e;
}

bool isNullWord(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool parseBoolWord(const std::string& s, bool& out) {
  if (s == "true" || s == "True" || s == "TRUE") {
    out = true;
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    out = false;
    return true;
  }
  return false;
}

// Integers: decimal, 0x hex, 0o octal, and a leading-zero octal as Kubernetes' YAML reader
// accepts for file modes (`defaultMode: 0644` is 420).
bool parseIntWord(const std::string& s, nlohmann::ordered_json& out) {
  if (s.empty()) return false;
  size_t i = 0;
  bool negative = false;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    i = 1;
  }
  if (i >= s.size()) return false;
  int base = 10;
  std::string_view digits(s.data() + i, s.size() - i);
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  } else if (digits.size() > 2 && digits[0] == '0' && digits[1] == 'o') {
    base = 8;
    digits.remove_prefix(2);
  } else if (digits.size() > 1 && digits[0] == '0') {
    base = 8;
    digits.remove_prefix(1);
  }
  if (digits.empty()) return false;
  for (char c : digits) {
    bool ok = base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) != 0
                         : (c >= '0' && c <= (base == 8 ? '7' : '9'));
    if (!ok) return false;
  }
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) {
    if (ec == std::errc::result_out_of_range && base == 10) {
      out = std::stod(s);  // beyond 64 bits: a float, as Go's YAML reader does
      return true;
    }
    return false;
  }
  if (negative) {
    if (value > static_cast<uint64_t>(INT64_MAX) + 1) {
      out = -static_cast<double>(value);
    } else {
      out = static_cast<int64_t>(0 - value);
    }
  } else if (value <= static_cast<uint64_t>(INT64_MAX)) {
    out = static_cast<int64_t>(value);
  } else {
    out = value;
  }
  return true;
}

// [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
bool looksLikeFloat(const std::string& s) {
  size_t i = 0, n = s.size();
  if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
  size_t intDigits = 0, fracDigits = 0;
  while (i < n && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++intDigits;
  bool dot = false;
  if (i < n && s[i] == '.') {
    dot = true;
    ++i;
    while (i < n && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++fracDigits;
  }
  if (intDigits == 0 && fracDigits == 0) return false;
  bool exp = false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    exp = true;
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    size_t expDigits = 0;
    while (i < n && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++expDigits;
    if (expDigits == 0) return false;
  }
  return i == n && (dot || exp);
}

bool isSpecialFloat(const std::string& s) {
  std::string_view v = s;
  if (!v.empty() && (v[0] == '+' || v[0] == '-')) v.remove_prefix(1);
  return v == ".inf" || v == ".Inf" || v == ".INF" || s == ".nan" || s == ".NaN" || s == ".NAN";
}

constexpr std::string_view kTagPrefix = "tag:yaml.org,2002:";

bool convertScalar(const YAML::Node& node, nlohmann::ordered_json& out,
                   std::vector<YamlError>& errors) {
  const std::string& tag = node.Tag();
  const std::string& s = node.Scalar();
  if (tag == "!") {  // quoted or block scalar: always a string
    out = s;
    return true;
  }
  std::string_view core;
  if (tag != "?" && !tag.empty()) {
    if (tag.rfind(kTagPrefix, 0) != 0) {
      out = s;  // local tags (`!foo`) carry no JSON meaning; keep the text
      return true;
    }
    core = std::string_view(tag).substr(kTagPrefix.size());
  }
  if (core == "str") {
    out = s;
    return true;
  }
  if ((core.empty() || core == "null") && isNullWord(s)) {
    out = nullptr;
    return true;
  }
  bool b = false;
  if ((core.empty() || core == "bool") && parseBoolWord(s, b)) {
    out = b;
    return true;
  }
  if ((core.empty() || core == "int") && parseIntWord(s, out)) return true;
  if ((core.empty() || core == "float") &&
      (looksLikeFloat(s) || (core == "float" && parseIntWord(s, out)))) {
    out = std::stod(s);
    return true;
  }
  if (isSpecialFloat(s) && (core.empty() || core == "float")) {
    errors.push_back(errorAt(
        node.Mark(), "value \"" + s + "\" (infinity or NaN) cannot be represented in JSON"));
    return false;
  }
  if (!core.empty()) {
    errors.push_back(
        errorAt(node.Mark(), "value \"" + s + "\" is not a valid !!" + std::string(core)));
    return false;
  }
  out = s;
  return true;
}

bool convert(const YAML::Node& node, nlohmann::ordered_json& out, int depth,
             std::vector<YamlError>& errors) {
  if (depth > kMaxDepth) {
    errors.push_back(errorAt(
        node.Mark(), "document nested deeper than " + std::to_string(kMaxDepth) + " levels"));
    return false;
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out = nullptr;
      return true;
    case YAML::NodeType::Scalar:
      return convertScalar(node, out, errors);
    case YAML::NodeType::Sequence: {
      out = nlohmann::ordered_json::array();
      for (const auto& item : node) {
        nlohmann::ordered_json v;
        if (!convert(item, v, depth + 1, errors)) return false;
        out.push_back(std::move(v));
      }
      return true;
    }
    case YAML::NodeType::Map: {
      out = nlohmann::ordered_json::object();
      for (const auto& kv : node) {
        const YAML::Node& key = kv.first;
        if (!key.IsScalar() && !key.IsNull()) {
          errors.push_back(errorAt(key.Mark(), "mapping keys must be scalars"));
          return false;
        }
        std::string k = key.IsNull() ? std::string("null") : key.Scalar();
        if (out.contains(k)) {
          errors.push_back(errorAt(key.Mark(), "duplicate key \"" + k + "\""));
          return false;
        }
        nlohmann::ordered_json v;
        if (!convert(kv.second, v, depth + 1, errors)) return false;
        out[k] = std::move(v);
      }
      return true;
    }
  }
  return false;
}

// Walks the parser's events and measures each document as it would be after alias expansion,
// refusing recursive aliases (which also leak inside yaml-cpp) and "billion laughs" documents.
class AliasGuard : public YAML::EventHandler {
 public:
  explicit AliasGuard(uint64_t limit) : limit_(limit) {}

  bool failed() const { return failed_; }
  const YamlError& error() const { return error_; }

  void OnDocumentStart(const YAML::Mark&) override {
    sizes_.clear();
    stack_.clear();
    total_ = 0;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { done(mark, anchor, 1); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = sizes_.find(anchor);
    if (it == sizes_.end()) {
      fail(mark, "alias refers to a node that contains it (recursive alias)");
      return;
    }
    done(mark, 0, it->second);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string&) override {
    done(mark, anchor, 1);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    stack_.push_back({anchor, 1, mark});
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    stack_.push_back({anchor, 1, mark});
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    YAML::anchor_t anchor;
    uint64_t size;
    YAML::Mark mark;
  };

  void fail(const YAML::Mark& mark, std::string message) {
    if (failed_) return;
    failed_ = true;
    error_ = errorAt(mark, std::move(message));
  }
  void close() {
    if (stack_.empty()) return;
    Frame f = stack_.back();
    stack_.pop_back();
    done(f.mark, f.anchor, f.size);
  }
  void done(const YAML::Mark& mark, YAML::anchor_t anchor, uint64_t size) {
    if (anchor != 0) sizes_[anchor] = size;
    if (!stack_.empty()) {
      stack_.back().size += size;
      if (stack_.back().size > limit_) stack_.back().size = limit_ + 1;
    }
    total_ += size;
    if (total_ > limit_) {
      fail(mark,
           "document expands to more than " + std::to_string(limit_) + " nodes through aliases");
    }
  }

  uint64_t limit_;
  uint64_t total_ = 0;
  bool failed_ = false;
  YamlError error_;
  std::vector<Frame> stack_;
  std::unordered_map<YAML::anchor_t, uint64_t> sizes_;
};

}  // namespace

bool checkYamlAliases(std::string_view text, YamlError& error, uint64_t maxExpandedNodes) {
  // YAML streams may only hold printable characters; C0 controls other than tab, LF and CR
  // are not YAML, and some of them send yaml-cpp 0.7's scanner into an endless loop.
  int line = 1, column = 1;
  for (unsigned char c : text) {
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      static const char* kHex = "0123456789abcdef";
      error = YamlError{std::string("control character 0x") + kHex[c >> 4] + kHex[c & 15] +
                            " is not allowed in YAML",
                        line, column};
      return false;
    }
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  // yaml-cpp 0.7 can loop forever on a ',' in block context that does not continue a plain
  // scalar (a document that is just ",", or `"a",`). Such a ',' is never valid YAML, so it is
  // refused up front. Flow collections, quoted scalars, comments and block scalars are skipped;
  // a multi-line plain scalar whose continuation line starts with ',' is refused too (rare).
  int flowDepth = 0;
  char quote = 0;        // open (possibly multi-line) quoted scalar
  int blockIndent = -1;  // >= 0: inside a block scalar introduced at this indentation
  line = 0;
  size_t pos = 0;
  while (true) {
    size_t eol = text.find('\n', pos);
    std::string_view l =
        text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    ++line;
    int indent = 0;
    while (indent < static_cast<int>(l.size()) && l[indent] == ' ') ++indent;
    bool blank = l.find_first_not_of(" \t\r") == std::string_view::npos;
    if (blockIndent >= 0 && (blank || indent > blockIndent)) {
      // block scalar content
    } else {
      blockIndent = -1;
      bool inPlain = false;  // the previous significant character continues a plain scalar
      char lastToken = 0;
      size_t lastTokenEnd = 0;
      size_t i = 0;
      while (i < l.size()) {
        char c = l[i];
        if (quote != 0) {
          if (quote == '"' && c == '\\') {
            i += 2;
            continue;
          }
          if (c == quote) {
            if (quote == '\'' && i + 1 < l.size() && l[i + 1] == '\'') {
              i += 2;
              continue;
            }
            quote = 0;
            inPlain = false;
          }
          ++i;
          continue;
        }
        if (c == ' ' || c == '\t' || c == '\r') {
          ++i;
          continue;
        }
        if (c == '#' && (i == 0 || l[i - 1] == ' ' || l[i - 1] == '\t')) break;
        bool spaceAfter =
            i + 1 == l.size() || l[i + 1] == ' ' || l[i + 1] == '\t' || l[i + 1] == '\r';
        lastToken = c;
        lastTokenEnd = i;
        if (flowDepth == 0 && !inPlain) {
          if (c == ',') {
            error = YamlError{"a value cannot start with ','", line, static_cast<int>(i) + 1};
            return false;
          }
          if ((c == '-' || c == '?' || c == ':') && spaceAfter) {  // block indicators
            ++i;
            continue;
          }
          if (c == '-' && l.substr(i, 3) == "---") {
            i += 3;
            continue;
          }
          if (c == '!' || c == '&' || c == '*') {  // properties and aliases
            ++i;
            while (i < l.size() && l[i] != ' ' && l[i] != '\t' && l[i] != ',' && l[i] != '[' &&
                   l[i] != ']' && l[i] != '{' && l[i] != '}') {
              ++i;
            }
            continue;
          }
          if (c == '"' || c == '\'') {
            quote = c;
            ++i;
            continue;
          }
          if (c == '[' || c == '{') {
            ++flowDepth;
            ++i;
            continue;
          }
          if (c == '|' || c == '>') {
            ++i;
            continue;
          }
          inPlain = true;  // a plain scalar starts here
          ++i;
          continue;
        }
        if (flowDepth == 0) {  // inside a plain scalar
          if (c == ':' && spaceAfter) inPlain = false;
          ++i;
          continue;
        }
        // flow context: quotes only open a scalar at the start of a token
        bool tokenStart = i == 0 || l[i - 1] == ' ' || l[i - 1] == '\t' || l[i - 1] == '[' ||
                          l[i - 1] == '{' || l[i - 1] == ',';
        if ((c == '"' || c == '\'') && tokenStart) {
          quote = c;
        } else if (c == '[' || c == '{') {
          ++flowDepth;
        } else if (c == ']' || c == '}') {
          if (--flowDepth == 0) inPlain = false;
        }
        ++i;
      }
      // "key: |", "- >-", "|2": a block scalar follows on more-indented lines.
      if (quote == 0 && flowDepth == 0 && lastToken != 0) {
        size_t b = lastTokenEnd;
        while (b > 0 &&
               (std::isdigit(static_cast<unsigned char>(l[b])) || l[b] == '+' || l[b] == '-'))
          --b;
        if ((l[b] == '|' || l[b] == '>') && (b == 0 || l[b - 1] == ' ')) blockIndent = indent;
      }
    }
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }

  std::istringstream in{std::string(text)};
  AliasGuard guard(maxExpandedNodes);
  // Every document takes at least a few bytes of the text. yaml-cpp 0.7 can stop advancing on
  // some malformed input and then hand out empty documents forever (found by the loader
  // fuzzer; YAML::LoadAll would loop the same way): more documents than that is an error.
  const size_t maxDocuments = text.size() / 3 + 2;
  size_t documents = 0;
  try {
    YAML::Parser parser(in);
    while (!guard.failed() && parser.HandleNextDocument(guard)) {
      if (++documents > maxDocuments) {
        error = YamlError{"the YAML parser stopped advancing (malformed input)", 0, 0};
        return false;
      }
    }
  } catch (const YAML::Exception& e) {
    error = errorAt(e.mark, e.msg);
    return false;
  }
  if (guard.failed()) {
    error = guard.error();
    return false;
  }
  return true;
}

std::string YamlError::toString() const {
  if (line == 0) return message;
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message;
}

YamlParseResult parseYaml(std::string_view text) {
  YamlParseResult result;
  std::vector<YAML::Node> nodes;
  if (YamlError e; !checkYamlAliases(text, e)) {
    result.errors.push_back(std::move(e));
    return result;
  }
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    result.errors.push_back(errorAt(e.mark, e.msg));
    return result;
  } catch (const std::exception& e) {
    result.errors.push_back(YamlError{e.what(), 0, 0});
    return result;
  }
  for (const auto& node : nodes) {
    if (node.IsNull() || !node.IsDefined()) continue;
    YamlDocument doc;
    doc.line = node.Mark().is_null() ? 0 : node.Mark().line + 1;
    try {
      if (!convert(node, doc.value, 0, result.errors)) return result;
    } catch (const std::exception& e) {
      result.errors.push_back(errorAt(node.Mark(), e.what()));
      return result;
    }
    result.documents.push_back(std::move(doc));
  }
  return result;
}

bool yamlToJsonStrings(std::string_view text, std::vector<std::string>& out, YamlError& error) {
  YamlParseResult r = parseYaml(text);
  if (!r.ok()) {
    error = r.errors.front();
    return false;
  }
  out.clear();
  out.reserve(r.documents.size());
  for (const auto& d : r.documents) out.push_back(d.value.dump());
  return true;
}

}  // namespace kc::policy
