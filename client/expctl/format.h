#pragma once
// Human-readable numbers, sizes, durations and times shared by the commands.

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

namespace expsvc::expctl {

// Up to 6 significant digits: 0.000123457, 1.5e+06, 42. NaN/inf spelled
// "nan", "inf", "-inf".
std::string FormatNumber(double value);
// The shortest text that reads back as the same double (for CSV).
std::string FormatNumberExact(double value);

// 1536 -> "1.5 KiB"; bytes below 1024 as "512 B".
std::string FormatBytes(int64_t bytes);
// Seconds as "7s", "2m05s", "3h04m", "2d03h"; negative clamps to 0.
std::string FormatDuration(double seconds);
// "5s ago", "3m12s ago"; "-" when the time is 0 (unset).
std::string FormatAgo(int64_t time_ms, int64_t now_ms);
// Local time "2024-05-01 12:00:03"; "-" when 0.
std::string FormatTimestamp(int64_t time_ms);

int64_t NowMs();

// "1 job", "3 jobs".
std::string Plural(int64_t count, absl::string_view noun);

// strerror(errno), for messages about files.
std::string ErrnoText();

}  // namespace expsvc::expctl
