#include "worker/music/model/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/kinds/music_kinds.h"
#include "worker/kernels/flash_relative/flash_relative.h"
#include "worker/kernels/relative_logits/relative_logits.h"

namespace expsvc::music {
namespace {

namespace F = torch::nn::functional;

// The enum follows the catalog's name list (common/kinds/music_kinds.h),
// which is where the names are written.
constexpr int kNumAttentionKinds = static_cast<int>(AttentionKind::kCirRelAttnH) + 1;

}  // namespace

absl::StatusOr<AttentionKind> ParseAttentionKind(std::string_view name) {
  const std::vector<std::string>& names = kinds::AttentionVariantNames();
  for (int n = 0; n < kNumAttentionKinds; ++n) {
    if (name == names[n]) return static_cast<AttentionKind>(n);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown attention kind '", std::string(name), "' (expected ", absl::StrJoin(names, ", "), ")"));
}

std::string AttentionKindName(AttentionKind kind) {
  const int n = static_cast<int>(kind);
  return n >= 0 && n < kNumAttentionKinds ? kinds::AttentionVariantNames()[n] : "unknown";
}

std::vector<AttentionKind> AllAttentionKinds() {
  std::vector<AttentionKind> all;
  for (int n = 0; n < kNumAttentionKinds; ++n) all.push_back(static_cast<AttentionKind>(n));
  return all;
}

bool HasIndexBias(AttentionKind kind) {
  return kind != AttentionKind::kAttn;
}

bool HasTimePitchBias(AttentionKind kind) {
  return kind == AttentionKind::kRipoAttn || kind == AttentionKind::kCirRelAttnS || kind == AttentionKind::kCirRelAttnH;
}

torch::Tensor SinusoidalEncoding(const torch::Tensor& distances, int64_t dim, double base, torch::Dtype dtype) {
  const auto options = torch::TensorOptions().dtype(torch::kDouble).device(distances.device());
  const torch::Tensor k = torch::arange(dim, options);
  const torch::Tensor paired = torch::floor(k / 2) * 2;  // 2⌊k/2⌋
  const torch::Tensor frequency = torch::pow(base, -paired / static_cast<double>(dim));
  const torch::Tensor angle = distances.to(torch::kDouble).unsqueeze(1) * frequency.unsqueeze(0);
  const torch::Tensor even = torch::remainder(torch::arange(dim, LongOn(distances.device())), 2).eq(0).unsqueeze(0);
  return torch::where(even, torch::sin(angle), torch::cos(angle)).to(dtype);
}

RelativeAttentionImpl::RelativeAttentionImpl(RelativeAttentionOptions options) : options_(std::move(options)) {
  reset();
}

void RelativeAttentionImpl::reset() {
  const int64_t d_model = options_.d_model();
  TORCH_CHECK(d_model > 0 && options_.n_heads() > 0 && d_model % options_.n_heads() == 0,
              "d_model must be a positive multiple of n_heads");
  TORCH_CHECK(options_.max_len() > 0 && options_.max_relative_bars() >= 0,
              "max_len must be positive and max_relative_bars non-negative");
  const int64_t dh = head_dim();
  qkv_ = register_module("qkv", torch::nn::Linear(d_model, 3 * d_model));
  out_ = register_module("out", torch::nn::Linear(d_model, d_model));
  attention_dropout_ = register_module("attention_dropout", torch::nn::Dropout(options_.dropout()));

  // Additive embeddings start like Tensor2Tensor's relative embeddings
  // (std D_h^−½). A Hadamard product of two such factors would start near
  // zero with vanishing gradients, so -H's coarse factors (bar, octave)
  // start at one: at first the product is just the fine embedding.
  const double additive_std = 1.0 / std::sqrt(static_cast<double>(dh));
  const auto additive = [&](int64_t rows) { return torch::randn({rows, dh}) * additive_std; };
  const auto near_one = [&](int64_t rows) { return torch::ones({rows, dh}) + torch::randn({rows, dh}) * 0.02; };
  const AttentionKind kind = options_.kind();
  if (HasIndexBias(kind)) {
    index_embedding_ = register_parameter("index_embedding", additive(options_.max_len()));
  }
  if (kind == AttentionKind::kRipoAttn) {
    // Fixed encodings of every clamped ΔT and every ΔP, computed once (in
    // double; slices are cast to the activations' dtype when used).
    const int64_t max_bars = options_.max_relative_bars();
    const auto longs = torch::TensorOptions().dtype(torch::kLong);
    time_encoding_ = register_buffer(
        "time_encoding",
        SinusoidalEncoding(torch::arange(-max_bars * kPositionsPerBar, (max_bars + 1) * kPositionsPerBar, longs), dh,
                           options_.sinusoid_base(), torch::kDouble));
    pitch_encoding_ = register_buffer(
        "pitch_encoding", SinusoidalEncoding(torch::arange(kMinOctaveDiff * kSemitonesPerOctave,
                                                           (kMaxOctaveDiff + 1) * kSemitonesPerOctave, longs),
                                             dh, options_.sinusoid_base(), torch::kDouble));
  }
  if (kind == AttentionKind::kCirRelAttnS || kind == AttentionKind::kCirRelAttnH) {
    const bool hadamard = kind == AttentionKind::kCirRelAttnH;
    const int64_t bar_rows = 2 * options_.max_relative_bars() + 1;
    bar_embedding_ = register_parameter("bar_embedding", hadamard ? near_one(bar_rows) : additive(bar_rows));
    position_embedding_ = register_parameter("position_embedding", additive(kPositionsPerBar));
    octave_embedding_ =
        register_parameter("octave_embedding", hadamard ? near_one(kNumOctaveDiffs) : additive(kNumOctaveDiffs));
    semitone_embedding_ = register_parameter("semitone_embedding", additive(kSemitonesPerOctave));
  }
}

RelativeLayout RelativeAttentionImpl::MakeLayout(const torch::Tensor& times, const torch::Tensor& pitches,
                                                 const torch::Tensor& has_pitch,
                                                 const torch::Tensor& padding_mask) const {
  if (options_.flash_kernel()) {
    return BuildTokenLayout(times, pitches, has_pitch, padding_mask, options_.max_relative_bars(),
                            HasTimePitchBias(options_.kind()));
  }
  return BuildRelativeLayout(times, pitches, has_pitch, padding_mask, options_.max_relative_bars(),
                             HasTimePitchBias(options_.kind()), options_.query_chunk());
}

void RelativeAttentionImpl::CheckLayout(const torch::Tensor& x, const RelativeLayout& layout,
                                        bool needs_pair_maps) const {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options_.d_model(), "x must be [B, L, d_model]");
  TORCH_CHECK(layout.batch == x.size(0) && layout.length == x.size(1), "layout was built for another batch shape");
  if (needs_pair_maps) {
    TORCH_CHECK(layout.has_pair_maps() && layout.query_chunk > 0,
                "this path needs the layout's L×L maps (BuildRelativeLayout), not a token layout");
  } else {
    TORCH_CHECK(layout.times.defined(), "layout lacks the token metadata the flash kernel reads");
  }
  if (HasTimePitchBias(options_.kind())) {
    TORCH_CHECK(needs_pair_maps ? (layout.time_row.defined() && layout.pitch_row.defined())
                                : (layout.pitches.defined() && layout.has_pitch.defined()),
                "layout lacks the time/pitch rows this attention kind needs");
    TORCH_CHECK(layout.first_bar >= -options_.max_relative_bars() &&
                    layout.first_bar + layout.num_bars - 1 <= options_.max_relative_bars(),
                "layout was built with a larger max_relative_bars");
  }
}

RelativeAttentionImpl::Projections RelativeAttentionImpl::Project(const torch::Tensor& x) {
  const int64_t B = x.size(0);
  const int64_t L = x.size(1);
  // chunk, not select: its backward is one concatenation.
  const std::vector<torch::Tensor> parts = qkv_->forward(x).chunk(3, -1);
  const auto heads = [&](const torch::Tensor& t) {
    return t.view({B, L, options_.n_heads(), head_dim()}).transpose(1, 2);
  };
  // Every term is linear in Q, so scaling Q once scales the whole logit sum.
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim()));
  return {heads(parts[0]) * scale, heads(parts[1]), heads(parts[2])};
}

