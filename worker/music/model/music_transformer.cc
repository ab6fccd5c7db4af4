#include "worker/music/model/music_transformer.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace expsvc::music {
namespace {

namespace F = torch::nn::functional;

absl::Status CheckTensor(const torch::Tensor& tensor, std::string_view name, torch::Dtype dtype,
                         const std::vector<int64_t>& sizes, const torch::Device& device) {
  if (!tensor.defined()) return absl::InvalidArgumentError(absl::StrCat(std::string(name), " is missing"));
  if (tensor.scalar_type() != dtype) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(name), " has dtype ",
                                                   std::string(c10::toString(tensor.scalar_type())), ", expected ",
                                                   std::string(c10::toString(dtype))));
  }
  if (tensor.sizes() != c10::IntArrayRef(sizes)) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(name), " has shape ", c10::str(tensor.sizes()),
                                                   ", expected ", c10::str(c10::IntArrayRef(sizes))));
  }
  if (tensor.device() != device) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(name), " is on ", tensor.device().str(), ", tokens on ", device.str()));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<int64_t> FieldVocabSizes(Representation representation) {
  if (representation == Representation::kNoteBased) return {3, 16, 48, 3, 128, 27};
  return {224};
}

RelativeAttentionOptions MusicTransformerOptions::attention_options() const {
  return RelativeAttentionOptions(d_model(), n_heads())
      .kind(attention())
      .max_len(max_len())
      .max_relative_bars(max_relative_bars())
      .sinusoid_base(sinusoid_base())
      .dropout(dropout())
      .fused_kernel(fused_kernel())
      .query_chunk(query_chunk())
      .flash_kernel(flash_kernel());
}

MusicBatch MusicBatch::To(const torch::Device& device) const {
  const auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  return {move(tokens), move(times), move(pitches), move(has_pitch), move(padding_mask)};
}

absl::Status ValidateMusicBatch(const MusicBatch& batch, const MusicTransformerOptions& options) {
  const std::vector<int64_t> vocab = FieldVocabSizes(options.representation());
  const int64_t fields = static_cast<int64_t>(vocab.size());
  if (!batch.tokens.defined() || batch.tokens.dim() != 3 || batch.tokens.size(2) != fields) {
    return absl::InvalidArgumentError(absl::StrCat("tokens must be [B, L, ", fields, "] for the ",
                                                   std::string(RepresentationName(options.representation())),
                                                   "-based representation"));
  }
  const int64_t B = batch.tokens.size(0);
  const int64_t L = batch.tokens.size(1);
  if (B == 0 || L == 0) return absl::InvalidArgumentError("empty batch");
  const torch::Device device = batch.tokens.device();
  if (batch.tokens.scalar_type() != torch::kLong) return absl::InvalidArgumentError("tokens must be int64");
  if (absl::Status s = CheckTensor(batch.times, "times", torch::kLong, {B, L}, device); !s.ok()) return s;
  if (absl::Status s = CheckTensor(batch.pitches, "pitches", torch::kLong, {B, L}, device); !s.ok()) return s;
  if (absl::Status s = CheckTensor(batch.has_pitch, "has_pitch", torch::kBool, {B, L}, device); !s.ok()) {
    return s;
  }
  if (batch.padding_mask.defined()) {
    if (absl::Status s = CheckTensor(batch.padding_mask, "padding_mask", torch::kBool, {B, L}, device); !s.ok()) {
      return s;
    }
  }
  for (int64_t f = 0; f < fields; ++f) {
    const torch::Tensor field = batch.tokens.select(2, f);
    const int64_t low = field.min().item<int64_t>();
    const int64_t high = field.max().item<int64_t>();
    if (low < 0 || high >= vocab[f]) {
      return absl::InvalidArgumentError(
          absl::StrCat("token field ", f, " has values in [", low, ", ", high, "], vocabulary size ", vocab[f]));
    }
  }
  const torch::Tensor pitched = batch.pitches.masked_select(batch.has_pitch);
  if (pitched.numel() > 0 && (pitched.min().item<int64_t>() < 0 || pitched.max().item<int64_t>() >= kNumPitches)) {
    return absl::InvalidArgumentError("pitches of tokens with has_pitch must be in 0..127");
  }
  return absl::OkStatus();
}

