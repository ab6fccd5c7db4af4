#include "common/job_kind_catalog.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace expsvc {
namespace {

using Json = nlohmann::json;

ParamSpec Param(std::string name, ParamType type, Json default_value, std::string help,
                std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt) {
  ParamSpec spec;
  spec.name = std::move(name);
  spec.type = type;
  spec.default_value = std::move(default_value);
  spec.min = min;
  spec.max = max;
  spec.help = std::move(help);
  return spec;
}

ParamSpec Choice(std::string name, std::string default_value, std::vector<std::string> choices, std::string help) {
  ParamSpec spec = Param(std::move(name), ParamType::kString, default_value, std::move(help));
  spec.choices = std::move(choices);
  return spec;
}

// Parameters every job kind that samples from a trained music model takes.
std::vector<ParamSpec> MusicSamplingParams(std::vector<ParamSpec> specific) {
  std::vector<ParamSpec> params = std::move(specific);
  for (ParamSpec& spec : std::vector<ParamSpec>{
           Param("temperature", ParamType::kDouble, 1.0, "Sampling temperature; 0 picks the most likely token.", 0,
                 100),
           Param("top_k", ParamType::kInt, 0, "Sample among the k most likely values; 0 = no limit.", 0),
           Param("top_p", ParamType::kDouble, 0.9, "Nucleus sampling mass; 1 = off.", 0.001, 1),
           Param("seed", ParamType::kInt, 1, "Sampling seed.", 0),
           Param("context_tokens", ParamType::kInt, 0,
                 "Model context for prompts (whole bars are dropped from "
                 "the start to fit); 0 means the training max_len.",
                 0),
           // Labels without defaults: a job that leaves them out shows its
           // parent's values in `expctl report`.
           Param("representation", ParamType::kString, nullptr, "Label; when set it must match the parent model."),
           Param("attention", ParamType::kString, nullptr, "Label; when set it must match the parent model."),
           Param("data_fraction", ParamType::kDouble, nullptr, "Label (to match a data-size sweep's axis); not used.",
                 0, 1),
           Param("data_dir", ParamType::kString, "", "Folder holding POP909/; empty means the training job's."),
           Choice("device", "auto", {"auto", "cpu", "cuda"}, "auto picks CUDA when available."),
           Param("threads", ParamType::kInt, 0, "CPU threads for Torch (0 = all cores).", 0, 1024)}) {
    params.push_back(std::move(spec));
  }
  return params;
}

// Adding a kind is one entry here; the scheduler, expctl and the worker all
// read their schemas from this list.
std::vector<JobKindSpec> BuildCatalog() {
  const Json absent = nullptr;
  return {
      {"noop",
       "Does nothing and succeeds; for testing the pipeline.",
       {Param("note", ParamType::kString, absent, "Free text, ignored.")},
       /*accepts_extra_params=*/true},
      {"sleep",
       "Sleeps in steps, reporting metric 'progress' at each step; fails and checkpoints on request, for "
       "testing retries and resumption.",
       {Param("seconds", ParamType::kDouble, 1.0, "Total time to sleep.", 0, 86400),
        Param("steps", ParamType::kInt, 10, "Steps to split the sleep into; 'progress' is reported at each.", 1,
              1000000),
        Param("fail_attempts", ParamType::kInt, 0, "Fail with a retryable error while the attempt number is <= this.",
              0),
        Param("fail_at_step", ParamType::kInt, -1, "Fail at this step; -1 means never.", -1),
        Param("checkpoint_every", ParamType::kInt, 0,
              "Save a checkpoint artifact every N steps and resume from it; 0 means never.", 0),
        Param("exit_code", ParamType::kInt, 0, "Reserved."),
        Param("note", ParamType::kString, absent, "Free text, ignored.")},
       /*accepts_extra_params=*/true},
      {"train_music",
       "Trains a 4-layer decoder-only Transformer on POP909 windows (Study 1) with one of five attention "
       "variants; logs train/valid loss, reports parameters and ms per note, keeps the best checkpoint.",
       {Choice("representation", "event", {"note", "event"}, "Note-based 6-tuples or event-based tokens."),
        Choice("attention", "Attn", {"Attn", "RelAttn", "RIPOAttn", "CirRelAttn-S", "CirRelAttn-H"},
               "Attention variant."),
        Param("d_model", ParamType::kInt, 256, "Model width.", 8, 8192),
        Param("n_layers", ParamType::kInt, 4, "Decoder blocks.", 1, 64),
        Param("n_heads", ParamType::kInt, 8, "Attention heads (must divide d_model).", 1, 128),
        Param("d_ff", ParamType::kInt, 1024, "Feed-forward width.", 8, 65536),
        Param("dropout", ParamType::kDouble, 0.1, "Dropout.", 0, 0.9),
        Param("max_len", ParamType::kInt, 1024,
              "Tokens per training sequence: longer windows are cut to "
              "their first max_len tokens.",
              8, 8192),
        Param("batch_size", ParamType::kInt, 8, "Sequences per step.", 1, 4096),
        Param("lr", ParamType::kDouble, 3e-4, "Peak learning rate (Adam).", 0, 1),
        Choice("lr_schedule", "cosine", {"constant", "cosine", "inverse_sqrt"},
               "After linear warm-up: constant, cosine decay to 10%, or inverse square root."),
        Param("warmup_steps", ParamType::kInt, 100, "Linear warm-up steps.", 0),
        Param("steps", ParamType::kInt, 0, "Optimizer steps; 0 means use epochs.", 0),
        Param("epochs", ParamType::kDouble, 1.0, "Passes over the training windows when steps is 0.", 0),
        Param("eval_every", ParamType::kInt, 200, "Validation every N steps (and at the end).", 1),
        Param("eval_windows", ParamType::kInt, 512, "Validation/test windows evaluated; 0 means all.", 0),
        Param("checkpoint_every", ParamType::kInt, 200, "Checkpoint (for resumption) every N steps.", 1),
        Param("data_fraction", ParamType::kDouble, 1.0, "Share of the training songs (1, 0.5, 0.25, 0.125).", 0.001, 1),
        Param("max_songs", ParamType::kInt, 0, "Use only the first N songs (0 = all); for quick runs.", 0),
        Param("max_notes_per_window", ParamType::kInt, 375, "Drop windows with more notes (0 = keep all).", 0),
        Param("window_bars", ParamType::kInt, 16, "Bars per window.", 1, 16),
        Param("split_seed", ParamType::kInt, 1, "Seed of the 8:1:1 song split.", 0),
        Param("seed", ParamType::kInt, 1, "Seed of initialisation and batch order.", 0),
        Param("data_dir", ParamType::kString, "", "Folder holding POP909/; empty means $EXPSVC_DATA_DIR."),
        Choice("device", "auto", {"auto", "cpu", "cuda"}, "auto picks CUDA when available."),
        Param("threads", ParamType::kInt, 0, "CPU threads for Torch (0 = all cores).", 0, 1024)}},
      {"evaluate_music",
       "Objective next-bar evaluation of the parent train_music job's best model on the test split "
       "(Study 1): loss, note/pianoroll F1, grooving, chroma and pitch-range similarity, and bar-level "
       "self-similarity of generated continuations.",
       MusicSamplingParams(
           {Param("windows", ParamType::kInt, 100, "Test windows evaluated (a seeded sample); 0 means all.", 0),
            Param("sample_seed", ParamType::kInt, 1, "Seed of the window sample.", 0),
            Param("prompt_bars", ParamType::kInt, 0,
                  "Bars given before the generated one; 0 means all but "
                  "the last bar of the window (15 of 16).",
                  0, 15),
            Param("continuations", ParamType::kInt, 4, "Pieces generated for the self-similarity metrics.", 0, 1000),
            Param("continuation_prompt_bars", ParamType::kInt, 4, "Bars given before those pieces.", 1, 15),
            Param("batch_size", ParamType::kInt, 8, "Windows per batch for the loss.", 1, 4096)})},
      {"generate_music",
       "Continues test windows with the parent train_music job's best model (Study 1) and stores the "
       "pieces as MIDI and token files.",
       MusicSamplingParams(
           {Param("pieces", ParamType::kInt, 4, "Test windows continued (a seeded sample).", 1, 10000),
            Param("sample_seed", ParamType::kInt, 1, "Seed of the window sample.", 0),
            Param("prompt_bars", ParamType::kInt, 4, "Bars of the window given as the prompt.", 1, 15),
            Param("generate_bars", ParamType::kInt, 12, "Bars generated after the prompt.", 1, 15),
            Param("max_new_tokens", ParamType::kInt, 4096, "Most tokens generated per piece.", 1, 100000)})},
      {"build_corpus",
       "Builds the bilingual corpus of Study 2: documents in English and Japanese (the Debian Reference, or "
       "folders of plain text), an 8:1:1 split by document, a SentencePiece unigram tokenizer trained on the "
       "training split, windows of BOS + N tokens with language labels.",
       {Choice("source", "debian_reference", {"debian_reference", "text_folders"}, "Where the documents come from."),
        Param("debian_reference_dir", ParamType::kString, "",
              "Folder of debian-reference.{en,ja}.txt.gz; empty means Debian's install folder."),
        Param("text_dir", ParamType::kString, "", "source text_folders: a folder holding en/ and ja/ with *.txt."),
        Param("vocab_size", ParamType::kInt, 8000, "Tokenizer vocabulary size (an upper bound).", 100, 262144),
        Param("tokens_per_window", ParamType::kInt, 64, "Tokens per window after the BOS.", 2, 65536),
        Param("split_seed", ParamType::kInt, 1, "Seed of the 8:1:1 document split.", 0),
        Param("threads", ParamType::kInt, 1, "Tokenizer training threads.", 1, 1024)}},
      {"train_lm",
       "Trains a small Llama-style LM (Study 2) on the parent build_corpus job's corpus, saving checkpoints "
       "at log-spaced steps in the Hugging Face layout (iter_NNNNNNN) and per-language perplexity.",
       {Param("layers", ParamType::kInt, 4, "Decoder blocks.", 1, 256),
        Param("hidden", ParamType::kInt, 256, "Model width.", 8, 65536),
        Param("heads", ParamType::kInt, 4, "Attention heads (must divide hidden).", 1, 1024),
        Param("kv_heads", ParamType::kInt, 0, "Key/value heads for grouped-query attention; 0 = heads.", 0, 1024),
        Param("ffn", ParamType::kInt, 0, "SwiGLU width; 0 = 8/3 of hidden, rounded up to 64.", 0, 1048576),
        Param("steps", ParamType::kInt, 1000, "Optimizer steps.", 1),
        Param("batch_size", ParamType::kInt, 32, "Windows per step.", 1, 65536),
        Param("lr", ParamType::kDouble, 1e-3, "Peak learning rate (AdamW; warm-up, then cosine to 10%).", 0, 1),
        Param("warmup_steps", ParamType::kInt, 50, "Linear warm-up steps.", 0),
        Param("weight_decay", ParamType::kDouble, 0.0, "AdamW weight decay.", 0, 1),
        Param("eval_every", ParamType::kInt, 100, "Validation (per language) every N steps and at checkpoints.", 1),
        Param("eval_windows", ParamType::kInt, 256, "Validation windows per language; 0 means all.", 0),
        Param("checkpoint_steps", ParamType::kString, "",
              "Comma-separated steps to save; empty means 10, 20, 50, 100, 200, 500, ... and the last step."),
        Param("checkpoint_dir", ParamType::kString, "", "Also write the iter_NNNNNNN folders here (on the worker)."),
        Param("resume_every", ParamType::kInt, 100, "Save a resume point every N steps (0 = only on shutdown).", 0),
        Param("seed", ParamType::kInt, 1, "Seed of initialisation and batch order.", 0),
        Choice("device", "auto", {"auto", "cpu", "cuda"}, "auto picks CUDA when available."),
        Param("threads", ParamType::kInt, 0, "CPU threads for Torch (0 = all cores).", 0, 1024)}},
  };
}

// Never throws: invalid UTF-8 is replaced rather than reported.
std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Bounds are doubles; print integral ones without an exponent (1000000, not 1e+06).
std::string FormatBound(double bound) {
  if (std::nearbyint(bound) == bound && std::fabs(bound) < 9e15) {
    return absl::StrCat(static_cast<int64_t>(bound));
  }
  return absl::StrCat(bound);
}

bool IsListType(ParamType type) {
  return type == ParamType::kIntList || type == ParamType::kDoubleList || type == ParamType::kStringList;
}

ParamType ElementType(ParamType list_type) {
  switch (list_type) {
    case ParamType::kIntList: return ParamType::kInt;
    case ParamType::kDoubleList: return ParamType::kDouble;
    default: return ParamType::kString;
  }
}

// Checks one scalar value (a whole parameter or one list element); the
// returned message is completed by the caller with the parameter's name.
std::string CheckScalar(const ParamSpec& spec, ParamType type, const Json& value) {
  switch (type) {
    case ParamType::kInt:
      if (value.is_number_float()) {
        return absl::StrCat("expected an integer, got ", Dump(value),
                            " (a floating-point value is not accepted for an integer, even a whole one)");
      }
      if (!value.is_number_integer()) return absl::StrCat("expected an integer, got ", Dump(value));
      if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()}) {
        return absl::StrCat("integer ", Dump(value), " does not fit in 64 bits");
      }
      break;
    case ParamType::kDouble:
      if (!value.is_number()) return absl::StrCat("expected a number, got ", Dump(value));
      if (!std::isfinite(value.get<double>())) return absl::StrCat("expected a finite number, got ", Dump(value));
      break;
    case ParamType::kString:
      if (!value.is_string()) return absl::StrCat("expected a string, got ", Dump(value));
      if (!spec.choices.empty()) {
        const auto& text = value.get_ref<const std::string&>();
        bool allowed = false;
        for (const std::string& choice : spec.choices) allowed = allowed || choice == text;
        if (!allowed) {
          return absl::StrCat(Dump(value), " is not one of the choices: ", absl::StrJoin(spec.choices, ", "));
        }
      }
      return "";
    case ParamType::kBool: return value.is_boolean() ? "" : absl::StrCat("expected true or false, got ", Dump(value));
    case ParamType::kObject: return value.is_object() ? "" : absl::StrCat("expected an object, got ", Dump(value));
    default: return "internal error: list type checked as a scalar";
  }
  // Numbers only from here on.
  const double number = value.get<double>();
  if (spec.min && number < *spec.min) {
    return absl::StrCat(Dump(value), " is below the minimum ", FormatBound(*spec.min));
  }
  if (spec.max && number > *spec.max) {
    return absl::StrCat(Dump(value), " is above the maximum ", FormatBound(*spec.max));
  }
  return "";
}