bool RelativeAttentionImpl::UseFusedKernel(const torch::Tensor& logits) const {
  // By the logits' dtype: under bf16 autocast they are bf16 even for float32
  // inputs, and the kernel's passes take float32 and float64 only.
  return options_.fused_kernel() && kernels::RelativeLogitsRunsOn(logits.device(), logits.scalar_type());
}

torch::Tensor RelativeAttentionImpl::IndexTable(const torch::Tensor& q, RelativeTermBytes* bytes) const {
  const int64_t L = q.size(2);
  const torch::Tensor distances = torch::arange(L - 1, -1, -1, LongOn(q.device())).clamp_max(options_.max_len() - 1);
  const torch::Tensor embeddings = index_embedding_.index_select(0, distances);  // [L, D_h]
  const torch::Tensor projected = torch::matmul(q, embeddings.t());
  if (bytes != nullptr) {
    bytes->embedding_rows += embeddings.nbytes();
    bytes->pair_maps += projected.nbytes();
  }
  return projected;
}

torch::Tensor RelativeAttentionImpl::CircularTable(const torch::Tensor& q, const torch::Tensor& coarse,
                                                   const torch::Tensor& fine, RelativeTermBytes* bytes) const {
  const int64_t rows = coarse.size(0) * fine.size(0);
  if (options_.kind() == AttentionKind::kCirRelAttnH) {
    const torch::Tensor combined = (coarse.unsqueeze(1) * fine.unsqueeze(0)).reshape({rows, head_dim()});
    const torch::Tensor projected = torch::matmul(q, combined.t());
    if (bytes != nullptr) {
      bytes->embedding_rows += combined.nbytes();
      bytes->score_tables += projected.nbytes();
    }
    return projected;
  }
  // Sum: Q·(E1[a] + E2[b]) = Q·E1[a] + Q·E2[b]: two small products, added by
  // broadcasting into one table so that one lookup serves both.
  const torch::Tensor coarse_scores = torch::matmul(q, coarse.t());
  const torch::Tensor fine_scores = torch::matmul(q, fine.t());
  const torch::Tensor projected = (coarse_scores.unsqueeze(-1) + fine_scores.unsqueeze(-2)).flatten(-2);
  if (bytes != nullptr) {
    bytes->score_tables += coarse_scores.nbytes() + fine_scores.nbytes() + projected.nbytes();
  }
  return projected;
}

