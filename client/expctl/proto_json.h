#pragma once
// The service's messages as JSON for `--output json`. Hand-written rather
// than protobuf's JSON mapping so ids and counts stay JSON numbers (the
// mapping writes int64 as strings) and params are objects, not strings.

#include "expsvc/v1/common.pb.h"
#include "expsvc/v1/workers.pb.h"
#include "nlohmann/json.hpp"

namespace expsvc::expctl {

nlohmann::json StateCountsToJson(const v1::StateCounts& counts);
// Without spec_yaml, which can be long; callers add it when asked.
nlohmann::json SweepToJson(const v1::Sweep& sweep);
nlohmann::json JobToJson(const v1::Job& job);
nlohmann::json WorkerToJson(const v1::WorkerInfo& worker);
nlohmann::json ArtifactToJson(const v1::ArtifactRef& artifact);

// One line of compact JSON; invalid UTF-8 is replaced, never thrown on.
std::string DumpJson(const nlohmann::json& value);

}  // namespace expsvc::expctl
