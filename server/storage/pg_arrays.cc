#include "server/storage/pg_arrays.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace expsvc::storage {

std::string TextArrayLiteral(const std::vector<std::string>& values, bool empty_as_null) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal.push_back(',');
    if (empty_as_null && values[i].empty()) {
      literal += "NULL";
      continue;
    }
    literal.push_back('"');
    for (char c : values[i]) {
      if (c == '\0') continue;  // PostgreSQL text cannot hold NUL.
      if (c == '"' || c == '\\') literal.push_back('\\');
      literal.push_back(c);
    }
    literal.push_back('"');
  }
  literal.push_back('}');
  return literal;
}

std::string IntArrayLiteral(const std::vector<int64_t>& values) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal.push_back(',');
    absl::StrAppend(&literal, values[i]);
  }
  literal.push_back('}');
  return literal;
}

std::string DoubleArrayLiteral(const std::vector<double>& values) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal.push_back(',');
    const double value = values[i];
    if (std::isnan(value)) {
      literal += "NaN";
    } else if (std::isinf(value)) {
      literal += value > 0 ? "Infinity" : "-Infinity";
    } else {
      literal += absl::StrFormat("%.17g", value);
    }
  }
  literal.push_back('}');
  return literal;
}

std::vector<int64_t> ParseIntArray(std::string_view literal) {
  std::vector<int64_t> values;
  const char* p = literal.data();
  const char* end = p + literal.size();
  while (p < end) {
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
      int64_t value = 0;
      auto [next, error] = std::from_chars(p, end, value);
      if (error == std::errc()) values.push_back(value);
      p = next == p ? p + 1 : next;
    } else {
      ++p;
    }
  }
  return values;
}

}  // namespace expsvc::storage