torch::Tensor RelativeAttentionImpl::TimeTable(const torch::Tensor& q, int64_t first_bar, int64_t num_bars,
                                               RelativeTermBytes* bytes) const {
  if (options_.kind() == AttentionKind::kRipoAttn) {
    const torch::Tensor encoding =
        time_encoding_
            .narrow(0, (first_bar + options_.max_relative_bars()) * kPositionsPerBar, num_bars * kPositionsPerBar)
            .to(q.scalar_type());
    const torch::Tensor table = torch::matmul(q, encoding.t());
    if (bytes != nullptr) {
      bytes->embedding_rows += encoding.nbytes();
      bytes->score_tables += table.nbytes();
    }
    return table;
  }
  const torch::Tensor bars = bar_embedding_.narrow(0, first_bar + options_.max_relative_bars(), num_bars);
  return CircularTable(q, bars, position_embedding_, bytes);
}

torch::Tensor RelativeAttentionImpl::PitchTable(const torch::Tensor& q, const RelativeLayout& layout,
                                                RelativeTermBytes* bytes) const {
  if (options_.kind() == AttentionKind::kRipoAttn) {
    // The zero row for pairs without pitch rides along in the same product.
    const torch::Tensor encoding =
        torch::cat({pitch_encoding_
                        .narrow(0, (layout.first_octave - kMinOctaveDiff) * kSemitonesPerOctave,
                                layout.num_octaves * kSemitonesPerOctave)
                        .to(q.scalar_type()),
                    torch::zeros({1, head_dim()}, q.options())});
    const torch::Tensor table = torch::matmul(q, encoding.t());
    if (bytes != nullptr) {
      bytes->embedding_rows += encoding.nbytes();
      bytes->score_tables += table.nbytes();
    }
    return table;
  }
  const torch::Tensor octaves = octave_embedding_.narrow(0, layout.first_octave - kMinOctaveDiff, layout.num_octaves);
  const torch::Tensor table = F::pad(CircularTable(q, octaves, semitone_embedding_, bytes), F::PadFuncOptions({0, 1}));
  if (bytes != nullptr) bytes->score_tables += table.nbytes();
  return table;
}

