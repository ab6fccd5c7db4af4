#pragma once
// The "pre_tokenizer" of a Hugging Face tokenizer.json: Metaspace (spaces →
// ▁, an optional ▁ in front, optional split before every ▁) and Sequence.
// Other kinds are refused with an error naming them.
//
// Metaspace's prepend_scheme: "always" puts ▁ in front of every piece that
// does not start with one; "first" only in front of the piece that starts the
// input (not after an added token); "never" adds nothing. Older files say
// "add_prefix_space": true/false instead (= always/never).

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace expsvc::lm {

class HfPreTokenizer {
 public:
  // `config` is the "pre_tokenizer" value; null means the whole text is one piece.
  static absl::StatusOr<HfPreTokenizer> FromJson(const nlohmann::json& config);

  // Splits normalised `text` into the pieces the model encodes separately.
  // `starts_input` says whether `text` begins the input (for "first").
  std::vector<std::string> Apply(absl::string_view text, bool starts_input) const;

 private:
  enum class Prepend { kAlways, kFirst, kNever };
  struct Metaspace {
    std::string replacement = "\u2581";
    Prepend prepend = Prepend::kAlways;
    bool split = true;
  };
  static absl::Status AppendSteps(const nlohmann::json& config, int depth, std::vector<Metaspace>* steps);

  std::vector<Metaspace> steps_;
};

}  // namespace expsvc::lm
