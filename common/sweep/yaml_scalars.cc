#include "common/sweep/yaml_scalars.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

namespace expsvc::sweep {
namespace {

using Json = nlohmann::json;

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

bool IsDecimalInteger(absl::string_view text) {
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) text.remove_prefix(1);
  return !text.empty() && std::all_of(text.begin(), text.end(), IsDigit);
}

// YAML 1.2 core schema: [-+]? (\.[0-9]+ | [0-9]+(\.[0-9]*)?) ([eE][-+]?[0-9]+)?
bool IsDecimalFloat(absl::string_view text) {
  size_t i = 0;
  auto skip_digits = [&] {
    const size_t start = i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    return i - start;
  };
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  size_t mantissa_digits = skip_digits();
  if (i < text.size() && text[i] == '.') {
    ++i;
    mantissa_digits += skip_digits();
  }
  if (mantissa_digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (skip_digits() == 0) return false;
  }
  return i == text.size();
}

template <typename Number>
std::optional<Number> ParseNumber(absl::string_view text, int base = 10) {
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);  // from_chars takes no '+'
  Number number{};
  std::from_chars_result result;
  if constexpr (std::is_floating_point_v<Number>) {
    result = std::from_chars(text.data(), text.data() + text.size(), number);
  } else {
    result = std::from_chars(text.data(), text.data() + text.size(), number, base);
  }
  if (result.ec != std::errc() || result.ptr != text.data() + text.size()) return std::nullopt;
  return number;
}

}  // namespace

size_t FirstInvalidUtf8Byte(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t extra;
    uint32_t code;
    if ((lead >> 5) == 0x6) {
      extra = 1, code = lead & 0x1F;
    } else if ((lead >> 4) == 0xE) {
      extra = 2, code = lead & 0x0F;
    } else if ((lead >> 3) == 0x1E) {
      extra = 3, code = lead & 0x07;
    } else {
      return i;
    }
    if (text.size() - i <= extra) return i;
    for (size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next >> 6) != 0x2) return i;
      code = (code << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
    if (code < kSmallest[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return i;
    i += extra + 1;
  }
  return absl::string_view::npos;
}

bool IsValidUtf8(absl::string_view text) { return FirstInvalidUtf8Byte(text) == absl::string_view::npos; }

std::optional<Json> ResolvePlainScalar(absl::string_view text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return Json(nullptr);
  if (text == "true" || text == "True" || text == "TRUE") return Json(true);
  if (text == "false" || text == "False" || text == "FALSE") return Json(false);
  auto as_json = [](auto number) { return number ? std::optional<Json>(*number) : std::nullopt; };
  if (IsDecimalInteger(text)) return as_json(ParseNumber<int64_t>(text));
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'o')) {
    std::optional<int64_t> number = ParseNumber<int64_t>(text.substr(2), text[1] == 'x' ? 16 : 8);
    if (number) return Json(*number);
  }
  if (IsDecimalFloat(text)) return as_json(ParseNumber<double>(text));
  const absl::string_view unsigned_text = text[0] == '+' || text[0] == '-' ? text.substr(1) : text;
  if (unsigned_text == ".inf" || unsigned_text == ".Inf" || unsigned_text == ".INF") {
    return Json(text[0] == '-' ? -HUGE_VAL : HUGE_VAL);
  }
  if (text == ".nan" || text == ".NaN" || text == ".NAN") return Json(std::nan(""));
  return Json(std::string(text));
}
}  // namespace expsvc::sweep
