#include "common/kinds/diagnostic_kinds.h"

#include "common/kinds/kind_definition.h"

namespace expsvc::kinds {
namespace {

const KindDefinition<NoopParams>& Noop() {
  using P = NoopParams;
  static const auto* const definition = [] {
    auto* d = new KindDefinition<P>("noop", "Does nothing and succeeds; for testing the pipeline.",
                                    /*accepts_extra_params=*/true);
    d->OptionalString("note", &P::note, "Free text, ignored.");
    return d;
  }();
  return *definition;
}

const KindDefinition<SleepParams>& Sleep() {
  using P = SleepParams;
  static const auto* const definition = [] {
    auto* d = new KindDefinition<P>(
        "sleep",
        "Sleeps in steps, reporting metric 'progress' at each step; fails and checkpoints on request, for "
        "testing retries and resumption.",
        /*accepts_extra_params=*/true);
    d->Double("seconds", &P::seconds, "Total time to sleep.", {0, 86400})
        .Int("steps", &P::steps, "Steps to split the sleep into; 'progress' is reported at each.", {1, 1000000})
        .Int("fail_attempts", &P::fail_attempts, "Fail with a retryable error while the attempt number is <= this.",
             {0, {}})
        .Int("fail_at_step", &P::fail_at_step, "Fail at this step; -1 means never.", {-1, {}})
        .Int("checkpoint_every", &P::checkpoint_every,
             "Save a checkpoint artifact every N steps and resume from it; 0 means never.", {0, {}})
        .Int("exit_code", &P::exit_code, "Reserved.")
        .OptionalString("note", &P::note, "Free text, ignored.");
    return d;
  }();
  return *definition;
}

}  // namespace

const JobKindSpec& NoopParams::Spec() {
  return Noop().spec();
}
absl::StatusOr<NoopParams> NoopParams::FromJson(const nlohmann::json& params) {
  return Noop().Parse(params);
}

const JobKindSpec& SleepParams::Spec() {
  return Sleep().spec();
}
absl::StatusOr<SleepParams> SleepParams::FromJson(const nlohmann::json& params) {
  return Sleep().Parse(params);
}

}  // namespace expsvc::kinds
