#pragma once
// The "added_tokens" of a Hugging Face tokenizer.json: strings matched
// exactly in the raw input before normalisation and given their own id (the
// special tokens <s>, </s>, ... and any tokens added after training). The
// input is cut at each match, leftmost first and the longest at a position.

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/lm/tokenizer/tokenizer.h"

namespace expsvc::lm {

struct AddedToken {
  TokenId id = 0;
  std::string content;
  bool special = false;  // dropped when decoding, like SentencePiece's control pieces
  bool lstrip = false;   // swallows the whitespace before it
  bool rstrip = false;   // swallows the whitespace after it
};

// A stretch of input: either an added token or text for the model.
struct InputSegment {
  bool is_added_token = false;
  TokenId id = -1;            // when is_added_token
  std::string text;           // otherwise
  bool starts_input = false;  // text that begins the input (Metaspace "first")
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  // Contents must be non-empty and distinct; ids distinct.
  static absl::StatusOr<AddedTokenMatcher> Create(std::vector<AddedToken> tokens);

  std::vector<InputSegment> Split(absl::string_view text) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  // nullptr when `id` is not an added token.
  const AddedToken* FindById(TokenId id) const;
  const AddedToken* FindByContent(absl::string_view content) const;

 private:
  std::vector<AddedToken> tokens_;
  absl::flat_hash_map<TokenId, size_t> index_of_id_;
  absl::flat_hash_map<std::string, size_t> index_of_content_;
  // Indices of tokens by first byte, longest content first.
  std::vector<std::vector<size_t>> by_first_byte_ = std::vector<std::vector<size_t>>(256);
};

}  // namespace expsvc::lm
