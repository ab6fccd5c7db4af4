#pragma once
// The "decoder" of a Hugging Face tokenizer.json: turns the pieces of some
// ids back into text. Supported: Sequence, Replace (hf_replace.h),
// ByteFallback (runs of <0xNN> pieces → their UTF-8 text, or one U+FFFD per
// byte when the run is not valid UTF-8), Fuse, Strip, Metaspace. Other kinds
// are refused with an error naming them.

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/lm/tokenizer/hf_replace.h"

namespace expsvc::lm {

class HfDecoder {
 public:
  // `config` is the "decoder" value; null concatenates the pieces as they are.
  static absl::StatusOr<HfDecoder> FromJson(const nlohmann::json& config);

  std::string Decode(std::vector<std::string> pieces) const;

 private:
  struct Step {
    enum class Kind { kReplace, kByteFallback, kFuse, kStrip, kMetaspace };
    Kind kind = Kind::kFuse;
    std::string pattern;               // kStrip: the character; kMetaspace: the replacement
    std::optional<HfReplace> replace;  // kReplace
    int strip_start = 0;               // kStrip
    int strip_stop = 0;                // kStrip
    bool strip_first_space = false;    // kMetaspace
  };
  static absl::Status AppendSteps(const nlohmann::json& config, int depth, std::vector<Step>* steps);

  std::vector<Step> steps_;
};

}  // namespace expsvc::lm
