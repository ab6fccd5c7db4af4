// expsvc-lm-activations: streams the residual activations of a model folder
// (Hugging Face layout, e.g. an iter_NNNNNNN checkpoint of train_lm) over a
// corpus split, for the given layers, and prints what it made: forward
// passes, vectors per layer and language, and the throughput.
//
//   expsvc-lm-activations --model=DIR --corpus=corpus.bin --layers=0,1,2,3 [--split=test]
//                         [--batch_windows=32] [--cache=FILE]

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "worker/lm/activations/activation_source.h"
#include "worker/lm/corpus/corpus_file_format.h"
#include "worker/lm/model/llama_checkpoint.h"

ABSL_FLAG(std::string, model, "", "model folder (config.json + model.safetensors)");
ABSL_FLAG(std::string, corpus, "", "corpus.bin of build_corpus");
ABSL_FLAG(std::string, layers, "", "comma-separated block indices; empty = every layer");
ABSL_FLAG(std::string, split, "test", "train, valid or test");
ABSL_FLAG(int64_t, batch_windows, 32, "windows per forward pass");
ABSL_FLAG(std::string, cache, "", "activation cache file (written on the first run, replayed after)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace expsvc::lm;
  absl::StatusOr<LlamaModel> model = LoadLlamaModel(absl::GetFlag(FLAGS_model));
  if (!model.ok()) {
    std::fprintf(stderr, "model: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<LmCorpus> corpus = ReadCorpusFile(absl::GetFlag(FLAGS_corpus));
  if (!corpus.ok()) {
    std::fprintf(stderr, "corpus: %s\n", std::string(corpus.status().message()).c_str());
    return 1;
  }
  ActivationSourceOptions options;
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_layers), ',', absl::SkipEmpty())) {
    int64_t layer = 0;
    if (!absl::SimpleAtoi(part, &layer)) {
      std::fprintf(stderr, "--layers: '%s' is not a number\n", std::string(part).c_str());
      return 2;
    }
    options.layers.push_back(layer);
  }
  if (options.layers.empty()) {
    for (int64_t l = 0; l < (*model)->config().num_hidden_layers; ++l) options.layers.push_back(l);
  }
  const std::string split = absl::GetFlag(FLAGS_split);
  options.split = split == "train" ? Split::kTrain : split == "valid" ? Split::kValid : Split::kTest;
  options.batch_windows = absl::GetFlag(FLAGS_batch_windows);
  options.cache_path = absl::GetFlag(FLAGS_cache);
  ActivationSource source(*model, *corpus, options);
  int64_t rows = 0, japanese = 0;
  const auto start = std::chrono::steady_clock::now();
  const absl::Status status = source.ForEachBatch([&](const ActivationBatch& batch) {
    rows += batch.rows();
    japanese += batch.languages.eq(static_cast<int>(Language::kJapanese)).sum().item<int64_t>();
    return absl::OkStatus();
  });
  if (!status.ok()) {
    std::fprintf(stderr, "activations: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "%s split: %lld windows -> %lld vectors per layer (%lld English, %lld Japanese) for %zu layers, "
      "hidden %lld, from %lld forward passes in %.2f s (%.0f vectors/s per layer)\n",
      split.c_str(), static_cast<long long>(source.windows()), static_cast<long long>(rows),
      static_cast<long long>(rows - japanese), static_cast<long long>(japanese), options.layers.size(),
      static_cast<long long>((*model)->config().hidden_size), static_cast<long long>(source.forward_passes()), seconds,
      seconds > 0 ? rows / seconds : 0.0);
  return 0;
}
