#include "worker/lm/tokenizer/hf_tokenizer.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"
#include "worker/lm/tokenizer/hf_json_fields.h"
#include "worker/lm/tokenizer/utf8.h"

namespace expsvc::lm {
namespace {

struct ParsedUnigram {
  std::vector<UnigramPiece> pieces;
  std::optional<TokenId> unk_id;
  bool byte_fallback = false;
};

// The ids a TemplateProcessing puts before and after a single sequence.
struct SingleTemplate {
  std::vector<TokenId> prefix;
  std::vector<TokenId> suffix;
};

// Everything read from a tokenizer.json, checked and ready to assemble.
struct TokenizerParts {
  std::optional<UnigramModel> model;
  std::optional<HfNormalizer> normalizer;
  std::optional<HfPreTokenizer> pre_tokenizer;
  std::optional<HfDecoder> decoder;
  AddedTokenMatcher added_tokens;
  int32_t vocab_size = 0;
  std::optional<TokenId> unk_id;
  SingleTemplate single;
};

absl::StatusOr<ParsedUnigram> ParseUnigramModel(const nlohmann::json& config) {
  EXPSVC_ASSIGN_OR_RETURN(const std::string type, hf_json::ComponentType(config, "model"));
  if (type != "Unigram") {
    return absl::UnimplementedError(absl::StrCat("model type \"", type, "\" is not supported (only Unigram)"));
  }
  ParsedUnigram parsed;
  EXPSVC_ASSIGN_OR_RETURN(const nlohmann::json* vocab, hf_json::RequiredArray(config, "vocab", "model Unigram"));
  if (vocab->empty()) return absl::InvalidArgumentError("model Unigram: empty vocab");
  parsed.pieces.reserve(vocab->size());
  for (size_t i = 0; i < vocab->size(); ++i) {
    const nlohmann::json& entry = (*vocab)[i];
    if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() || !entry[1].is_number()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model Unigram: vocab entry ", i, " must be [piece, score], got ", entry.dump()));
    }
    UnigramPiece piece;
    piece.text = entry[0].get<std::string>();
    piece.score = static_cast<float>(entry[1].get<double>());
    parsed.pieces.push_back(std::move(piece));
  }
  if (config.contains("unk_id") && !config["unk_id"].is_null()) {
    EXPSVC_ASSIGN_OR_RETURN(const int64_t unk_id, hf_json::RequiredInteger(config, "unk_id", "model Unigram"));
    if (unk_id < 0 || unk_id >= static_cast<int64_t>(parsed.pieces.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("model Unigram: unk_id ", unk_id, " is outside the vocab of ", parsed.pieces.size()));
    }
    parsed.unk_id = static_cast<TokenId>(unk_id);
    parsed.pieces[unk_id].kind = PieceKind::kUnknown;
  }
  EXPSVC_ASSIGN_OR_RETURN(parsed.byte_fallback, hf_json::OptionalBool(config, "byte_fallback", false, "model Unigram"));
  if (parsed.byte_fallback) {
    for (UnigramPiece& piece : parsed.pieces) {
      if (piece.kind == PieceKind::kNormal && UnigramModel::ParseBytePiece(piece.text)) {
        piece.kind = PieceKind::kByte;
      }
    }
  }
  return parsed;
}

absl::StatusOr<std::vector<AddedToken>> ParseAddedTokens(const nlohmann::json& root) {
  std::vector<AddedToken> tokens;
  if (!root.contains("added_tokens") || root["added_tokens"].is_null()) return tokens;
  EXPSVC_ASSIGN_OR_RETURN(const nlohmann::json* list, hf_json::RequiredArray(root, "added_tokens", "tokenizer.json"));
  for (size_t i = 0; i < list->size(); ++i) {
    const nlohmann::json& entry = (*list)[i];
    const std::string context = absl::StrCat("added_tokens[", i, "]");
    if (!entry.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": expected an object"));
    }
    AddedToken token;
    EXPSVC_ASSIGN_OR_RETURN(const int64_t id, hf_json::RequiredInteger(entry, "id", context));
    if (id < 0 || id > (int64_t{1} << 30)) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": id ", id, " is out of range"));
    }
    token.id = static_cast<TokenId>(id);
    EXPSVC_ASSIGN_OR_RETURN(token.content, hf_json::RequiredString(entry, "content", context));
    if (!IsValidUtf8(token.content)) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": content is not valid UTF-8"));
    }
    EXPSVC_ASSIGN_OR_RETURN(token.special, hf_json::OptionalBool(entry, "special", false, context));
    EXPSVC_ASSIGN_OR_RETURN(token.lstrip, hf_json::OptionalBool(entry, "lstrip", false, context));
    EXPSVC_ASSIGN_OR_RETURN(token.rstrip, hf_json::OptionalBool(entry, "rstrip", false, context));
    EXPSVC_ASSIGN_OR_RETURN(const bool single_word, hf_json::OptionalBool(entry, "single_word", false, context));
    if (single_word) {
      return absl::UnimplementedError(
          absl::StrCat(context, " (\"", token.content, "\"): single_word added tokens are not supported"));
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

absl::StatusOr<SingleTemplate> ParsePostProcessor(const nlohmann::json& config) {
  SingleTemplate parsed;
  if (config.is_null()) return parsed;
  EXPSVC_ASSIGN_OR_RETURN(const std::string type, hf_json::ComponentType(config, "post_processor"));
  if (type != "TemplateProcessing") {
    return absl::UnimplementedError(
        absl::StrCat("post_processor type \"", type, "\" is not supported (only TemplateProcessing)"));
  }
  constexpr absl::string_view kContext = "post_processor TemplateProcessing";
  EXPSVC_ASSIGN_OR_RETURN(const nlohmann::json* single, hf_json::RequiredArray(config, "single", kContext));
  const nlohmann::json empty_object = nlohmann::json::object();
  const nlohmann::json& special_tokens = config.contains("special_tokens") && config["special_tokens"].is_object()
                                             ? config["special_tokens"]
                                             : empty_object;
  bool after_sequence = false;
  for (const nlohmann::json& item : *single) {
    if (item.is_object() && item.contains("Sequence")) {
      after_sequence = true;
      continue;
    }
    if (!item.is_object() || !item.contains("SpecialToken") || !item["SpecialToken"].is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          kContext, ": \"single\" items must be {\"SpecialToken\": ...} or {\"Sequence\": ...}, got ", item.dump()));
    }
    EXPSVC_ASSIGN_OR_RETURN(const std::string name, hf_json::RequiredString(item["SpecialToken"], "id", kContext));
    if (!special_tokens.contains(name) || !special_tokens[name].is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kContext, ": special token \"", name, "\" is not in special_tokens"));
    }
    EXPSVC_ASSIGN_OR_RETURN(const nlohmann::json* ids, hf_json::RequiredArray(special_tokens[name], "ids", kContext));
    for (const nlohmann::json& id : *ids) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > (int64_t{1} << 30)) {
        return absl::InvalidArgumentError(
            absl::StrCat(kContext, ": special token \"", name, "\" has a bad id ", id.dump()));
      }
      (after_sequence ? parsed.suffix : parsed.prefix).push_back(id.get<TokenId>());
    }
  }
  return parsed;
}

