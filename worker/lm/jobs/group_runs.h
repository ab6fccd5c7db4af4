#pragma once
// How the SAE group kinds split a leased group into runs: each member's
// parameters are parsed (a member whose parameters do not parse ends at once
// with the error) and members are bucketed by the settings that decide which
// activations they read, so only members that can share a forward pass run
// together. A group whose members differ (a mistaken sweep) is split rather
// than refused.

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/runtime/job_group.h"

namespace expsvc::worker {

// Member: has `int index` and `Params params`; Params has FromJson.
template <typename Member, typename Params>
std::vector<std::vector<Member>> SplitGroupIntoRuns(JobGroup& group,
                                                    const std::function<std::string(const Params&)>& shared_key) {
  std::map<std::string, std::vector<Member>> runs;
  for (int i = 0; i < group.size(); ++i) {
    absl::StatusOr<Params> params = Params::FromJson(group.member(i).params());
    if (!params.ok()) {
      group.Finish(i, params.status());
      continue;
    }
    Member member;
    member.index = i;
    member.params = *std::move(params);
    runs[shared_key(member.params)].push_back(std::move(member));
  }
  std::vector<std::vector<Member>> result;
  for (auto& [key, members] : runs) result.push_back(std::move(members));
  return result;
}

}  // namespace expsvc::worker
