#include "client/expctl/format.h"

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace expsvc::expctl {

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return absl::StrFormat("%.6g", value);
}

std::string FormatNumberExact(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (error != std::errc()) return absl::StrFormat("%.17g", value);
  return std::string(buffer, end);
}

std::string FormatBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double scaled = static_cast<double>(bytes);
  int unit = -1;
  while (scaled >= 1024 && unit + 1 < static_cast<int>(std::size(kUnits))) {
    scaled /= 1024;
    ++unit;
  }
  return absl::StrFormat(scaled < 10 ? "%.1f %s" : "%.0f %s", scaled, kUnits[unit]);
}

std::string FormatDuration(double seconds) {
  if (!(seconds > 0)) return "0s";  // also catches NaN
  int64_t total = static_cast<int64_t>(std::llround(seconds));
  if (total < 60) return absl::StrCat(total, "s");
  if (total < 3600) return absl::StrFormat("%dm%02ds", total / 60, total % 60);
  if (total < 86400) return absl::StrFormat("%dh%02dm", total / 3600, (total % 3600) / 60);
  return absl::StrFormat("%dd%02dh", total / 86400, (total % 86400) / 3600);
}

std::string FormatAgo(int64_t time_ms, int64_t now_ms) {
  if (time_ms <= 0) return "-";
  return absl::StrCat(FormatDuration(static_cast<double>(now_ms - time_ms) / 1000.0), " ago");
}

std::string FormatTimestamp(int64_t time_ms) {
  if (time_ms <= 0) return "-";
  std::time_t seconds = static_cast<std::time_t>(time_ms / 1000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char buffer[32];
  size_t length = std::strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S", &local);
  return std::string(buffer, length);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Plural(int64_t count, absl::string_view noun) {
  return absl::StrCat(count, " ", noun, count == 1 ? "" : "s");
}

std::string ErrnoText() {
  return errno != 0 ? std::strerror(errno) : "unknown error";
}

}  // namespace expsvc::expctl
