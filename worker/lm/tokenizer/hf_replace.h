#pragma once
// The "Replace" step that tokenizer.json normalizers and decoders share:
// {"type": "Replace", "pattern": {"String": s} | {"Regex": r}, "content": c}.
//
// Regular expressions are supported only in the forms SentencePiece
// conversions write: a plain string (escapes \n \t \\ and "\ " allowed), and
// "^" with optionally such a string after it, which anchors the match at the
// start of the text ("^" alone puts `content` in front of non-empty text,
// like Prepend). Any other expression is refused with an error showing it.

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace expsvc::lm {

class HfReplace {
 public:
  // `config` is the Replace object; `context` names it in errors.
  static absl::StatusOr<HfReplace> FromJson(const nlohmann::json& config, absl::string_view context);

  std::string Apply(absl::string_view text) const;

 private:
  bool at_start_ = false;  // only a match at the start of the text counts
  std::string pattern_;    // empty only when at_start_
  std::string content_;
};

}  // namespace expsvc::lm
