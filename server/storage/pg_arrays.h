#pragma once
// PostgreSQL array literals for passing whole batches as one parameter
// (unnest($1::bigint[], ...)): one round trip per batch instead of per row.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace expsvc::storage {

// {"a","b\"c"}; an empty optional-like value is written as NULL when
// `empty_as_null` is set.
std::string TextArrayLiteral(const std::vector<std::string>& values, bool empty_as_null = false);
std::string IntArrayLiteral(const std::vector<int64_t>& values);
// Keeps NaN and infinities (as PostgreSQL spells them).
std::string DoubleArrayLiteral(const std::vector<double>& values);
// Parses "{1,2,3}" as returned for bigint[]::text.
std::vector<int64_t> ParseIntArray(std::string_view literal);

}  // namespace expsvc::storage
