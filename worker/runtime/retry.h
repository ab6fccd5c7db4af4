#pragma once
// Retrying calls to the scheduler while it is down or restarting: the worker
// never crashes because the scheduler went away, it waits with backoff
// (100 ms doubling to 5 s) and carries on when the scheduler is back.

#include <functional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace expsvc::worker {

class Backoff {
 public:
  explicit Backoff(absl::Duration initial = absl::Milliseconds(100), absl::Duration maximum = absl::Seconds(5))
      : initial_(initial), maximum_(maximum), next_(initial) {}

  // The delay before the next try: initial, 2x, 4x, ... capped at maximum.
  absl::Duration Next();
  void Reset() { next_ = initial_; }

 private:
  absl::Duration initial_;
  absl::Duration maximum_;
  absl::Duration next_;
};

// Errors that say "try again later" rather than "this call is wrong".
bool IsTransientRpcError(const absl::Status& status);

// Sleeps for `duration` in short slices; returns early (false) as soon as
// give_up() is true.
bool SleepUnless(absl::Duration duration, const std::function<bool()>& give_up);

// Calls `attempt` until it returns OK or a non-transient error, or until
// give_up() is true (then the last error is returned). `what` names the call
// in the log lines written when the scheduler is unreachable.
absl::Status RetryTransient(absl::string_view what, const std::function<absl::Status()>& attempt,
                            const std::function<bool()>& give_up);

}  // namespace expsvc::worker
