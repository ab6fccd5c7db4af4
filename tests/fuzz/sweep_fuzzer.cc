// Fuzz target: the sweep YAML parser and expander (what SubmitSweep runs on
// any text a user sends). Any input must give a plan or an InvalidArgument,
// never a crash, a hang or another code.

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/sweep/sweep_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  expsvc::ExpandOptions options;
  options.max_jobs = 5000;  // the guards matter, not the size of a legal plan
  auto plan = expsvc::ParseSweep(text, "fuzz.yaml", options);
  if (!plan.ok() && plan.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
  return 0;
}
