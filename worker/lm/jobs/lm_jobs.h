#pragma once
// Job kinds of the bilingual LM study (Study 2):
//
// build_corpus — documents in two languages (the Debian Reference in English
//   and Japanese, or any folders of plain text per language), split 8:1:1 by
//   document, a SentencePiece unigram tokenizer trained on the training
//   split (or, with `tokenizer`, an existing one: a file, or a model under
//   $EXPSVC_MODELS_DIR, models_dir.h), windows of BOS + N tokens with a
//   language label each; corpus.bin records the tokenizer's identity.
//   Artifacts: corpus.bin, tokenizer.model (absent when given a
//   tokenizer.json), tokenizer.json. Metrics: documents and windows per
//   split and language, vocab_size, build_seconds.
//
// train_lm — a small Llama-style LM trained on the parent build_corpus
//   job's corpus. Metrics: train_loss (every step), lr, valid_loss_en /
//   valid_loss_ja and valid_ppl_en / valid_ppl_ja (every eval_every steps
//   and at every checkpoint). At log-spaced steps (10, 20, 50, 100, 200,
//   500, ...) it saves the model in the Hugging Face layout, as LLM-jp's
//   iter_NNNNNNN/ folders: the artifacts iter_NNNNNNN.config.json,
//   iter_NNNNNNN.model.safetensors (plus tokenizer.model / tokenizer.json
//   once), which `expctl artifacts get` and LoadLlamaModel put back
//   together as a folder; with `checkpoint_dir` set, the folders are also
//   written there directly. The weights' metadata carries tokenizer_sha256,
//   the tokenizer identity (model_tokenizer_check.h), which must equal the
//   corpus's. resume.pt (model, optimizer, step) lets a re-leased job
//   continue.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "worker/runtime/job_context.h"
#include "worker/runtime/job_kind_registry.h"

namespace expsvc::worker {

absl::Status RunBuildCorpus(JobContext& context);
absl::Status RunTrainLm(JobContext& context);

// 10, 20, 50, 100, 200, 500, ... up to and including `steps` (which is
// always last). `explicit_list` ("10,100,1000"), when not empty, replaces
// the log-spaced list.
absl::StatusOr<std::vector<int64_t>> CheckpointSteps(int64_t steps, const std::string& explicit_list);

absl::Status RegisterLmJobs(JobKindRegistry& registry);

}  // namespace expsvc::worker
