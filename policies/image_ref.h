#pragma once
// Container image references, parsed per the Docker reference grammar with Docker's
// normalisation (implicit `docker.io` and `library/`; `index.docker.io`, `registry-1.docker.io`
// and `registry.hub.docker.com` are `docker.io`; a first component with `.` or `:` or equal to
// `localhost` is a registry, so `host:5000/img` has no tag), plus: registry hosts in lower case
// and an explicit port 443 dropped (`GHCR.IO:443/x` is `ghcr.io/x`, `ghcr.io:5000` stays another
// registry); and image globs matched on path-segment boundaries, so `openpolicyagent` or
// `docker.io/openpolicyagent/*` never admit `openpolicyagentnotreally/x`.
// Digests are those the OCI image spec registers: `sha256:` with 64 and `sha512:` with 128
// lowercase hex characters.
// Thread-safe: value types and pure functions.

#include <string>
#include <string_view>
#include <vector>

namespace kc::policy {

struct ImageRef {
  // "docker.io", "ghcr.io", "localhost:5000", "[::1]": lower case, without a port 443. Kept as
  // written only where that would make canonical() name another image (`Acme`, `acme:443`: a
  // one-label host would read as a Docker Hub namespace); globs compare those in that form too.
  std::string registry;
  std::string repository;  // "library/nginx", "openpolicyagent/opa"
  std::string tag;         // "" when the reference has none
  std::string digest;      // "sha256:<64 hex>", "sha512:<128 hex>" or ""

  bool hasTag() const { return !tag.empty(); }
  bool hasDigest() const { return !digest.empty(); }
  std::string name() const { return registry + "/" + repository; }  // "docker.io/library/nginx"
  std::string canonical() const;                                    // name()[:tag][@digest]
};

// Parses `text`; on failure returns false and explains why in `error` (when non-null).
bool parseImageRef(std::string_view text, ImageRef& out, std::string* error = nullptr);

// An image-name glob: `*` matches within one path segment, `**` any number of segments, `?` one
// character. A pattern without a registry is on docker.io (`nginx` means `docker.io/nginx`, which
// also names the official `docker.io/library/nginx`). A pattern matches the name itself and
// everything below it (`gcr.io/acme` matches `gcr.io/acme/api`, never `gcr.io/acmecorp/api`);
// one written `=name` matches that repository only (`=gcr.io/acme/api`, not `gcr.io/acme/api/x`).
class ImageGlob {
 public:
  // Returns false with a reason (naming the pattern) for empty patterns, tags/digests in
  // patterns, empty segments, characters that cannot appear in an image name, and upper-case
  // letters after the registry (repository names are lower case: `Acme/Miner` would never
  // match). The registry is compared in lower case without a port 443 (`GHCR.IO:443/acme` is
  // `ghcr.io/acme`); a first segment is a registry when it has `.` or `:`, is `localhost` or a
  // bracketed IPv6 address.
  static bool parse(std::string_view pattern, ImageGlob& out, std::string* error = nullptr);

  bool matches(const ImageRef& ref) const;
  // Faster form for many globs against one image: `name` from imageNameSegments().
  bool matches(const std::vector<std::string_view>& name,
               const std::vector<std::string_view>& familiar) const;
  const std::string& pattern() const { return original_; }
  // For "**/<literal>" patterns, the literal segment (matches when any name segment equals it);
  // empty otherwise. Lets callers index long deny lists.
  const std::string& anySegment() const { return anySegment_; }
  const std::string& normalized() const { return normalized_; }

 private:
  std::string original_;
  std::string normalized_;  // with registry, in comparison form (lower case, no :443, docker.io)
  struct Segment {
    std::string text;
    bool doubleStar = false;  // "**"
    bool literal = false;     // no '*' or '?'
  };
  std::vector<Segment> segments_;
  std::string anySegment_;  // set when the pattern is "**/<literal>": a fast path
  bool exact_ = false;      // "=name": no prefix rule
};

// The '/'-separated segments of ref.name(), and of its familiar form for official images
// ("docker.io/nginx" for "docker.io/library/nginx"; empty otherwise). Views into `storage`.
void imageNameSegments(const ImageRef& ref, std::string& storage,
                       std::vector<std::string_view>& name,
                       std::vector<std::string_view>& familiar);

// Segment-aware glob match of `pattern` against a slash-separated `name` (exact, no prefix rule).
bool globMatchSegments(std::string_view pattern, std::string_view name);

}  // namespace kc::policy
