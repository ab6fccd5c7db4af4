#include "worker/lm/activations/activation_source.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace expsvc::lm {
namespace {

constexpr char kCacheMagic[8] = {'E', 'X', 'A', 'C', 'T', 'V', '0', '2'};

// A cheap fingerprint of the weights, so a cache made with another
// checkpoint of the same shape is refused.
std::string ModelFingerprint(LlamaModel& model) {
  torch::NoGradGuard no_grad;
  double weighted = 0;
  double index = 1;
  for (const torch::Tensor& parameter : model->parameters()) {
    weighted += parameter.to(torch::kDouble).sum().item<double>() * index;
    index += 1;
  }
  return absl::StrFormat("%.17g", weighted);
}

// The settings a cache file is valid for, written in its header.
std::string CacheKey(const LmCorpus& corpus, const ActivationSourceOptions& options, int64_t hidden,
                     const std::string& model_fingerprint) {
  return absl::StrCat("model=", model_fingerprint, ";batch_windows=", options.batch_windows,
                      ";split=", static_cast<int>(options.split), ";windows=", options.max_windows,
                      ";layers=", absl::StrJoin(options.layers, ","), ";drop_bos=", options.drop_bos,
                      ";normalize=", options.normalize, ";hidden=", hidden, ";window_length=", corpus.window_length(),
                      ";vocab=", corpus.vocab_size(), ";split_windows=", corpus.window_count(options.split));
}

void WriteTensor(std::ofstream& out, const torch::Tensor& tensor) {
  const torch::Tensor contiguous = tensor.contiguous();
  out.write(static_cast<const char*>(contiguous.data_ptr()), static_cast<std::streamsize>(contiguous.nbytes()));
}

bool ReadTensor(std::ifstream& in, torch::Tensor& tensor) {
  in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(tensor.nbytes()));
  return static_cast<bool>(in);
}

}  // namespace

ActivationSource::ActivationSource(LlamaModel model, const LmCorpus& corpus, ActivationSourceOptions options)
    : model_(std::move(model)), corpus_(corpus), options_(std::move(options)) {
  std::sort(options_.layers.begin(), options_.layers.end());
  options_.layers.erase(std::unique(options_.layers.begin(), options_.layers.end()), options_.layers.end());
}

int64_t ActivationSource::windows() const {
  const int64_t available = corpus_.window_count(options_.split);
  return options_.max_windows > 0 ? std::min(available, options_.max_windows) : available;
}

int64_t ActivationSource::rows_per_sweep() const {
  return windows() * (corpus_.window_length() - (options_.drop_bos ? 1 : 0));
}

