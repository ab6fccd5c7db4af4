#include "common/kinds/lm_kinds.h"

#include "common/kinds/kind_definition.h"
#include "common/kinds/torch_device_params.h"

namespace expsvc::kinds {
namespace {

const KindDefinition<BuildCorpusParams>& BuildCorpus() {
  using P = BuildCorpusParams;
  static const auto* const definition = [] {
    auto* d = new KindDefinition<P>(
        "build_corpus",
        "Builds the bilingual corpus of Study 2: documents in English and Japanese (the Debian Reference, or "
        "folders of plain text), an 8:1:1 split by document, a SentencePiece unigram tokenizer trained on the "
        "training split (or an existing model's tokenizer), windows of BOS + N tokens with language labels.");
    d->Choice("source", &P::source, {"debian_reference", "text_folders"}, "Where the documents come from.")
        .String("debian_reference_dir", &P::debian_reference_dir,
                "Folder of debian-reference.{en,ja}.txt.gz; empty means Debian's install folder.")
        .String("text_dir", &P::text_dir, "source text_folders: a folder holding en/ and ja/ with *.txt.")
        .String("tokenizer", &P::tokenizer,
                "Tokenise with an existing tokenizer instead of training one: a tokenizer.model or tokenizer.json "
                "path, or a model name under the worker's EXPSVC_MODELS_DIR (llm-jp-3-150m, "
                "llm-jp-3-150m/iter_0000010: the folder's tokenizer, else its parent's). Empty: train one.")
        .Int("vocab_size", &P::vocab_size,
             "Trained tokenizer's vocabulary size (an upper bound); unused with tokenizer.", {100, 262144})
        .Int("tokens_per_window", &P::tokens_per_window, "Tokens per window after the BOS.", {2, 65536})
        .Int("split_seed", &P::split_seed, "Seed of the 8:1:1 document split.", {0, {}})
        .Int("threads", &P::threads, "Tokenizer training threads.", {1, 1024});
    return d;
  }();
  return *definition;
}

const KindDefinition<TrainLmParams>& TrainLm() {
  using P = TrainLmParams;
  static const auto* const definition = [] {
    auto* d = new KindDefinition<P>(
        "train_lm",
        "Trains a small Llama-style LM (Study 2) on the parent build_corpus job's corpus, saving checkpoints at "
        "log-spaced steps in the Hugging Face layout (iter_NNNNNNN) and per-language perplexity.");
    d->Int("layers", &P::layers, "Decoder blocks.", {1, 256})
        .Int("hidden", &P::hidden, "Model width.", {8, 65536})
        .Int("heads", &P::heads, "Attention heads (must divide hidden).", {1, 1024})
        .Int("kv_heads", &P::kv_heads, "Key/value heads for grouped-query attention; 0 = heads.", {0, 1024})
        .Int("ffn", &P::ffn, "SwiGLU width; 0 = 8/3 of hidden, rounded up to 64.", {0, 1048576})
        .Int("steps", &P::steps, "Optimizer steps.", {1, {}})
        .Int("batch_size", &P::batch_size, "Windows per step.", {1, 65536})
        .Double("lr", &P::lr, "Peak learning rate (AdamW; warm-up, then cosine to 10%).", {0, 1})
        .Int("warmup_steps", &P::warmup_steps, "Linear warm-up steps.", {0, {}})
        .Double("weight_decay", &P::weight_decay, "AdamW weight decay.", {0, 1})
        .Int("eval_every", &P::eval_every, "Validation (per language) every N steps and at checkpoints.", {1, {}})
        .Int("eval_windows", &P::eval_windows, "Validation windows per language; 0 means all.", {0, {}})
        .String("checkpoint_steps", &P::checkpoint_steps,
                "Comma-separated steps to save; empty means 10, 20, 50, 100, 200, 500, ... and the last step.")
        .String("checkpoint_dir", &P::checkpoint_dir, "Also write the iter_NNNNNNN folders here (on the worker).")
        .Int("resume_every", &P::resume_every, "Save a resume point every N steps (0 = only on shutdown).", {0, {}})
        .Int("seed", &P::seed, "Seed of initialisation and batch order.", {0, {}});
    AddTorchDeviceParams(*d);
    return d;
  }();
  return *definition;
}

}  // namespace

const JobKindSpec& BuildCorpusParams::Spec() {
  return BuildCorpus().spec();
}
absl::StatusOr<BuildCorpusParams> BuildCorpusParams::FromJson(const nlohmann::json& params) {
  return BuildCorpus().Parse(params);
}

const JobKindSpec& TrainLmParams::Spec() {
  return TrainLm().spec();
}
absl::StatusOr<TrainLmParams> TrainLmParams::FromJson(const nlohmann::json& params) {
  return TrainLm().Parse(params);
}

}  // namespace expsvc::kinds
