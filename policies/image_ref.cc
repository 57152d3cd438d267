#include "policies/image_ref.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace kc::policy {
namespace {

constexpr size_t kMaxNameLength = 255;

// ASCII only: references are ASCII by grammar, and the C locale must not change the answer.
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || isDigit(c); }
bool isAlnum(char c) { return isLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool isHexDigit(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
char lowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool isWordChar(char c) { return isAlnum(c) || c == '_'; }

// Hosts that serve Docker Hub's repositories: the legacy index name, the registry endpoint
// itself and its older name (`registry-1.docker.io/kalilinux/kali-rolling` and
// `registry.hub.docker.com/kalilinux/kali-rolling` pull the same image as
// `docker.io/kalilinux/kali-rolling`). `lowerHost` is in lower case, without a port.
bool isDockerHubAlias(std::string_view lowerHost) {
  return lowerHost == "index.docker.io" || lowerHost == "registry-1.docker.io" ||
         lowerHost == "registry.hub.docker.com";
}

// True for a port that is 443 as a number ("443", "0443", "00443"): the port an https registry
// is reached at without one, so `ghcr.io:443` is `ghcr.io`.
bool isDefaultHttpsPort(std::string_view digits) {
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos)
    return false;
  const size_t nonZero = digits.find_first_not_of('0');
  return nonZero != std::string_view::npos && digits.substr(nonZero) == "443";
}

bool fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}

// path-component := [a-z0-9]+ ( ( [_.] | __ | -+ ) [a-z0-9]+ )*
bool validPathComponent(std::string_view s) {
  if (s.empty() || !isLowerAlnum(s.front()) || !isLowerAlnum(s.back())) return false;
  size_t i = 0;
  while (i < s.size()) {
    if (isLowerAlnum(s[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && !isLowerAlnum(s[j])) ++j;
    std::string_view sep = s.substr(i, j - i);
    bool ok = sep == "." || sep == "_" || sep == "__" ||
              sep.find_first_not_of('-') == std::string_view::npos;
    if (!ok) return false;
    i = j;
  }
  return true;
}

// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool validDomainComponent(std::string_view s) {
  if (s.empty() || !isAlnum(s.front()) || !isAlnum(s.back())) return false;
  for (char c : s) {
    if (!isAlnum(c) && c != '-') return false;
  }
  return true;
}

bool validDomain(std::string_view d) {
  std::string_view host = d;
  if (!d.empty() && d.front() == '[') {  // [IPv6]:port
    size_t close = d.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (char c : d.substr(1, close - 1)) {
      if (!isHexDigit(c) && c != ':') return false;
    }
    host = {};
    d = d.substr(close + 1);
    if (d.empty()) return true;
    if (d.front() != ':') return false;
  } else if (size_t colon = d.rfind(':'); colon != std::string_view::npos) {
    host = d.substr(0, colon);
    d = d.substr(colon);
  } else {
    d = {};
  }
  if (!d.empty()) {  // ":port"
    std::string_view port = d.substr(1);
    if (port.empty() || port.size() > 5) return false;
    for (char c : port) {
      if (!isDigit(c)) return false;
    }
  }
  size_t start = 0;
  while (!host.empty()) {
    size_t dot = host.find('.', start);
    std::string_view comp =
        host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!validDomainComponent(comp)) return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

bool validTag(std::string_view t) {
  if (t.empty() || t.size() > 128 || !isWordChar(t.front())) return false;
  for (char c : t) {
    if (!isWordChar(c) && c != '.' && c != '-') return false;
  }
  return true;
}

// The digests the OCI image spec registers: sha256 (64 lowercase hex) and sha512 (128).
bool validDigest(std::string_view d, std::string* error) {
  const size_t colon = d.find(':');
  const std::string_view algorithm = d.substr(0, colon);
  const size_t want = algorithm == "sha256" ? 64 : algorithm == "sha512" ? 128 : 0;
  if (colon == std::string_view::npos || want == 0) {
    return fail(error,
                "digest \"" + std::string(d) + "\" must start with \"sha256:\" (or \"sha512:\")");
  }
  std::string_view hex = d.substr(colon + 1);
  const std::string shape =
      "digest must be \"" + std::string(algorithm) + ":\" followed by " + std::to_string(want);
  if (hex.size() != want) {
    return fail(error, shape + " hex characters, got " + std::to_string(hex.size()));
  }
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return fail(error, shape + " lowercase hex characters");
    }
  }
  return true;
}

bool hasUpper(std::string_view s) {
  return s.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string_view::npos;
}

