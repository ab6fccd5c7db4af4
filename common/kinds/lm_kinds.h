#pragma once
// Study 2 (bilingual LM) job kinds: build_corpus and train_lm.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/kinds/param_schema.h"
#include "common/kinds/torch_device_params.h"
#include "nlohmann/json.hpp"

namespace expsvc::kinds {

struct BuildCorpusParams {
  std::string source = "debian_reference";
  std::string debian_reference_dir;
  std::string text_dir;
  std::string tokenizer;  // empty: train one
  int64_t vocab_size = 8000;
  int64_t tokens_per_window = 64;
  int64_t split_seed = 1;
  int64_t threads = 1;

  static const JobKindSpec& Spec();
  static absl::StatusOr<BuildCorpusParams> FromJson(const nlohmann::json& params);
};

struct TrainLmParams : TorchDeviceParams {
  int64_t layers = 4;
  int64_t hidden = 256;
  int64_t heads = 4;
  int64_t kv_heads = 0;
  int64_t ffn = 0;
  int64_t steps = 1000;
  int64_t batch_size = 32;
  double lr = 1e-3;
  int64_t warmup_steps = 50;
  double weight_decay = 0.0;
  int64_t eval_every = 100;
  int64_t eval_windows = 256;
  std::string checkpoint_steps;
  std::string checkpoint_dir;
  int64_t resume_every = 100;
  int64_t seed = 1;

  static const JobKindSpec& Spec();
  static absl::StatusOr<TrainLmParams> FromJson(const nlohmann::json& params);
};

}  // namespace expsvc::kinds
