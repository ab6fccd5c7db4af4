#pragma once
// Plain YAML scalars resolved the way YAML 1.2's core schema does, and the
// UTF-8 check every string passes before it reaches PostgreSQL's jsonb.

#include <optional>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace expsvc::sweep {

// Strings end up in PostgreSQL jsonb, which rejects invalid UTF-8 (and so
// does protobuf, for a whole sweep file sent as a string field).
bool IsValidUtf8(absl::string_view text);
// The offset of the first byte that is not part of valid UTF-8, or npos.
size_t FirstInvalidUtf8Byte(absl::string_view text);

// Resolves an untagged plain scalar: null, booleans, decimal/hex/octal
// integers, floats (with .inf/.nan), else the text as a string.
// nullopt: a number that does not fit (an int64 or a double).
std::optional<nlohmann::json> ResolvePlainScalar(absl::string_view text);

}  // namespace expsvc::sweep
