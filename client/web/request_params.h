#pragma once
// Reading a dashboard request's path ids and query parameters, each with an
// error that names the parameter (the API answers it as 400, never 500).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace expsvc::web {

// A positive integer id from a path segment: "sweep id 'abc' is not a positive integer".
absl::StatusOr<int64_t> ParseId(const std::string& text, const std::string& what);

// An integer query parameter within [min, max]; `fallback` when absent.
absl::StatusOr<int64_t> IntParam(const std::optional<std::string>& value, const std::string& name, int64_t fallback,
                                 int64_t min, int64_t max);

// "a,b,,c" -> {a, b, c}.
std::vector<std::string> ListParam(const std::optional<std::string>& value);

// One of `choices`; `fallback` when absent.
absl::StatusOr<std::string> ChoiceParam(const std::optional<std::string>& value, const std::string& name,
                                        const std::vector<std::string>& choices, const std::string& fallback);

}  // namespace expsvc::web
