#include "worker/lm/tokenizer/tokenizer_json_exporter.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"
#include "worker/lm/tokenizer/sentencepiece_model_proto.h"

namespace expsvc::lm {
namespace {

using Json = nlohmann::ordered_json;  // keeps the key order of HF's own files

constexpr const char* kSpaceSymbol = "\u2581";

absl::Status CheckRepresentable(const SentencePieceModelInfo& info) {
  const auto refuse = [](absl::string_view why) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot export this SentencePiece model to tokenizer.json: ", why));
  };
  if (info.model_type != 1) return refuse(absl::StrCat("model type ", info.model_type, " is not unigram"));
  if (info.precompiled_charsmap_bytes > 0) {
    return refuse(
        absl::StrCat("normalisation rule \"", info.normalizer_name, "\" has a character map (train with identity)"));
  }
  if (info.remove_extra_whitespaces) return refuse("remove_extra_whitespaces is on");
  if (!info.escape_whitespaces) return refuse("whitespace is not escaped to ▁");
  if (info.treat_whitespace_as_suffix) return refuse("whitespace is treated as a suffix");
  for (size_t id = 0; id < info.pieces.size(); ++id) {
    const PieceKind kind = info.pieces[id].kind;
    if (kind == PieceKind::kUserDefined || kind == PieceKind::kUnused) {
      return refuse(absl::StrCat("piece ", id, " \"", info.pieces[id].text, "\" is user-defined or unused"));
    }
  }
  return absl::OkStatus();
}

Json ReplaceStep(const std::string& pattern, const std::string& content) {
  return Json{{"type", "Replace"}, {"pattern", Json{{"String", pattern}}}, {"content", content}};
}

Json BuildTokenizerJson(const SentencePieceModelInfo& info) {
  Json added_tokens = Json::array();
  for (size_t id = 0; id < info.pieces.size(); ++id) {
    const UnigramPiece& piece = info.pieces[id];
    if (piece.kind != PieceKind::kControl && piece.kind != PieceKind::kUnknown) continue;
    added_tokens.push_back(Json{{"id", id},
                                {"content", piece.text},
                                {"single_word", false},
                                {"lstrip", false},
                                {"rstrip", false},
                                {"normalized", false},
                                {"special", true}});
  }

  Json normalizers = Json::array();
  if (info.add_dummy_prefix) normalizers.push_back(Json{{"type", "Prepend"}, {"prepend", kSpaceSymbol}});
  normalizers.push_back(ReplaceStep(" ", kSpaceSymbol));

  Json post_processor = nullptr;
  const bool has_bos = info.bos_id >= 0 && info.bos_id < static_cast<int32_t>(info.pieces.size());
  if (has_bos) {
    const std::string bos = info.pieces[info.bos_id].text;
    const auto special = [&](int type_id) { return Json{{"SpecialToken", Json{{"id", bos}, {"type_id", type_id}}}}; };
    const auto sequence = [](const char* name, int type_id) {
      return Json{{"Sequence", Json{{"id", name}, {"type_id", type_id}}}};
    };
    post_processor =
        Json{{"type", "TemplateProcessing"},
             {"single", Json::array({special(0), sequence("A", 0)})},
             {"pair", Json::array({special(0), sequence("A", 0), special(1), sequence("B", 1)})},
             {"special_tokens",
              Json{{bos, Json{{"id", bos}, {"ids", Json::array({info.bos_id})}, {"tokens", Json::array({bos})}}}}}};
  }

  Json decoders = Json::array({ReplaceStep(kSpaceSymbol, " "), Json{{"type", "ByteFallback"}}, Json{{"type", "Fuse"}}});
  if (info.add_dummy_prefix) {
    decoders.push_back(Json{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  }

  Json vocab = Json::array();
  for (const UnigramPiece& piece : info.pieces) {
    // The float widened to double prints with enough digits to read back
    // as the same float.
    vocab.push_back(Json::array({piece.text, static_cast<double>(piece.score)}));
  }
  Json model = {{"type", "Unigram"},
                {"unk_id", info.unk_id >= 0 ? Json(info.unk_id) : Json(nullptr)},
                {"vocab", std::move(vocab)},
                {"byte_fallback", info.byte_fallback}};

  return Json{{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", std::move(added_tokens)},
              {"normalizer", Json{{"type", "Sequence"}, {"normalizers", std::move(normalizers)}}},
              {"pre_tokenizer", nullptr},
              {"post_processor", std::move(post_processor)},
              {"decoder", Json{{"type", "Sequence"}, {"decoders", std::move(decoders)}}},
              {"model", std::move(model)}};
}

}  // namespace

absl::StatusOr<std::string> SentencePieceModelToTokenizerJson(absl::string_view serialized_model) {
  EXPSVC_ASSIGN_OR_RETURN(const SentencePieceModelInfo info, ReadSentencePieceModel(serialized_model));
  EXPSVC_RETURN_IF_ERROR(CheckRepresentable(info));
  try {
    return BuildTokenizerJson(info).dump(2, ' ', /*ensure_ascii=*/false);
  } catch (const nlohmann::json::exception& error) {
    // dump() throws on a piece that is not valid UTF-8.
    return absl::InvalidArgumentError(absl::StrCat("cannot write tokenizer.json: ", error.what()));
  }
}

absl::Status ExportTokenizerJson(const std::string& model_path, const std::string& json_path) {
  EXPSVC_ASSIGN_OR_RETURN(const std::string serialized, fs::ReadFile(model_path));
  absl::StatusOr<std::string> json = SentencePieceModelToTokenizerJson(serialized);
  if (!json.ok()) {
    return absl::Status(json.status().code(), absl::StrCat(model_path, ": ", json.status().message()));
  }
  return fs::WriteFileAtomically(json_path, *json);
}

}  // namespace expsvc::lm
