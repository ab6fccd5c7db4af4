#pragma once
// Tests only: English and Japanese text written for these tests, enough to
// train a small tokenizer without any data files, and inputs that exercise
// the corners of tokenization.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace expsvc::lm::test_support {

const std::vector<std::string>& EnglishSentences();
const std::vector<std::string>& JapaneseSentences();

// `count` lines, each one to three sentences of one language, some lines
// mixing both; the same `seed` gives the same lines.
std::vector<std::string> BilingualTrainingLines(int count, uint64_t seed);

// Strings for checking two tokenizers agree: empty, spaces, tabs and
// newlines, mixed scripts, characters the training text lacks (emoji,
// rare kanji, Hangul), invalid UTF-8, text that looks like special or byte
// pieces.
std::vector<std::string> TrickyInputs();

// Whether `text` holds the text of a special token ("<unk>", "<s>", "</s>",
// "<pad>"): tokenizer.json cuts such text out as special tokens (Hugging
// Face behaviour) where SentencePiece reads it as characters, so the
// equivalence checks leave these inputs out.
bool ContainsSpecialTokenText(std::string_view text);

}  // namespace expsvc::lm::test_support
