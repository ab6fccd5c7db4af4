#include "worker/lm/corpus/token_windows.h"

namespace expsvc::lm {

int64_t AppendWindows(absl::Span<const TokenId> document_tokens, TokenId bos_id, int32_t tokens_per_window,
                      std::vector<TokenId>* windows) {
  const size_t per_window = static_cast<size_t>(tokens_per_window);
  const size_t count = document_tokens.size() / per_window;
  windows->reserve(windows->size() + count * (per_window + 1));
  for (size_t w = 0; w < count; ++w) {
    windows->push_back(bos_id);
    const auto first = document_tokens.begin() + w * per_window;
    windows->insert(windows->end(), first, first + per_window);
  }
  return static_cast<int64_t>(count);
}

}  // namespace expsvc::lm
