#pragma once
// A JobGroup over FakeJobContexts, for testing group job kinds without a
// worker: it records each member's outcome.

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "worker/runtime/job_group.h"
#include "worker/runtime/testing/fake_job_context.h"

namespace expsvc::worker::testing {

class FakeJobGroup : public JobGroup {
 public:
  explicit FakeJobGroup(std::vector<FakeJobContext*> members, int64_t memory_budget_mb = 1 << 20)
      : members_(std::move(members)), outcomes_(members_.size()), budget_mb_(memory_budget_mb) {}

  int size() const override { return static_cast<int>(members_.size()); }
  JobContext& member(int index) override { return *members_.at(index); }
  void Finish(int index, absl::Status status) override {
    if (!outcomes_.at(index).has_value()) outcomes_[index] = std::move(status);
  }
  bool finished(int index) const override { return outcomes_.at(index).has_value(); }
  int64_t memory_budget_mb() const override { return budget_mb_; }

  // nullopt while the member has not finished.
  const std::optional<absl::Status>& outcome(int index) const { return outcomes_.at(index); }

 private:
  std::vector<FakeJobContext*> members_;
  std::vector<std::optional<absl::Status>> outcomes_;
  int64_t budget_mb_;
};

}  // namespace expsvc::worker::testing