AttentionLogitTerms RelativeAttentionImpl::GenericTerms(const Projections& p, const RelativeLayout& layout,
                                                        RelativeTermBytes* bytes) const {
  AttentionLogitTerms terms;
  const int64_t B = p.q.size(0);
  const int64_t H = p.q.size(1);
  const int64_t L = p.q.size(2);
  if (HasIndexBias(options_.kind())) {
    // Skew trick (Huang et al. 2018): column c of Q·Eᵀ holds distance
    // L−1−c. Padding one zero column in front and reading [L, L+1] as
    // [L+1, L] without its first row moves q_i·R[i−j] to (i, j) for j ≤ i;
    // entries above the diagonal are wrap-around values the mask hides.
    const torch::Tensor padded = F::pad(IndexTable(p.q, bytes), F::PadFuncOptions({1, 0}));
    if (bytes != nullptr) bytes->pair_maps += padded.nbytes();
    terms.index_bias = padded.view({B, H, L + 1, L}).narrow(2, 1, L);
  }
  if (HasTimePitchBias(options_.kind())) {
    const auto gather = [&](const torch::Tensor& table, const torch::Tensor& row) {
      torch::Tensor bias = table.gather(-1, row.expand({B, H, L, L}));
      if (bytes != nullptr) bytes->pair_maps += bias.nbytes() + row.nbytes();
      return bias;
    };
    terms.time_bias = gather(TimeTable(p.q, layout.first_bar, layout.num_bars, bytes), layout.time_row);
    terms.pitch_bias = gather(PitchTable(p.q, layout, bytes), layout.pitch_row);
  }
  return terms;
}

torch::Tensor RelativeAttentionImpl::FusedLogits(torch::Tensor content, const torch::Tensor& q,
                                                 const RelativeLayout& layout, RelativeTermBytes* bytes) const {
  const AttentionKind kind = options_.kind();
  const int64_t L = q.size(2);
  const int64_t chunk = layout.query_chunk;
  kernels::FusedLogitsArgs args;
  args.time_period = kPositionsPerBar;
  args.pitch_period = kSemitonesPerOctave;
  args.blocked = layout.blocked;
  args.query_chunk = chunk;
  std::vector<torch::Tensor> tables;
  if (!HasIndexBias(kind)) {
    args.mode = kernels::TableMode::kMaskOnly;
    return kernels::RelativeLogits(content, at::TensorList(tables), args);
  }
  const bool time_pitch = HasTimePitchBias(kind);
  const bool split = kind == AttentionKind::kCirRelAttnS;
  args.mode = !time_pitch ? kernels::TableMode::kIndexOnly
              : split     ? kernels::TableMode::kSplit
                          : kernels::TableMode::kCombined;

  // R_idx[0..L−1] (distances clamped to max_len−1).
  const torch::Tensor index_embeddings =
      L <= options_.max_len()
          ? index_embedding_.narrow(0, 0, L)
          : index_embedding_.index_select(0, torch::arange(L, LongOn(q.device())).clamp_max(options_.max_len() - 1));
  // The pitch segment is the same for every chunk.
  std::vector<torch::Tensor> pitch_segments;
  if (time_pitch) {
    args.time_row = layout.time_row;
    args.pitch_row = layout.pitch_row;
    args.no_pitch = layout.num_octaves * kSemitonesPerOctave;
    const torch::Tensor octaves =
        kind == AttentionKind::kRipoAttn
            ? torch::Tensor()
            : octave_embedding_.narrow(0, layout.first_octave - kMinOctaveDiff, layout.num_octaves);
    const torch::Tensor zero_row = torch::zeros({1, head_dim()}, q.options());
    if (kind == AttentionKind::kRipoAttn) {
      pitch_segments = {
          pitch_encoding_.narrow(0, (layout.first_octave - kMinOctaveDiff) * kSemitonesPerOctave, args.no_pitch)
              .to(q.scalar_type()),
          zero_row};
    } else if (split) {
      pitch_segments = {octaves, semitone_embedding_};
    } else {
      pitch_segments = {(octaves.unsqueeze(1) * semitone_embedding_.unsqueeze(0)).reshape({args.no_pitch, head_dim()}),
                        zero_row};
    }
    if (bytes != nullptr) bytes->pair_maps += layout.time_row.nbytes() + layout.pitch_row.nbytes();
  }

  if (bytes != nullptr && L > options_.max_len()) bytes->embedding_rows += index_embeddings.nbytes();
  const std::vector<torch::Tensor> q_chunks = q.split(chunk, 2);
  for (int64_t k = 0; k < static_cast<int64_t>(q_chunks.size()); ++k) {
    const int64_t end = std::min(L, (k + 1) * chunk);
    // Rows of this chunk see index distances 0 .. end−1 only.
    std::vector<torch::Tensor> segments;
    segments.reserve(6);
    segments.push_back(index_embeddings.narrow(0, 0, end));
    kernels::ChunkColumns columns;
    if (time_pitch) {
      const int64_t first_bar = layout.chunk_first_bar[k];
      const int64_t num_bars = layout.chunk_num_bars[k];
      args.time_row_offset.push_back((first_bar - layout.first_bar) * kPositionsPerBar);
      columns.time = end;
      if (kind == AttentionKind::kRipoAttn) {
        segments.push_back(
            time_encoding_
                .narrow(0, (first_bar + options_.max_relative_bars()) * kPositionsPerBar, num_bars * kPositionsPerBar)
                .to(q.scalar_type()));
      } else {
        const torch::Tensor bars = bar_embedding_.narrow(0, first_bar + options_.max_relative_bars(), num_bars);
        if (split) {
          segments.push_back(bars);
          segments.push_back(position_embedding_);
          columns.position = end + num_bars;
        } else {
          segments.push_back((bars.unsqueeze(1) * position_embedding_.unsqueeze(0))
                                 .reshape({num_bars * kPositionsPerBar, head_dim()}));
        }
      }
      columns.pitch = end + (split ? num_bars + kPositionsPerBar : num_bars * kPositionsPerBar);
      columns.semitone = columns.pitch + layout.num_octaves;
      segments.insert(segments.end(), pitch_segments.begin(), pitch_segments.end());
      args.columns.push_back(columns);
    }
    const torch::Tensor embeddings = segments.size() == 1 ? segments[0] : torch::cat(segments);
    // In content's dtype: under bf16 autocast the product is bf16.
    tables.push_back(torch::matmul(q_chunks[k], embeddings.t()).to(content.scalar_type()));
    if (bytes != nullptr) {
      // The index columns add up to an L×L map; the rest grows as L·rows.
      const int64_t per_column = tables.back().nbytes() / embeddings.size(0);
      bytes->pair_maps += per_column * end;
      bytes->score_tables += per_column * (embeddings.size(0) - end);
      if (segments.size() > 1) bytes->embedding_rows += embeddings.nbytes();
    }
  }
  return kernels::RelativeLogits(content, at::TensorList(tables), args);
}