absl::Status ActivationSource::Validate() const {
  if (options_.layers.empty()) return absl::InvalidArgumentError("no layers requested");
  const int64_t layer_count = model_->config().num_hidden_layers;
  for (int64_t layer : options_.layers) {
    if (layer < 0 || layer >= layer_count) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer ", layer, " does not exist: the model has layers 0..", layer_count - 1));
    }
  }
  if (options_.batch_windows < 1) return absl::InvalidArgumentError("batch_windows must be at least 1");
  if (corpus_.vocab_size() > model_->config().vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("the corpus has ", corpus_.vocab_size(),
                                                   " token ids but the model's vocabulary is ",
                                                   model_->config().vocab_size));
  }
  if (windows() == 0) {
    return absl::FailedPreconditionError(absl::StrCat("the ", SplitName(options_.split), " split has no windows"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ActivationBatch> ActivationSource::ComputeBatch(int64_t first_window, int64_t count) {
  std::vector<int64_t> indices(static_cast<size_t>(count));
  std::iota(indices.begin(), indices.end(), first_window);
  return ComputeWindows(indices);
}

absl::StatusOr<ActivationBatch> ActivationSource::Compute(absl::Span<const int64_t> window_indices) {
  EXPSVC_RETURN_IF_ERROR(Validate());
  const int64_t available = corpus_.window_count(options_.split);
  for (int64_t index : window_indices) {
    if (index < 0 || index >= available) {
      return absl::OutOfRangeError(absl::StrCat("window ", index, " is not in the ", SplitName(options_.split),
                                                " split (", available, " windows)"));
    }
  }
  try {
    torch::NoGradGuard no_grad;
    model_->eval();
    return ComputeWindows(window_indices);
  } catch (const c10::Error& error) {
    return absl::InternalError(absl::StrCat("activations: ", error.what_without_backtrace()));
  }
}

absl::StatusOr<ActivationBatch> ActivationSource::ComputeWindows(absl::Span<const int64_t> window_indices) {
  const auto count = static_cast<int64_t>(window_indices.size());
  const int64_t length = corpus_.window_length();
  torch::Tensor tokens = torch::empty({count, length}, torch::kLong);
  torch::Tensor languages = torch::empty({count}, torch::kUInt8);
  int64_t* token_data = tokens.data_ptr<int64_t>();
  for (int64_t w = 0; w < count; ++w) {
    const CorpusWindow window = corpus_.window(options_.split, window_indices[w]);
    std::copy(window.tokens.begin(), window.tokens.end(), token_data + w * length);
    languages[w] = static_cast<uint8_t>(window.language);
  }
  LlamaForwardOptions forward;
  forward.residual_layers = options_.layers;
  forward.compute_logits = false;
  forward.stop_after_deepest_layer = true;
  EXPSVC_ASSIGN_OR_RETURN(LlamaForwardOutput output, model_->Forward(tokens.to(model_->device()), forward));
  ++forward_passes_;

  const int64_t skip = options_.drop_bos ? 1 : 0;
  const int64_t per_window = length - skip;
  ActivationBatch batch;
  batch.first_window = count > 0 ? window_indices[0] : 0;
  for (int64_t layer : options_.layers) {
    torch::Tensor residual = output.residuals.at(layer).narrow(1, skip, per_window);
    residual = residual.reshape({count * per_window, residual.size(-1)}).to(torch::kCPU, torch::kFloat32);
    if (options_.normalize) {
      residual = residual / residual.norm(2, -1, /*keepdim=*/true).clamp_min(1e-12);
    }
    batch.layers[layer] = residual.contiguous();
  }
  batch.token_ids = tokens.narrow(1, skip, per_window).reshape({-1}).contiguous();
  batch.languages = languages.repeat_interleave(per_window);
  batch.windows = torch::tensor(std::vector<int64_t>(window_indices.begin(), window_indices.end()), torch::kLong)
                      .repeat_interleave(per_window);
  batch.positions = torch::arange(skip, length, torch::kLong).repeat({count});
  return batch;
}

absl::Status ActivationSource::ReadCache(const std::function<absl::Status(const ActivationBatch&)>& consume) {
  std::ifstream in(options_.cache_path, std::ios::binary);
  const int64_t hidden = model_->config().hidden_size;
  char magic[8];
  uint64_t key_size = 0;
  in.read(magic, 8);
  in.read(reinterpret_cast<char*>(&key_size), sizeof(key_size));
  if (!in || !std::equal(magic, magic + 8, kCacheMagic) || key_size > 4096) {
    return absl::DataLossError(absl::StrCat("activation cache ", options_.cache_path, " is not a cache file"));
  }
  std::string key(key_size, '\0');
  in.read(key.data(), static_cast<std::streamsize>(key_size));
  if (key != CacheKey(corpus_, options_, hidden, ModelFingerprint(model_))) {
    return absl::FailedPreconditionError(
        absl::StrCat("activation cache ", options_.cache_path, " was made with other settings (", key, ")"));
  }
  const int64_t per_window = corpus_.window_length() - (options_.drop_bos ? 1 : 0);
  for (int64_t first = 0; first < windows(); first += options_.batch_windows) {
    const int64_t count = std::min(options_.batch_windows, windows() - first);
    const int64_t rows = count * per_window;
    int64_t stored_rows = -1;
    in.read(reinterpret_cast<char*>(&stored_rows), sizeof(stored_rows));
    if (!in || stored_rows != rows) {
      return absl::DataLossError(absl::StrCat("activation cache ", options_.cache_path, " does not match at window ",
                                              first, " (", stored_rows, " rows stored, ", rows, " expected)"));
    }
    ActivationBatch batch;
    batch.first_window = first;
    bool ok = true;
    for (int64_t layer : options_.layers) {
      torch::Tensor values = torch::empty({rows, hidden}, torch::kFloat32);
      ok = ok && ReadTensor(in, values);
      batch.layers[layer] = values;
    }
    batch.token_ids = torch::empty({rows}, torch::kLong);
    batch.languages = torch::empty({rows}, torch::kUInt8);
    batch.windows = torch::empty({rows}, torch::kLong);
    batch.positions = torch::empty({rows}, torch::kLong);
    for (torch::Tensor* t : {&batch.token_ids, &batch.languages, &batch.windows, &batch.positions}) {
      ok = ok && ReadTensor(in, *t);
    }
    if (!ok) {
      return absl::DataLossError(
          absl::StrCat("activation cache ", options_.cache_path, " is truncated at window ", first));
    }
    EXPSVC_RETURN_IF_ERROR(consume(batch));
  }
  return absl::OkStatus();
}

absl::Status ActivationSource::ForEachBatch(const std::function<absl::Status(const ActivationBatch&)>& consume) {
  EXPSVC_RETURN_IF_ERROR(Validate());
  try {
    torch::NoGradGuard no_grad;
    model_->eval();
    const bool use_cache = !options_.cache_path.empty();
    if (use_cache && std::filesystem::exists(options_.cache_path)) return ReadCache(consume);
    std::ofstream cache;
    const std::string partial = options_.cache_path + ".partial";
    if (use_cache) {
      cache.open(partial, std::ios::binary | std::ios::trunc);
      if (!cache) return absl::InternalError(absl::StrCat("cannot write the activation cache ", partial));
      const std::string key = CacheKey(corpus_, options_, model_->config().hidden_size, ModelFingerprint(model_));
      const uint64_t key_size = key.size();
      cache.write(kCacheMagic, 8);
      cache.write(reinterpret_cast<const char*>(&key_size), sizeof(key_size));
      cache.write(key.data(), static_cast<std::streamsize>(key.size()));
    }
    for (int64_t first = 0; first < windows(); first += options_.batch_windows) {
      const int64_t count = std::min(options_.batch_windows, windows() - first);
      EXPSVC_ASSIGN_OR_RETURN(ActivationBatch batch, ComputeBatch(first, count));
      if (use_cache) {
        const int64_t rows = batch.rows();
        cache.write(reinterpret_cast<const char*>(&rows), sizeof(rows));
        for (const auto& [layer, values] : batch.layers) WriteTensor(cache, values);
        for (const torch::Tensor* t : {&batch.token_ids, &batch.languages, &batch.windows, &batch.positions}) {
          WriteTensor(cache, *t);
        }
      }
      EXPSVC_RETURN_IF_ERROR(consume(batch));
    }
    if (use_cache) {
      cache.close();
      if (!cache) return absl::InternalError(absl::StrCat("writing the activation cache ", partial, " failed"));
      std::filesystem::rename(partial, options_.cache_path);
    }
  } catch (const c10::Error& error) {
    return absl::InternalError(absl::StrCat("activations: ", error.what_without_backtrace()));
  } catch (const std::filesystem::filesystem_error& error) {
    return absl::InternalError(absl::StrCat("activation cache: ", error.what()));
  }
  return absl::OkStatus();
}

}  // namespace expsvc::lm