bool equalsLower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (lowerAscii(s[i]) != lower[i]) return false;
  }
  return true;
}

// Docker's rule for telling a registry from a first path component of a reference.
bool looksLikeDomain(std::string_view first) {
  return first.find_first_of(".:") != std::string_view::npos || first == "localhost" ||
         hasUpper(first) || (!first.empty() && first.front() == '[');
}

// The same rule for the first segment of an image pattern, without "has an upper-case letter":
// repository names are lower case, and a pattern such as `Acme/Miner` is a mistake to report, not
// a host named `acme` (a registry host in a pattern has a `.`, a port, or is `localhost`).
bool patternRegistry(std::string_view first) {
  return first.find_first_of(".:") != std::string_view::npos || equalsLower(first, "localhost") ||
         (!first.empty() && first.front() == '[');
}

std::string toLower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lowerAscii(c);
  return out;
}

// Appends the form of `registry` that names and globs are compared in: lower case (host names
// are case-insensitive), without a port that is 443 as a number (the runtimes reach `ghcr.io`
// at https port 443, so `ghcr.io:443` and `ghcr.io:00443` are `ghcr.io`; any other port is
// another registry), and with Docker Hub's other names as `docker.io`. `[v6]:443` is `[v6]`.
void appendMatchRegistry(std::string_view registry, std::string& out) {
  const size_t start = out.size();
  for (char c : registry) out += lowerAscii(c);
  std::string_view host(out.data() + start, out.size() - start);
  size_t colon = std::string_view::npos;
  if (!host.empty() && host.front() == '[') {
    if (size_t close = host.find(']');
        close != std::string_view::npos && close + 1 < host.size() && host[close + 1] == ':') {
      colon = close + 1;
    }
  } else {
    colon = host.rfind(':');
  }
  if (colon != std::string_view::npos && isDefaultHttpsPort(host.substr(colon + 1))) {
    out.resize(start + colon);
    host = std::string_view(out.data() + start, colon);
  }
  if (isDockerHubAlias(host)) {
    out.resize(start);
    out += "docker.io";
  }
}

std::string matchRegistry(std::string_view registry) {
  std::string out;
  appendMatchRegistry(registry, out);
  return out;
}

// The registry a reference is shown and kept under (ImageRef::registry): its comparison form when
// that still reads as a registry in front of a path, so that canonical() parses back to the same
// image. Otherwise (`Acme`, `acme:443`: lower-cased or without the port, a one-label host would
// read as a Docker Hub namespace) the domain as written; globs still compare it in its
// comparison form (imageNameSegments).
std::string displayRegistry(std::string_view domain) {
  std::string m = matchRegistry(domain);
  if (looksLikeDomain(m)) return m;
  return std::string(domain);
}

void splitInto(std::string_view s, std::vector<std::string_view>& out) {
  out.clear();
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    out.push_back(
        s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
}

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  splitInto(s, out);
  return out;
}

// `*` and `?` within one segment.
bool matchSegment(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, starP = std::string_view::npos, starS = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi, ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      starP = pi++;
      starS = si;
    } else if (starP != std::string_view::npos) {
      pi = starP + 1;
      si = ++starS;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool isDoubleStar(std::string_view p) { return p == "**"; }
bool segmentMatches(std::string_view p, std::string_view s) { return matchSegment(p, s); }
template <typename Seg>
bool isDoubleStar(const Seg& p) {
  return p.doubleStar;
}
template <typename Seg>
bool segmentMatches(const Seg& p, std::string_view s) {
  return p.literal ? p.text == s : matchSegment(p.text, s);
}

// Matches pattern segments against name segments; with `prefix`, the pattern may also match a
// leading part of the name on a segment boundary. The same algorithm as matchSegment one level
// up: `**` takes any number of segments (none included), every other pattern segment exactly
// one. On a mismatch only the latest `**` takes one more segment: whatever an earlier `**` could
// take instead, the latest can take too. So the work is at most pattern segments x name
// segments; trying every split for every `**` was exponential in their number (found by the
// image_ref fuzzer: a pattern of a few hundred `**` against a short name ran for minutes).
template <typename P>
bool matchSegments(const std::vector<P>& p, const std::vector<std::string_view>& n, bool prefix) {
  constexpr size_t kNone = static_cast<size_t>(-1);
  size_t pi = 0, ni = 0, starP = kNone, starN = 0;
  while (true) {
    if (pi == p.size()) {
      if (ni == n.size() || (prefix && ni > 0)) return true;
    } else if (isDoubleStar(p[pi])) {
      starP = pi++;
      starN = ni;
      continue;
    } else if (ni < n.size() && segmentMatches(p[pi], n[ni])) {
      ++pi, ++ni;
      continue;
    }
    if (starP == kNone || starN >= n.size()) return false;
    pi = starP + 1;
    ni = ++starN;
  }
}

}  // namespace