torch::Tensor RelativeAttentionImpl::FlashContext(const Projections& p, const RelativeLayout& layout) const {
  // Under bf16 autocast the projections come out bf16; the kernel takes
  // float32 (its softmax and sums run in float32 either way).
  const auto at_least_float = [](const torch::Tensor& t) { return t.element_size() < 4 ? t.to(torch::kFloat32) : t; };
  const torch::Tensor q = at_least_float(p.q);
  const torch::Tensor k = at_least_float(p.k);
  const torch::Tensor v = at_least_float(p.v);
  TORCH_CHECK(kernels::FlashRelativeRunsOn(q.device(), q.scalar_type(), head_dim()), "flash_kernel: no flash pass for ",
              c10::toString(q.scalar_type()), " on ", q.device(), " with head size ", head_dim(),
              " in this build (float32/float64; head size 8, 16, 32, 64 or 128; CPU, or CUDA where built)");
  kernels::FlashRelativeArgs args;
  args.times = layout.times;
  args.padding = layout.padding;
  torch::Tensor index_embedding;
  torch::Tensor time_table;
  torch::Tensor pitch_table;
  if (HasIndexBias(options_.kind())) index_embedding = index_embedding_.to(q.scalar_type());
  if (HasTimePitchBias(options_.kind())) {
    args.pitches = layout.pitches;
    args.has_pitch = layout.has_pitch;
    args.rules = {.time_period = kPositionsPerBar,
                  .first_bar = layout.first_bar,
                  .num_bars = layout.num_bars,
                  .pitch_period = kSemitonesPerOctave,
                  .first_octave = layout.first_octave,
                  .num_octaves = layout.num_octaves};
    // Autocast may hand the small products back in bf16.
    time_table = TimeTable(q, layout.first_bar, layout.num_bars, nullptr).to(q.scalar_type());
    pitch_table = PitchTable(q, layout, nullptr).to(q.scalar_type());
  }
  if (is_training() && options_.dropout() > 0) {
    args.dropout = options_.dropout();
    // From Torch's generator, as the dropout module's masks are.
    args.seed = static_cast<uint64_t>(
        torch::randint(std::numeric_limits<int64_t>::max(), {1}, torch::TensorOptions().dtype(torch::kLong))
            .item<int64_t>());
  }
  const torch::Tensor context =
      kernels::FlashRelativeAttention(q, k, v, index_embedding, time_table, pitch_table, args);
  return context.transpose(1, 2).reshape({q.size(0), q.size(2), options_.d_model()});
}

