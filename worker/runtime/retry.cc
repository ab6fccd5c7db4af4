#include "worker/runtime/retry.h"

#include <algorithm>
#include <thread>

#include "absl/time/clock.h"
#include "worker/runtime/event_log.h"

namespace expsvc::worker {

absl::Duration Backoff::Next() {
  absl::Duration current = next_;
  next_ = std::min(next_ * 2, maximum_);
  return current;
}

bool IsTransientRpcError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted: return true;
    default: return false;
  }
}

bool SleepUnless(absl::Duration duration, const std::function<bool()>& give_up) {
  const absl::Duration kSlice = absl::Milliseconds(50);
  absl::Time deadline = absl::Now() + duration;
  while (true) {
    if (give_up && give_up()) return false;
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(std::min(left, kSlice)));
  }
}

absl::Status RetryTransient(absl::string_view what, const std::function<absl::Status()>& attempt,
                            const std::function<bool()>& give_up) {
  // Log the first failure and then about once a minute, not every try.
  constexpr int kLogEvery = 12;
  Backoff backoff;
  int failures = 0;
  while (true) {
    absl::Status status = attempt();
    if (!IsTransientRpcError(status)) {
      if (failures > 0 && status.ok()) {
        LogEventF("%s: scheduler reachable again after %d retries", what, failures);
      }
      return status;
    }
    if (failures % kLogEvery == 0) {
      LogEventF("%s: %s; retrying with backoff", what, status.ToString());
    }
    ++failures;
    if (!SleepUnless(backoff.Next(), give_up)) return status;
  }
}

}  // namespace expsvc::worker