std::string CheckValue(const ParamSpec& spec, const Json& value) {
  if (!IsListType(spec.type)) return CheckScalar(spec, spec.type, value);
  if (!value.is_array()) return absl::StrCat("expected a list, got ", Dump(value));
  for (size_t i = 0; i < value.size(); ++i) {
    std::string problem = CheckScalar(spec, ElementType(spec.type), value[i]);
    if (!problem.empty()) return absl::StrCat("element ", i, ": ", problem);
  }
  return "";
}

absl::Status CheckGivenParam(const JobKindSpec& kind, const std::string& name, const Json& value) {
  const ParamSpec* spec = nullptr;
  for (const ParamSpec& candidate : kind.params) {
    if (candidate.name == name) spec = &candidate;
  }
  if (spec == nullptr && kind.accepts_extra_params) return absl::OkStatus();
  if (spec == nullptr) {
    std::vector<std::string> known;
    for (const ParamSpec& candidate : kind.params) known.push_back(candidate.name);
    return absl::InvalidArgumentError(absl::StrCat("kind '", kind.name, "' has no parameter '", name, "' (known: ",
                                                   known.empty() ? "none" : absl::StrJoin(known, ", "), ")"));
  }
  if (value.is_null()) return absl::OkStatus();
  std::string problem = CheckValue(*spec, value);
  if (problem.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("parameter '", name, "' of kind '", kind.name, "': ", problem));
}

}  // namespace

