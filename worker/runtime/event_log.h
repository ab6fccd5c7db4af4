#pragma once
// The worker's own log: one line per event on stderr, prefixed with a UTC
// timestamp, so an operator (or a test) can follow what the worker did.

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace expsvc::worker {

void LogEvent(absl::string_view message);

template <typename... Args>
void LogEventF(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogEvent(absl::StrFormat(format, args...));
}

}  // namespace expsvc::worker