std::string ImageRef::canonical() const {
  std::string s = name();
  if (hasTag()) s += ":" + tag;
  if (hasDigest()) s += "@" + digest;
  return s;
}

bool parseImageRef(std::string_view text, ImageRef& out, std::string* error) {
  // Cleared, not replaced: a caller parsing many references reuses the strings' storage.
  out.registry.clear();
  out.repository.clear();
  out.tag.clear();
  out.digest.clear();
  if (text.empty()) return fail(error, "image reference is empty");
  if (text.size() > 4096) return fail(error, "image reference is too long");
  std::string_view rest = text;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    if (!validDigest(rest.substr(at + 1), error)) return false;
    out.digest.assign(rest.substr(at + 1));
    rest = rest.substr(0, at);
  }
  // A tag is a ':' after the last '/'; an earlier ':' is a registry port.
  size_t lastSlash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos &&
      (lastSlash == std::string_view::npos || colon > lastSlash)) {
    std::string_view tag = rest.substr(colon + 1);
    if (!validTag(tag)) {
      return fail(
          error,
          "invalid tag \"" + std::string(tag) +
              "\" (want up to 128 letters, digits, '_', '.', '-', not starting with '.' or '-')");
    }
    out.tag.assign(tag);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return fail(error, "image reference has no repository name");
  std::string_view remote = rest;
  size_t slash = rest.find('/');
  if (slash != std::string_view::npos && looksLikeDomain(rest.substr(0, slash))) {
    std::string_view domain = rest.substr(0, slash);
    if (!validDomain(domain))
      return fail(error, "invalid registry \"" + std::string(domain) + "\"");
    // In lower case, without an explicit :443, and with Docker Hub's other names as docker.io:
    // `REGISTRY-1.DOCKER.IO:443/kalilinux/x` pulls `docker.io/kalilinux/x` and must meet the same
    // globs (and be shown, and learnt by the baseline, under the same name).
    out.registry = displayRegistry(domain);
    remote = rest.substr(slash + 1);
  } else {
    out.registry.assign("docker.io");
  }
  for (size_t start = 0;;) {
    const size_t slash = remote.find('/', start);
    const std::string_view comp = remote.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (comp.empty()) return fail(error, "repository name has an empty path component");
    if (!validPathComponent(comp)) {
      if (comp != toLower(comp)) return fail(error, "repository name must be lowercase");
      return fail(error, "invalid repository path component \"" + std::string(comp) + "\"");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (out.registry == "docker.io" && remote.find('/') == std::string_view::npos)
    out.repository.assign("library/");
  out.repository.append(remote);
  if (out.registry.size() + 1 + out.repository.size() > kMaxNameLength) {
    return fail(error, "image name \"" + out.name() + "\" is longer than 255 characters");
  }
  return true;
}

bool globMatchSegments(std::string_view pattern, std::string_view name) {
  return matchSegments(split(pattern), split(name), false);
}

void imageNameSegments(const ImageRef& ref, std::string& storage,
                       std::vector<std::string_view>& name,
                       std::vector<std::string_view>& familiar) {
  storage.clear();
  appendMatchRegistry(ref.registry, storage);
  storage += '/';
  storage += ref.repository;
  splitInto(storage, name);
  familiar.clear();
  if (name.size() > 2 && name[0] == "docker.io" && name[1] == "library") {
    familiar.assign(name.begin(), name.end());
    familiar.erase(familiar.begin() + 1);
  }
}

bool ImageGlob::parse(std::string_view pattern, ImageGlob& out, std::string* error) {
  // "=name": that repository exactly, nothing below it.
  if (!pattern.empty() && pattern.front() == '=') {
    if (pattern.size() > 1 && pattern[1] == '=')
      return fail(error,
                  "image pattern \"" + std::string(pattern) + "\" has invalid character '='");
    ImageGlob inner;
    if (!parse(pattern.substr(1), inner, error)) return false;
    inner.exact_ = true;
    inner.original_ = std::string(pattern);
    inner.normalized_ = "=" + inner.normalized_;
    inner.anySegment_.clear();  // the fast path is for the prefix rule
    out = std::move(inner);
    return true;
  }
  if (pattern.empty()) return fail(error, "image pattern is empty");
  const std::string quoted = "image pattern \"" + std::string(pattern) + "\"";
  if (pattern.find('@') != std::string_view::npos)
    return fail(error, quoted + " must name repositories, not digests");
  auto parts = split(pattern);
  // The first segment is a registry when it has a '.' or a ':' (a port), is `localhost` or is a
  // bracketed IPv6 address; `**` first spans registries and repositories; otherwise the pattern
  // is on docker.io. Everything else is the repository path.
  const bool hasRegistry = parts[0] != "**" && patternRegistry(parts[0]);
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string_view p = parts[i];
    const bool registrySegment = hasRegistry && i == 0;
    if (registrySegment && p.front() == '[') {  // [v6] or [v6]:port, no wildcards
      if (!validDomain(p)) return fail(error, quoted + " has an invalid IPv6 registry");
      continue;
    }
    if (p.empty()) return fail(error, quoted + " has an empty path segment");
    if (p.find("**") != std::string_view::npos && p != "**")
      return fail(error, quoted + ": '**' must be a whole path segment");
    if (registrySegment) {
      // A port: digits, or wildcards over them in front of a path (`ghcr.io:*/acme`). Alone,
      // `nginx:latest` or `nginx:*` is a tag, not a registry.
      if (size_t colon = p.rfind(':'); colon != std::string_view::npos) {
        const std::string_view port = p.substr(colon + 1);
        const char* portChars = parts.size() == 1 ? "0123456789" : "0123456789*?";
        if (port.empty() || port.find_first_not_of(portChars) != std::string_view::npos) {
          if (parts.size() == 1)
            return fail(error, quoted + " must not contain a tag; use a separate tag rule");
          return fail(error,
                      quoted + " has an invalid registry port \"" + std::string(port) + "\"");
        }
      }
    }
    for (char c : p) {
      const bool ok = isAlnum(c) || c == '.' || c == '_' || c == '-' || c == '*' || c == '?' ||
                      (c == ':' && registrySegment);
      if (ok) continue;
      if (c == ':' && i + 1 == parts.size())
        return fail(error, quoted + " must not contain a tag; use a separate tag rule");
      return fail(error, quoted + " has invalid character '" + std::string(1, c) + "'");
    }
  }
  // Repository names are lower case (images with upper case in the path are invalid), so an
  // upper-case letter after the registry would make a pattern that loads and never matches: a
  // deny or exemption rule that silently does nothing. Registry hosts are case-insensitive.
  for (size_t i = hasRegistry ? 1 : 0; i < parts.size(); ++i) {
    if (hasUpper(parts[i])) {
      return fail(error, quoted +
                             " has upper-case letters in its repository path; repository names "
                             "are always lower case, so it would never match (write \"" +
                             toLower(pattern) + "\")");
    }
  }
  std::string normalized;
  if (parts[0] == "**") {
    normalized = std::string(pattern);  // any registry
  } else if (hasRegistry) {
    // Compared as references are: lower case, no :443, Docker Hub's other names as docker.io.
    appendMatchRegistry(parts[0], normalized);
    normalized += pattern.substr(parts[0].size());
  } else {
    normalized = "docker.io/" + std::string(pattern);
  }
  out.original_ = std::string(pattern);
  out.normalized_ = std::move(normalized);
  out.exact_ = false;
  out.segments_.clear();
  for (auto seg : split(out.normalized_)) {
    out.segments_.push_back(
        {std::string(seg), seg == "**", seg.find_first_of("*?") == std::string_view::npos});
  }
  out.anySegment_.clear();
  if (out.segments_.size() == 2 && out.segments_[0].doubleStar && out.segments_[1].literal) {
    out.anySegment_ = out.segments_[1].text;
  }
  return true;
}

bool ImageGlob::matches(const std::vector<std::string_view>& name,
                        const std::vector<std::string_view>& familiar) const {
  if (!anySegment_.empty()) {
    // "**/x" with the prefix rule: some segment of the name is exactly x.
    for (auto seg : name) {
      if (seg == anySegment_) return true;
    }
    return false;
  }
  // Official images: `nginx` and `docker.io/nginx` name `docker.io/library/nginx`.
  return matchSegments(segments_, name, !exact_) ||
         (!familiar.empty() && matchSegments(segments_, familiar, !exact_));
}

bool ImageGlob::matches(const ImageRef& ref) const {
  std::string storage;
  std::vector<std::string_view> name, familiar;
  imageNameSegments(ref, storage, name, familiar);
  return matches(name, familiar);
}

}  // namespace kc::policy
