#pragma once
// Cuts a document's tokens into the LM's input windows: BOS followed by
// `tokens_per_window` tokens, consecutive and non-overlapping. The tail
// shorter than a full window is dropped, so every window has the same length
// and no padding or mask is needed (the cost: on average half a window per
// document; the build report counts it).

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "worker/lm/tokenizer/tokenizer.h"

namespace expsvc::lm {

// Appends the windows (each 1 + tokens_per_window ids) to `windows`; returns
// how many. `tokens_per_window` must be positive.
int64_t AppendWindows(absl::Span<const TokenId> document_tokens, TokenId bos_id, int32_t tokens_per_window,
                      std::vector<TokenId>* windows);

}  // namespace expsvc::lm
