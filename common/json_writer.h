#pragma once
// Minimal JSON text writing for hand-built serializers on hot paths (admission responses,
// audit findings).
// Strings are escaped exactly as nlohmann::json::dump(-1, ' ', false,
// error_handler_t::replace) escapes them: '"', '\\', \b \f \n \r \t, other control characters
// as \u00xx (lowercase hex), everything else as is (no escaping of '/' or non-ASCII), and each
// invalid or truncated UTF-8 sequence replaced by U+FFFD. So a writer built on these produces
// the same bytes as the equivalent nlohmann::json value's dump.

#include <cstdint>
#include <string>
#include <string_view>

namespace kc::json {

// Appends `s` as a JSON string literal, quotes included.
void appendJsonString(std::string& out, std::string_view s);
// Appends a JSON integer.
void appendJsonInt(std::string& out, int64_t v);

}  // namespace kc::json
