#include "worker/lm/tokenizer/hf_decoder.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "worker/lm/tokenizer/hf_json_fields.h"
#include "worker/lm/tokenizer/unigram_model.h"
#include "worker/lm/tokenizer/utf8.h"

namespace expsvc::lm {
namespace {

constexpr int kMaxNesting = 16;

std::vector<std::string> FuseBytePieces(std::vector<std::string> pieces) {
  std::vector<std::string> out;
  std::string run;
  size_t run_pieces = 0;
  const auto flush = [&] {
    if (run_pieces == 0) return;
    if (IsValidUtf8(run)) {
      out.push_back(std::move(run));
    } else {
      for (size_t i = 0; i < run_pieces; ++i) out.emplace_back(kReplacementCharacter);
    }
    run.clear();
    run_pieces = 0;
  };
  for (std::string& piece : pieces) {
    if (std::optional<unsigned char> byte = UnigramModel::ParseBytePiece(piece)) {
      run.push_back(static_cast<char>(*byte));
      ++run_pieces;
      continue;
    }
    flush();
    out.push_back(std::move(piece));
  }
  flush();
  return out;
}

std::string StripCharacter(const std::string& piece, absl::string_view character, int start, int stop) {
  absl::string_view view = piece;
  for (int i = 0; i < start && absl::StartsWith(view, character); ++i) {
    view.remove_prefix(character.size());
  }
  for (int i = 0; i < stop && absl::EndsWith(view, character); ++i) {
    view.remove_suffix(character.size());
  }
  return std::string(view);
}

}  // namespace

absl::StatusOr<HfDecoder> HfDecoder::FromJson(const nlohmann::json& config) {
  HfDecoder decoder;
  if (config.is_null()) return decoder;
  EXPSVC_RETURN_IF_ERROR(AppendSteps(config, 0, &decoder.steps_));
  return decoder;
}

absl::Status HfDecoder::AppendSteps(const nlohmann::json& config, int depth, std::vector<Step>* steps) {
  if (depth > kMaxNesting) return absl::InvalidArgumentError("decoder: nested too deeply");
  EXPSVC_ASSIGN_OR_RETURN(const std::string type, hf_json::ComponentType(config, "decoder"));
  const std::string context = absl::StrCat("decoder ", type);
  Step step;
  if (type == "Sequence") {
    EXPSVC_ASSIGN_OR_RETURN(const nlohmann::json* children, hf_json::RequiredArray(config, "decoders", context));
    for (const nlohmann::json& child : *children) {
      EXPSVC_RETURN_IF_ERROR(AppendSteps(child, depth + 1, steps));
    }
    return absl::OkStatus();
  } else if (type == "Replace") {
    step.kind = Step::Kind::kReplace;
    EXPSVC_ASSIGN_OR_RETURN(step.replace, HfReplace::FromJson(config, context));
  } else if (type == "ByteFallback") {
    step.kind = Step::Kind::kByteFallback;
  } else if (type == "Fuse") {
    step.kind = Step::Kind::kFuse;
  } else if (type == "Strip") {
    step.kind = Step::Kind::kStrip;
    EXPSVC_ASSIGN_OR_RETURN(step.pattern, hf_json::RequiredString(config, "content", context));
    EXPSVC_ASSIGN_OR_RETURN(const int64_t start, hf_json::RequiredInteger(config, "start", context));
    EXPSVC_ASSIGN_OR_RETURN(const int64_t stop, hf_json::RequiredInteger(config, "stop", context));
    if (step.pattern.empty() || start < 0 || stop < 0 || start > 1024 || stop > 1024) {
      return absl::InvalidArgumentError(
          absl::StrCat(context, ": needs a non-empty content and 0 <= start, stop <= 1024"));
    }
    step.strip_start = static_cast<int>(start);
    step.strip_stop = static_cast<int>(stop);
  } else if (type == "Metaspace") {
    step.kind = Step::Kind::kMetaspace;
    EXPSVC_ASSIGN_OR_RETURN(step.pattern, hf_json::RequiredString(config, "replacement", context));
    if (step.pattern.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": empty replacement"));
    }
    if (config.contains("prepend_scheme") && !config["prepend_scheme"].is_null()) {
      EXPSVC_ASSIGN_OR_RETURN(const std::string scheme, hf_json::RequiredString(config, "prepend_scheme", context));
      step.strip_first_space = scheme != "never";
    } else {
      EXPSVC_ASSIGN_OR_RETURN(step.strip_first_space, hf_json::OptionalBool(config, "add_prefix_space", true, context));
    }
  } else {
    return absl::UnimplementedError(
        absl::StrCat("decoder type \"", type,
                     "\" is not supported (supported: Sequence, Replace, ByteFallback, Fuse, Strip, "
                     "Metaspace)"));
  }
  steps->push_back(std::move(step));
  return absl::OkStatus();
}

std::string HfDecoder::Decode(std::vector<std::string> pieces) const {
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Step::Kind::kReplace:
        for (std::string& piece : pieces) {
          piece = step.replace->Apply(piece);
        }
        break;
      case Step::Kind::kByteFallback: pieces = FuseBytePieces(std::move(pieces)); break;
      case Step::Kind::kFuse: pieces = {absl::StrJoin(pieces, "")}; break;
      case Step::Kind::kStrip:
        for (std::string& piece : pieces) {
          piece = StripCharacter(piece, step.pattern, step.strip_start, step.strip_stop);
        }
        break;
      case Step::Kind::kMetaspace:
        for (size_t i = 0; i < pieces.size(); ++i) {
          pieces[i] = absl::StrReplaceAll(pieces[i], {{step.pattern, " "}});
          if (i == 0 && step.strip_first_space && absl::StartsWith(pieces[i], " ")) {
            pieces[i].erase(0, 1);
          }
        }
        break;
    }
  }
  return absl::StrJoin(pieces, "");
}

}  // namespace expsvc::lm