NextTokenLoss ComputeNextTokenLoss(const std::vector<torch::Tensor>& logits, const torch::Tensor& tokens,
                                   const torch::Tensor& padding_mask) {
  TORCH_CHECK(tokens.dim() == 3 && static_cast<int64_t>(logits.size()) == tokens.size(2),
              "one logits tensor per token field expected");
  const int64_t L = tokens.size(1);
  TORCH_CHECK(L >= 2, "next-token loss needs at least two tokens");
  torch::Tensor weight = padding_mask.defined()
                             ? padding_mask.narrow(1, 1, L - 1).logical_not()
                             : torch::ones({tokens.size(0), L - 1}, tokens.options().dtype(torch::kBool));
  // Logits from a bf16 autocast region are scored in float32.
  const torch::ScalarType score_dtype =
      logits.front().element_size() < 4 ? torch::kFloat32 : logits.front().scalar_type();
  const torch::Tensor flat_weight = weight.reshape({-1}).to(score_dtype);
  // Clamped so an all-padding batch gives 0 rather than NaN.
  const torch::Tensor count = flat_weight.sum().clamp_min(1.0);

  NextTokenLoss loss;
  for (size_t f = 0; f < logits.size(); ++f) {
    const int64_t vocab = logits[f].size(-1);
    const torch::Tensor predicted = logits[f].to(score_dtype).narrow(1, 0, L - 1).reshape({-1, vocab});
    const torch::Tensor target = tokens.select(2, static_cast<int64_t>(f)).narrow(1, 1, L - 1).reshape({-1});
    const torch::Tensor per_token =
        F::cross_entropy(predicted, target, F::CrossEntropyFuncOptions().reduction(torch::kNone));
    loss.per_field.push_back((per_token * flat_weight).sum() / count);
    loss.total = loss.total.defined() ? loss.total + loss.per_field.back() : loss.per_field.back();
  }
  return loss;
}