torch::Tensor RelativeAttentionImpl::forward(const torch::Tensor& x, const RelativeLayout& layout) {
  CheckLayout(x, layout, /*needs_pair_maps=*/!options_.flash_kernel());
  const int64_t B = x.size(0);
  const int64_t L = x.size(1);
  const Projections p = Project(x);
  if (options_.flash_kernel()) return out_->forward(FlashContext(p, layout));
  // Terms are added into the Q·Kᵀ buffer in place: matmul's backward needs
  // its inputs, not its output.
  torch::Tensor logits = torch::matmul(p.q, p.k.transpose(-2, -1));
  // Under bf16 autocast the product comes out bf16. The fused kernel then
  // works on a float32 copy (the softmax runs in float32 under autocast
  // anyway), which costs one cast instead of the generic path's gathers.
  if (logits.element_size() < 4 && options_.fused_kernel() &&
      kernels::RelativeLogitsRunsOn(logits.device(), torch::kFloat32)) {
    logits = logits.to(torch::kFloat32);
  }
  if (UseFusedKernel(logits)) {
    // Attn too, so that every kind pays the same for its mask.
    logits = FusedLogits(logits, p.q, layout, nullptr);
  } else {
    const AttentionLogitTerms terms = GenericTerms(p, layout, nullptr);
    for (const torch::Tensor* term : {&terms.index_bias, &terms.time_bias, &terms.pitch_bias}) {
      if (term->defined()) logits.add_(*term);
    }
    logits.masked_fill_(layout.blocked, -std::numeric_limits<double>::infinity());
  }
  const torch::Tensor weights = attention_dropout_->forward(torch::softmax(logits, -1));
  const torch::Tensor context = torch::matmul(weights, p.v).transpose(1, 2).reshape({B, L, options_.d_model()});
  return out_->forward(context);
}

torch::Tensor RelativeAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& times,
                                             const torch::Tensor& pitches, const torch::Tensor& has_pitch,
                                             const torch::Tensor& padding_mask) {
  return forward(x, MakeLayout(times, pitches, has_pitch, padding_mask));
}