absl::StatusOr<TokenizerParts> ParseParts(const nlohmann::json& root) {
  if (!root.is_object()) return absl::InvalidArgumentError("tokenizer.json: not a JSON object");
  if (!root.contains("model")) return absl::InvalidArgumentError("tokenizer.json: no \"model\"");
  EXPSVC_ASSIGN_OR_RETURN(ParsedUnigram unigram, ParseUnigramModel(root["model"]));
  EXPSVC_ASSIGN_OR_RETURN(std::vector<AddedToken> added, ParseAddedTokens(root));
  const int32_t model_size = static_cast<int32_t>(unigram.pieces.size());
  int32_t vocab_size = model_size;
  for (const AddedToken& token : added) {
    if (token.id < model_size) {
      UnigramPiece& piece = unigram.pieces[token.id];
      if (piece.text != token.content) {
        return absl::InvalidArgumentError(absl::StrCat("added token ", token.id, " \"", token.content,
                                                       "\" differs from the model's piece \"", piece.text,
                                                       "\" with that id"));
      }
      // Added tokens are cut out before the model runs, so the model never
      // matches them (as SentencePiece never matches control pieces).
      if (piece.kind == PieceKind::kNormal) piece.kind = PieceKind::kControl;
    }
    vocab_size = std::max(vocab_size, token.id + 1);
  }
  const auto section = [&](const char* key) -> const nlohmann::json& {
    static const nlohmann::json kNull;
    return root.contains(key) ? root[key] : kNull;
  };
  EXPSVC_ASSIGN_OR_RETURN(HfNormalizer normalizer, HfNormalizer::FromJson(section("normalizer")));
  EXPSVC_ASSIGN_OR_RETURN(HfPreTokenizer pre_tokenizer, HfPreTokenizer::FromJson(section("pre_tokenizer")));
  EXPSVC_ASSIGN_OR_RETURN(HfDecoder decoder, HfDecoder::FromJson(section("decoder")));
  EXPSVC_ASSIGN_OR_RETURN(SingleTemplate single, ParsePostProcessor(section("post_processor")));
  TokenizerParts parts;
  parts.unk_id = unigram.unk_id;
  EXPSVC_ASSIGN_OR_RETURN(parts.model,
                          UnigramModel::Create(std::move(unigram.pieces), unigram.unk_id, unigram.byte_fallback));
  EXPSVC_ASSIGN_OR_RETURN(parts.added_tokens, AddedTokenMatcher::Create(std::move(added)));
  for (const std::vector<TokenId>* ids : {&single.prefix, &single.suffix}) {
    for (TokenId id : *ids) {
      if (id >= vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("post_processor: id ", id, " is outside the vocabulary"));
      }
    }
  }
  parts.normalizer = std::move(normalizer);
  parts.pre_tokenizer = std::move(pre_tokenizer);
  parts.decoder = std::move(decoder);
  parts.vocab_size = vocab_size;
  parts.single = std::move(single);
  return parts;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HfUnigramTokenizer>> HfUnigramTokenizer::FromJson(absl::string_view json_text) {
  nlohmann::json root = nlohmann::json::parse(json_text.begin(), json_text.end(), nullptr,
                                              /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return absl::InvalidArgumentError("tokenizer.json: not valid JSON");
  }
  absl::StatusOr<TokenizerParts> parts;
  try {
    parts = ParseParts(root);
  } catch (const nlohmann::json::exception& error) {
    // The field checks should leave nothing to throw; this keeps a missed
    // case an error instead of a crash.
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", error.what()));
  }
  if (!parts.ok()) return parts.status();
  std::unique_ptr<HfUnigramTokenizer> tokenizer(
      new HfUnigramTokenizer(std::move(*parts->model), std::move(*parts->normalizer), std::move(*parts->pre_tokenizer),
                             std::move(*parts->decoder), std::move(parts->added_tokens)));
  tokenizer->vocab_size_ = parts->vocab_size;
  tokenizer->template_adds_bos_ = !parts->single.prefix.empty();
  tokenizer->template_adds_eos_ = !parts->single.suffix.empty();
  const auto id_of = [&](absl::string_view content) -> TokenId {
    if (const AddedToken* token = tokenizer->added_tokens_.FindByContent(content)) {
      return token->id;
    }
    return tokenizer->model_.IdOfPiece(content).value_or(-1);
  };
  // BOS/EOS: the template's when it names exactly one, else the usual names.
  const SingleTemplate& single = parts->single;
  SpecialTokenIds& special = tokenizer->special_ids_;
  special.unk = parts->unk_id.value_or(-1);
  special.bos = single.prefix.size() == 1 ? single.prefix[0] : id_of("<s>");
  special.eos = single.suffix.size() == 1 ? single.suffix[0] : id_of("</s>");
  special.pad = id_of("<pad>");
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<HfUnigramTokenizer>> HfUnigramTokenizer::FromFile(const std::string& path) {
  EXPSVC_ASSIGN_OR_RETURN(const std::string text, fs::ReadFile(path));
  absl::StatusOr<std::unique_ptr<HfUnigramTokenizer>> tokenizer = FromJson(text);
  if (!tokenizer.ok()) {
    return absl::Status(tokenizer.status().code(), absl::StrCat(path, ": ", tokenizer.status().message()));
  }
  return tokenizer;
}

absl::StatusOr<std::vector<TokenId>> HfUnigramTokenizer::EncodeText(absl::string_view text) const {
  const std::string clean = ReplaceInvalidUtf8(text);
  std::vector<TokenId> ids;
  for (const InputSegment& segment : added_tokens_.Split(clean)) {
    if (segment.is_added_token) {
      ids.push_back(segment.id);
      continue;
    }
    const std::string normalized = normalizer_.Apply(segment.text);
    for (const std::string& piece : pre_tokenizer_.Apply(normalized, segment.starts_input)) {
      EXPSVC_RETURN_IF_ERROR(model_.EncodeInto(piece, &ids));
    }
  }
  return ids;
}

absl::StatusOr<std::string> HfUnigramTokenizer::PieceOf(TokenId id) const {
  if (const AddedToken* token = added_tokens_.FindById(id)) return token->content;
  if (id < 0 || id >= model_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("token id ", id, " is outside the vocabulary of ", vocab_size_));
  }
  return model_.pieces()[id].text;
}

