#pragma once
// The "normalizer" of a Hugging Face tokenizer.json, for the kinds a
// SentencePiece-derived Unigram tokenizer uses: Sequence, Prepend, Replace
// (hf_replace.h), Strip, and Precompiled with an empty charsmap (a no-op).
// Anything else (NFKC and the other Unicode forms, Lowercase, a real
// Precompiled charsmap, general regular expressions) is refused with an error
// naming it, rather than being applied wrongly.

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/lm/tokenizer/hf_replace.h"

namespace expsvc::lm {

class HfNormalizer {
 public:
  // `config` is the "normalizer" value; null means no normalisation.
  static absl::StatusOr<HfNormalizer> FromJson(const nlohmann::json& config);

  // `text` is valid UTF-8.
  std::string Apply(absl::string_view text) const;

  bool is_identity() const { return steps_.empty(); }

 private:
  struct Step {
    enum class Kind { kPrepend, kReplace, kStrip };
    Kind kind = Kind::kPrepend;
    std::string content;               // kPrepend: the prefix
    std::optional<HfReplace> replace;  // kReplace
    bool strip_left = false;
    bool strip_right = false;
  };

  static absl::Status AppendSteps(const nlohmann::json& config, int depth, std::vector<Step>* steps);

  std::vector<Step> steps_;
};

}  // namespace expsvc::lm