torch::Tensor RelativeAttentionImpl::ForwardCached(const torch::Tensor& x, AttentionCache& cache,
                                                   const torch::Tensor& times, const torch::Tensor& pitches,
                                                   const torch::Tensor& has_pitch) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options_.d_model(), "x must be [B, n, d_model]");
  const int64_t B = x.size(0);
  const int64_t n = x.size(1);
  const int64_t start = cache.length();
  const int64_t total = start + n;
  TORCH_CHECK(times.dim() == 2 && times.size(0) == B && times.size(1) == total,
              "times must cover the cached and the new tokens");
  TORCH_CHECK(pitches.sizes() == times.sizes() && has_pitch.sizes() == times.sizes(),
              "pitches and has_pitch must have the shape of times");
  const Projections p = Project(x);
  cache.keys = start == 0 ? p.k : torch::cat({cache.keys, p.k}, 2);
  cache.values = start == 0 ? p.v : torch::cat({cache.values, p.v}, 2);
  const int64_t H = options_.n_heads();
  const torch::Device device = x.device();

  torch::Tensor logits = torch::matmul(p.q, cache.keys.transpose(-2, -1));  // [B,H,n,total]
  // query index start+i minus key index j; negative above the diagonal.
  const torch::Tensor distance =
      torch::arange(start, total, LongOn(device)).unsqueeze(1) - torch::arange(total, LongOn(device)).unsqueeze(0);
  if (HasIndexBias(options_.kind())) {
    const int64_t rows = std::min(total, options_.max_len());
    const torch::Tensor table = torch::matmul(p.q, index_embedding_.narrow(0, 0, rows).t());
    const torch::Tensor column = distance.clamp(0, rows - 1).view({1, 1, n, total}).expand({B, H, n, total});
    logits.add_(table.gather(-1, column));
  }
  if (HasTimePitchBias(options_.kind())) {
    // Whole clamped spans, so the rows need no per-batch range: bars
    // [−M, M] × 48 positions, octaves [−11, 10] × 12 semitones + a zero row.
    const int64_t max_bars = options_.max_relative_bars();
    RelativeLayout span;
    span.first_octave = kMinOctaveDiff;
    span.num_octaves = kNumOctaveDiffs;
    const torch::Tensor time_table = TimeTable(p.q, -max_bars, 2 * max_bars + 1, nullptr);
    const torch::Tensor pitch_table = PitchTable(p.q, span, nullptr);
    const int64_t no_pitch = kNumOctaveDiffs * kSemitonesPerOctave;
    const torch::Tensor t = times.to(torch::kCPU, torch::kLong).contiguous();
    const torch::Tensor pt = pitches.to(torch::kCPU, torch::kLong).contiguous();
    const torch::Tensor hp = has_pitch.to(torch::kCPU, torch::kBool).contiguous();
    torch::Tensor time_row = torch::empty({B, 1, n, total}, torch::kLong);
    torch::Tensor pitch_row = torch::empty({B, 1, n, total}, torch::kLong);
    const int64_t* time = t.data_ptr<int64_t>();
    const int64_t* pitch = pt.data_ptr<int64_t>();
    const bool* pitched = hp.data_ptr<bool>();
    int64_t* time_out = time_row.data_ptr<int64_t>();
    int64_t* pitch_out = pitch_row.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t q = 0; q < n; ++q) {
        const int64_t i = start + q;
        for (int64_t j = 0; j < total; ++j) {
          const int64_t out = (b * n + q) * total + j;
          const int64_t delta_time = time[b * total + i] - time[b * total + j];
          const int64_t bar = FloorDiv(delta_time, kPositionsPerBar);
          const int64_t position = delta_time - bar * kPositionsPerBar;
          time_out[out] = (std::clamp(bar, -max_bars, max_bars) + max_bars) * kPositionsPerBar + position;
          if (pitched[b * total + i] && pitched[b * total + j]) {
            const int64_t delta_pitch = pitch[b * total + i] - pitch[b * total + j];
            const int64_t octave = FloorDiv(delta_pitch, kSemitonesPerOctave);
            const int64_t semitone = delta_pitch - octave * kSemitonesPerOctave;
            pitch_out[out] =
                (std::clamp(octave, kMinOctaveDiff, kMaxOctaveDiff) - kMinOctaveDiff) * kSemitonesPerOctave + semitone;
          } else {
            pitch_out[out] = no_pitch;
          }
        }
      }
    }
    logits.add_(time_table.gather(-1, time_row.to(device).expand({B, H, n, total})));
    logits.add_(pitch_table.gather(-1, pitch_row.to(device).expand({B, H, n, total})));
  }
  logits.masked_fill_(distance.lt(0).view({1, 1, n, total}), -std::numeric_limits<double>::infinity());
  const torch::Tensor weights = torch::softmax(logits, -1);
  const torch::Tensor context =
      torch::matmul(weights, cache.values).transpose(1, 2).reshape({B, n, options_.d_model()});
  return out_->forward(context);
}

AttentionLogitTerms RelativeAttentionImpl::ComputeLogitTerms(const torch::Tensor& x, const RelativeLayout& layout) {
  CheckLayout(x, layout, /*needs_pair_maps=*/true);
  const Projections p = Project(x);
  AttentionLogitTerms terms = GenericTerms(p, layout, nullptr);
  terms.content = torch::matmul(p.q, p.k.transpose(-2, -1));
  return terms;
}

RelativeTermBytes RelativeAttentionImpl::MeasureRelativeTerms(const torch::Tensor& x, const RelativeLayout& layout) {
  CheckLayout(x, layout, /*needs_pair_maps=*/true);
  torch::NoGradGuard no_grad;
  const Projections p = Project(x);
  RelativeTermBytes bytes;
  if (!HasIndexBias(options_.kind())) return bytes;
  const torch::Tensor logits = torch::matmul(p.q, p.k.transpose(-2, -1));
  if (UseFusedKernel(logits)) {
    FusedLogits(logits, p.q, layout, &bytes);
  } else {
    GenericTerms(p, layout, &bytes);
  }
  return bytes;
}

}  // namespace expsvc::music
