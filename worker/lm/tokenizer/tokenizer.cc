#include "worker/lm/tokenizer/tokenizer.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace expsvc::lm {

absl::StatusOr<std::vector<TokenId>> Tokenizer::Encode(absl::string_view text, const EncodeOptions& options) const {
  const SpecialTokenIds special = special_ids();
  if (options.add_bos && special.bos < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("BOS requested but the ", format_name(), " tokenizer has no BOS token"));
  }
  if (options.add_eos && special.eos < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("EOS requested but the ", format_name(), " tokenizer has no EOS token"));
  }
  EXPSVC_ASSIGN_OR_RETURN(std::vector<TokenId> text_ids, EncodeText(text));
  if (!options.add_bos && !options.add_eos) return text_ids;
  std::vector<TokenId> ids;
  ids.reserve(text_ids.size() + 2);
  if (options.add_bos) ids.push_back(special.bos);
  ids.insert(ids.end(), text_ids.begin(), text_ids.end());
  if (options.add_eos) ids.push_back(special.eos);
  return ids;
}

}  // namespace expsvc::lm