std::string_view ParamTypeName(ParamType type) {
  switch (type) {
    case ParamType::kInt: return "int";
    case ParamType::kDouble: return "double";
    case ParamType::kString: return "string";
    case ParamType::kBool: return "bool";
    case ParamType::kIntList: return "list of int";
    case ParamType::kDoubleList: return "list of double";
    case ParamType::kStringList: return "list of string";
    case ParamType::kObject: return "object";
  }
  return "unknown";
}

const std::vector<JobKindSpec>& AllJobKinds() {
  static const std::vector<JobKindSpec>* const kinds = new std::vector<JobKindSpec>(BuildCatalog());
  return *kinds;
}

const JobKindSpec* FindJobKind(std::string_view name) {
  for (const JobKindSpec& kind : AllJobKinds()) {
    if (kind.name == name) return &kind;
  }
  return nullptr;
}

absl::StatusOr<Json> ValidateJobParams(const JobKindSpec& kind, const Json& params) {
  // Null stands for "no parameters" (e.g. a job submitted without any).
  if (!params.is_object() && !params.is_null()) {
    return absl::InvalidArgumentError(
        absl::StrCat("params of kind '", kind.name, "' must be a JSON object, got ", Dump(params)));
  }
  Json result = Json::object();
  if (params.is_object()) {
    for (const auto& [name, value] : params.items()) {
      EXPSVC_RETURN_IF_ERROR(CheckGivenParam(kind, name, value));
      // An explicit null means "not given", as a null default does.
      if (!value.is_null()) result[name] = value;
    }
  }
  for (const ParamSpec& spec : kind.params) {
    if (result.contains(spec.name)) continue;
    if (spec.required) {
      return absl::InvalidArgumentError(absl::StrCat("kind '", kind.name, "': missing required parameter '", spec.name,
                                                     "' (", std::string(ParamTypeName(spec.type)), ")"));
    }
    if (!spec.default_value.is_null()) result[spec.name] = spec.default_value;
  }
  return result;
}

}  // namespace expsvc
