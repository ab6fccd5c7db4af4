#include "worker/lm/tokenizer/added_tokens.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/lm/tokenizer/utf8.h"

namespace expsvc::lm {
namespace {

// Number of bytes of Unicode whitespace that end `text`.
size_t TrailingWhitespaceBytes(absl::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    const size_t length = Utf8CharLength(text, start);
    if (length != end - start || !IsUnicodeWhitespace(DecodeUtf8Char(text, start, length))) break;
    end = start;
  }
  return text.size() - end;
}

// Number of bytes of Unicode whitespace that begin `text`.
size_t LeadingWhitespaceBytes(absl::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t length = Utf8CharLength(text, pos);
    if (length == 0 || !IsUnicodeWhitespace(DecodeUtf8Char(text, pos, length))) break;
    pos += length;
  }
  return pos;
}

}  // namespace

absl::StatusOr<AddedTokenMatcher> AddedTokenMatcher::Create(std::vector<AddedToken> tokens) {
  AddedTokenMatcher matcher;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const AddedToken& token = tokens[i];
    if (token.content.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("added token ", token.id, " is empty"));
    }
    if (!matcher.index_of_id_.emplace(token.id, i).second) {
      return absl::InvalidArgumentError(absl::StrCat("added token id ", token.id, " appears twice"));
    }
    if (!matcher.index_of_content_.emplace(token.content, i).second) {
      return absl::InvalidArgumentError(absl::StrCat("added token \"", token.content, "\" appears twice"));
    }
    matcher.by_first_byte_[static_cast<unsigned char>(token.content[0])].push_back(i);
  }
  for (std::vector<size_t>& candidates : matcher.by_first_byte_) {
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](size_t a, size_t b) { return tokens[a].content.size() > tokens[b].content.size(); });
  }
  matcher.tokens_ = std::move(tokens);
  return matcher;
}

const AddedToken* AddedTokenMatcher::FindById(TokenId id) const {
  auto it = index_of_id_.find(id);
  return it == index_of_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedTokenMatcher::FindByContent(absl::string_view content) const {
  auto it = index_of_content_.find(content);
  return it == index_of_content_.end() ? nullptr : &tokens_[it->second];
}

std::vector<InputSegment> AddedTokenMatcher::Split(absl::string_view text) const {
  std::vector<InputSegment> segments;
  size_t text_start = 0;  // start of the pending text segment
  const auto emit_text = [&](size_t end) {
    if (end > text_start) {
      segments.push_back({false, -1, std::string(text.substr(text_start, end - text_start)), text_start == 0});
    }
  };
  for (size_t pos = 0; pos < text.size();) {
    const AddedToken* match = nullptr;
    for (size_t index : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
      const AddedToken& token = tokens_[index];
      if (text.substr(pos, token.content.size()) == token.content) {
        match = &token;
        break;  // longest first
      }
    }
    if (match == nullptr) {
      ++pos;
      continue;
    }
    size_t text_end = pos;
    if (match->lstrip) {
      text_end -= TrailingWhitespaceBytes(text.substr(text_start, pos - text_start));
    }
    emit_text(text_end);
    segments.push_back({true, match->id, "", false});
    pos += match->content.size();
    if (match->rstrip) pos += LeadingWhitespaceBytes(text.substr(pos));
    text_start = pos;
  }
  emit_text(text.size());
  return segments;
}

}  // namespace expsvc::lm
