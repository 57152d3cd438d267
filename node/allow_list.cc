#include "node/allow_list.h"

#include <algorithm>

#include "policies/rules.h"

namespace kc::node {

bool OutsideAllowList::parse(const std::vector<std::string>& entries, OutsideAllowList& out,
                             std::string& error) {
  out.entries_.clear();
  for (const std::string& text : entries) {
    Entry e;
    e.text = text;
    std::string_view rest = text;
    std::string why;
    if (rest.starts_with("name:")) {
      e.kind = Entry::Kind::kName;
      e.pattern = std::string(rest.substr(5));
      if (e.pattern.empty()) why = "an empty name pattern";
    } else if (rest.starts_with("label:")) {
      e.kind = Entry::Kind::kLabel;
      rest.remove_prefix(6);
      const std::size_t eq = rest.find('=');
      if (eq == std::string_view::npos || eq == 0) {
        why = "expected label:<key>=<value glob>";
      } else {
        e.key = std::string(rest.substr(0, eq));
        e.pattern = std::string(rest.substr(eq + 1));
      }
    } else {
      if (rest.starts_with("image:")) rest.remove_prefix(6);
      e.kind = Entry::Kind::kImage;
      if (!policy::ImageGlob::parse(rest, e.image, &why) && why.empty()) why = "not an image glob";
    }
    if (!why.empty()) {
      error = "node.allowedOutsideKubernetes entry \"" + text + "\": " + why;
      return false;
    }
    out.entries_.push_back(std::move(e));
  }
  return true;
}

std::string OutsideAllowList::allows(const Container& c) const {
  policy::ImageRef ref;
  const bool haveRef = policy::parseImageRef(c.image, ref);
  for (const Entry& e : entries_) {
    switch (e.kind) {
      case Entry::Kind::kImage:
        if (haveRef && e.image.matches(ref)) return e.text;
        break;
      case Entry::Kind::kName:
        if (policy::wildcardMatch(e.pattern, c.name)) return e.text;
        break;
      case Entry::Kind::kLabel:
        if (const std::string* v = c.label(e.key); v && policy::wildcardMatch(e.pattern, *v))
          return e.text;
        break;
    }
  }
  return {};
}

}  // namespace kc::node
