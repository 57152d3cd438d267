#pragma once
// Cutting text from outside to a size without splitting a character. Header-only, no I/O, so
// the policy engine can use it too. A cut lands before the lead byte of the character that
// would cross the cap; bytes that are not valid UTF-8 are left for the JSON writer to replace.

#include <cstddef>
#include <string>
#include <string_view>

namespace kc::utf8 {

// The longest prefix of `s` of at most `maxBytes` bytes that does not end inside a multi-byte
// character (continuation bytes 10xxxxxx are never left without their lead byte).
inline std::string_view prefix(std::string_view s, std::size_t maxBytes) {
  if (s.size() <= maxBytes) return s;
  std::size_t cut = maxBytes;
  // Step back over at most three continuation bytes to the lead byte of the cut character.
  for (int i = 0; i < 3 && cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80; ++i)
    --cut;
  return s.substr(0, cut);
}

// Text with a cap: pieces are appended while they fit; the first that does not is cut on a
// character boundary and marked with "…", and every later piece is only counted. finish()
// adds " (and N more <noun>)" when pieces were left out, within the cap.
class CappedText {
 public:
  // Room kept for the ellipsis and the "and N more" suffix.
  static constexpr std::size_t kSuffixRoom = 64;

  explicit CappedText(std::size_t maxBytes)
      : limit_(maxBytes > kSuffixRoom ? maxBytes - kSuffixRoom : 0) {}

  // Appends `sep` (unless the text is empty) and `piece`.
  void add(std::string_view sep, std::string_view piece) {
    if (full_) {
      ++omitted_;
      return;
    }
    if (text_.empty()) sep = {};
    if (text_.size() + sep.size() + piece.size() <= limit_) {
      text_ += sep;
      text_ += piece;
      return;
    }
    full_ = true;
    const std::size_t room =
        limit_ > text_.size() + sep.size() ? limit_ - text_.size() - sep.size() : 0;
    const std::string_view part = prefix(piece, room);
    if (part.empty()) {
      ++omitted_;  // not even a character of it fits: counted as left out
      return;
    }
    text_ += sep;
    text_ += part;
    text_ += "\xE2\x80\xA6";  // …
  }

  // The text, with " (and N more <noun>)" when whole pieces were left out.
  std::string finish(std::string_view noun) && {
    if (omitted_ > 0) {
      text_ += " (and ";
      text_ += std::to_string(omitted_);
      text_ += " more ";
      text_ += noun;
      text_ += ")";
    }
    return std::move(text_);
  }

  bool empty() const { return text_.empty() && omitted_ == 0; }
  std::size_t omitted() const { return omitted_; }

 private:
  std::size_t limit_;
  std::string text_;
  std::size_t omitted_ = 0;
  bool full_ = false;
};

}  // namespace kc::utf8