DecoderBlockImpl::DecoderBlockImpl(const MusicTransformerOptions& options) {
  const int64_t d = options.d_model();
  attention_norm_ = register_module("attention_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  attention_ = register_module("attention", RelativeAttention(options.attention_options()));
  feed_forward_norm_ = register_module("feed_forward_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  feed_forward_in_ = register_module("feed_forward_in", torch::nn::Linear(d, options.d_ff()));
  feed_forward_out_ = register_module("feed_forward_out", torch::nn::Linear(options.d_ff(), d));
  dropout_ = register_module("dropout", torch::nn::Dropout(options.dropout()));
}

torch::Tensor DecoderBlockImpl::forward(const torch::Tensor& x, const RelativeLayout& layout) {
  // Pre-LayerNorm: trains stably without learning-rate warm-up.
  torch::Tensor h = x + dropout_->forward(attention_->forward(attention_norm_->forward(x), layout));
  const torch::Tensor ff = feed_forward_out_->forward(
      dropout_->forward(torch::gelu(feed_forward_in_->forward(feed_forward_norm_->forward(h)))));
  return h + dropout_->forward(ff);
}

torch::Tensor DecoderBlockImpl::ForwardCached(const torch::Tensor& x, AttentionCache& cache, const torch::Tensor& times,
                                              const torch::Tensor& pitches, const torch::Tensor& has_pitch) {
  torch::Tensor h =
      x + dropout_->forward(attention_->ForwardCached(attention_norm_->forward(x), cache, times, pitches, has_pitch));
  const torch::Tensor ff = feed_forward_out_->forward(
      dropout_->forward(torch::gelu(feed_forward_in_->forward(feed_forward_norm_->forward(h)))));
  return h + dropout_->forward(ff);
}

MusicTransformerImpl::MusicTransformerImpl(MusicTransformerOptions options)
    : options_(std::move(options)), vocab_sizes_(FieldVocabSizes(options_.representation())) {
  TORCH_CHECK(options_.n_layers() > 0 && options_.d_ff() > 0, "n_layers and d_ff must be positive");
  const int64_t d = options_.d_model();
  for (size_t f = 0; f < vocab_sizes_.size(); ++f) {
    embeddings_.push_back(register_module(absl::StrCat("embedding_", f), torch::nn::Embedding(vocab_sizes_[f], d)));
  }
  embedding_dropout_ = register_module("embedding_dropout", torch::nn::Dropout(options_.dropout()));
  if (options_.absolute_positions()) {
    absolute_encoding_ = register_buffer(
        "absolute_encoding",
        SinusoidalEncoding(torch::arange(options_.max_len(), torch::TensorOptions().dtype(torch::kLong)), d,
                           options_.sinusoid_base(), torch::kDouble));
  }
  for (int64_t layer = 0; layer < options_.n_layers(); ++layer) {
    blocks_.push_back(register_module(absl::StrCat("block_", layer), DecoderBlock(options_)));
  }
  final_norm_ = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  for (size_t f = 0; f < vocab_sizes_.size(); ++f) {
    heads_.push_back(register_module(absl::StrCat("head_", f), torch::nn::Linear(d, vocab_sizes_[f])));
  }
}

std::vector<torch::Tensor> MusicTransformerImpl::forward(const torch::Tensor& tokens, const torch::Tensor& times,
                                                         const torch::Tensor& pitches, const torch::Tensor& has_pitch,
                                                         const torch::Tensor& padding_mask) {
  TORCH_CHECK(tokens.dim() == 3 && tokens.size(2) == static_cast<int64_t>(vocab_sizes_.size()),
              "tokens must be [B, L, fields]");
  const int64_t L = tokens.size(1);
  torch::Tensor x = embeddings_[0]->forward(tokens.select(2, 0));
  for (size_t f = 1; f < embeddings_.size(); ++f) {
    x = x + embeddings_[f]->forward(tokens.select(2, static_cast<int64_t>(f)));
  }
  if (options_.absolute_positions()) {
    const torch::Tensor encoding = L <= absolute_encoding_.size(0)
                                       ? absolute_encoding_.narrow(0, 0, L)
                                       : SinusoidalEncoding(torch::arange(L, tokens.options()), options_.d_model(),
                                                            options_.sinusoid_base(), torch::kDouble);
    x = x + encoding.to(x.scalar_type());
  }
  x = embedding_dropout_->forward(x);

  // Shared by every layer: the index matrices depend only on the metadata.
  const RelativeLayout layout =
      options_.flash_kernel()
          ? BuildTokenLayout(times, pitches, has_pitch, padding_mask, options_.max_relative_bars(),
                             HasTimePitchBias(options_.attention()))
          : BuildRelativeLayout(times, pitches, has_pitch, padding_mask, options_.max_relative_bars(),
                                HasTimePitchBias(options_.attention()), options_.query_chunk());
  for (DecoderBlock& block : blocks_) x = block->forward(x, layout);
  x = final_norm_->forward(x);

  std::vector<torch::Tensor> logits;
  logits.reserve(heads_.size());
  for (torch::nn::Linear& head : heads_) logits.push_back(head->forward(x));
  return logits;
}

std::vector<torch::Tensor> MusicTransformerImpl::ForwardCached(const torch::Tensor& tokens, const torch::Tensor& times,
                                                               const torch::Tensor& pitches,
                                                               const torch::Tensor& has_pitch,
                                                               MusicDecodeState& state) {
  TORCH_CHECK(tokens.dim() == 3 && tokens.size(2) == static_cast<int64_t>(vocab_sizes_.size()),
              "tokens must be [B, n, fields]");
  const int64_t n = tokens.size(1);
  const int64_t start = state.length();
  TORCH_CHECK(times.sizes() == tokens.sizes().slice(0, 2), "times must be [B, n]");
  if (state.layers.empty()) state.layers.resize(blocks_.size());
  const auto append = [&](torch::Tensor& all, const torch::Tensor& added) {
    all = all.defined() ? torch::cat({all, added}, 1) : added;
  };
  append(state.times, times.to(torch::kLong));
  append(state.pitches, pitches.to(torch::kLong));
  append(state.has_pitch, has_pitch.to(torch::kBool));

  torch::Tensor x = embeddings_[0]->forward(tokens.select(2, 0));
  for (size_t f = 1; f < embeddings_.size(); ++f) {
    x = x + embeddings_[f]->forward(tokens.select(2, static_cast<int64_t>(f)));
  }
  if (options_.absolute_positions()) {
    const torch::Tensor encoding =
        start + n <= absolute_encoding_.size(0)
            ? absolute_encoding_.narrow(0, start, n)
            : SinusoidalEncoding(torch::arange(start, start + n, tokens.options()), options_.d_model(),
                                 options_.sinusoid_base(), torch::kDouble);
    x = x + encoding.to(x.scalar_type());
  }
  x = embedding_dropout_->forward(x);
  for (size_t layer = 0; layer < blocks_.size(); ++layer) {
    x = blocks_[layer]->ForwardCached(x, state.layers[layer], state.times, state.pitches, state.has_pitch);
  }
  x = final_norm_->forward(x);
  std::vector<torch::Tensor> logits;
  logits.reserve(heads_.size());
  for (torch::nn::Linear& head : heads_) logits.push_back(head->forward(x));
  return logits;
}

absl::StatusOr<std::vector<torch::Tensor>> MusicTransformerImpl::Forward(const MusicBatch& batch) {
  if (absl::Status s = ValidateMusicBatch(batch, options_); !s.ok()) return s;
  try {
    return forward(batch.tokens, batch.times, batch.pitches, batch.has_pitch, batch.padding_mask);
  } catch (const c10::Error& error) {
    return absl::InternalError(absl::StrCat("music transformer forward: ", error.what_without_backtrace()));
  }
}

absl::StatusOr<NextTokenLoss> MusicTransformerImpl::Loss(const MusicBatch& batch) {
  if (batch.tokens.defined() && batch.tokens.dim() >= 2 && batch.tokens.size(1) < 2) {
    return absl::InvalidArgumentError("next-token loss needs at least two tokens per sequence");
  }
  absl::StatusOr<std::vector<torch::Tensor>> logits = Forward(batch);
  if (!logits.ok()) return logits.status();
  try {
    return ComputeNextTokenLoss(*logits, batch.tokens, batch.padding_mask);
  } catch (const c10::Error& error) {
    return absl::InternalError(absl::StrCat("music transformer loss: ", error.what_without_backtrace()));
  }
}

int64_t CountParameters(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const torch::Tensor& parameter : module.parameters()) count += parameter.numel();
  return count;
}

}  // namespace expsvc::music
