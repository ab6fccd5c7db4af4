#pragma once
// The catalog of job kinds: every kind's schema, gathered from the per-study
// definitions (diagnostic_kinds, music_kinds, lm_kinds, sae_kinds,
// command_kinds). The scheduler checks
// every submitted job against it, expctl uses it for --dry-run and report
// ordering, and the worker's registry refuses a kind that is not in it.
// Adding a kind: a params struct and its definition in the study's file, and
// one line in job_kind_catalog.cc.

#include <string_view>
#include <vector>

#include "common/kinds/param_schema.h"

namespace expsvc {

// nullptr when the kind is unknown.
const JobKindSpec* FindJobKind(std::string_view name);
const std::vector<JobKindSpec>& AllJobKinds();

}  // namespace expsvc
