#include "common/kinds/job_kind_catalog.h"

#include "common/kinds/command_kinds.h"
#include "common/kinds/diagnostic_kinds.h"
#include "common/kinds/lm_kinds.h"
#include "common/kinds/music_kinds.h"
#include "common/kinds/sae_kinds.h"

namespace expsvc {

const std::vector<JobKindSpec>& AllJobKinds() {
  static const auto* const kinds = new std::vector<JobKindSpec>{
      kinds::NoopParams::Spec(),          kinds::SleepParams::Spec(),         kinds::TrainMusicParams::Spec(),
      kinds::EvaluateMusicParams::Spec(), kinds::GenerateMusicParams::Spec(), kinds::BuildCorpusParams::Spec(),
      kinds::TrainLmParams::Spec(),       kinds::TrainSaeParams::Spec(),      kinds::AnalyzeSaeParams::Spec(),
      kinds::InterveneParams::Spec(),     kinds::CommandParams::Spec(),
  };
  return *kinds;
}

const JobKindSpec* FindJobKind(std::string_view name) {
  for (const JobKindSpec& kind : AllJobKinds()) {
    if (kind.name == name) return &kind;
  }
  return nullptr;
}

}  // namespace expsvc