absl::StatusOr<std::vector<UnigramPiece>> HfUnigramTokenizer::Vocabulary() const {
  std::vector<UnigramPiece> pieces = model_.pieces();
  std::vector<bool> known(static_cast<size_t>(vocab_size_), false);
  std::fill(known.begin(), known.begin() + model_.size(), true);
  pieces.resize(static_cast<size_t>(vocab_size_));
  for (const AddedToken& token : added_tokens_.tokens()) {
    UnigramPiece& piece = pieces[static_cast<size_t>(token.id)];
    if (token.id >= model_.size()) {
      piece = {.text = token.content, .score = 0.0f, .kind = PieceKind::kControl};
      known[static_cast<size_t>(token.id)] = true;
    }
    // The parser marks every added token of the model control (never
    // matched by Viterbi); SentencePiece calls the non-special ones user-defined.
    if (!token.special && piece.kind == PieceKind::kControl) piece.kind = PieceKind::kUserDefined;
  }
  for (size_t id = 0; id < known.size(); ++id) {
    if (!known[id]) {
      return absl::FailedPreconditionError(
          absl::StrCat("token id ", id, " is neither a model piece nor an added token"));
    }
  }
  return pieces;
}

absl::StatusOr<std::string> HfUnigramTokenizer::Decode(absl::Span<const TokenId> ids) const {
  std::vector<std::string> pieces;
  pieces.reserve(ids.size());
  for (TokenId id : ids) {
    if (const AddedToken* token = added_tokens_.FindById(id)) {
      if (!token->special) pieces.push_back(token->content);
      continue;
    }
    if (id < 0 || id >= model_.size()) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", id, " is outside the vocabulary of ", vocab_size_));
    }
    pieces.push_back(model_.pieces()[id].text);
  }
  return decoder_.Decode(std::move(pieces));
}

}  // namespace expsvc::lm
