#include "worker/music/model/reference_attention.h"

#include <cmath>
#include <limits>
#include <vector>

namespace expsvc::music {
namespace {

struct HeadProjections {
  torch::Tensor q, k, v;  // [B,H,L,D_h], unscaled
};

HeadProjections ProjectHeads(const RelativeAttentionImpl& attention, const torch::Tensor& x) {
  const int64_t B = x.size(0);
  const int64_t L = x.size(1);
  const int64_t D = attention.options().d_model();
  const int64_t H = attention.options().n_heads();
  const int64_t dh = attention.head_dim();
  const torch::Tensor& weight = attention.qkv_projection()->weight;
  const torch::Tensor& bias = attention.qkv_projection()->bias;
  const auto head = [&](int64_t part) {
    const torch::Tensor w = weight.narrow(0, part * D, D);
    const torch::Tensor b = bias.narrow(0, part * D, D);
    return (x.matmul(w.t()) + b).view({B, L, H, dh}).transpose(1, 2);
  };
  return {head(0), head(1), head(2)};
}

// Floor division and the matching non-negative remainder, done in floating
// point so it does not share torch::div's rounding mode with the fast path.
std::pair<torch::Tensor, torch::Tensor> FloorDivMod(const torch::Tensor& delta, int64_t period) {
  const torch::Tensor quotient = torch::floor(delta.to(torch::kDouble) / static_cast<double>(period)).to(torch::kLong);
  return {quotient, delta - quotient * period};
}

// The sinusoid written out one dimension at a time: [..., dim].
torch::Tensor Sinusoid(const torch::Tensor& distance, int64_t dim, double base, torch::Dtype dtype) {
  const torch::Tensor d = distance.to(torch::kDouble);
  std::vector<torch::Tensor> columns;
  for (int64_t k = 0; k < dim; ++k) {
    const double w = 1.0 / std::pow(base, static_cast<double>(2 * (k / 2)) / static_cast<double>(dim));
    columns.push_back(k % 2 == 0 ? torch::sin(d * w) : torch::cos(d * w));
  }
  return torch::stack(columns, -1).to(dtype);
}

// Q·R_{ij}ᵀ for a per-pair embedding R: [B,L,L,D_h] (or [L,L,D_h]).
torch::Tensor PairScores(const torch::Tensor& q, const torch::Tensor& pair_embedding) {
  if (pair_embedding.dim() == 3) return torch::einsum("bhid,ijd->bhij", {q, pair_embedding});
  return torch::einsum("bhid,bijd->bhij", {q, pair_embedding});
}

}  // namespace

torch::Tensor ReferenceBlocked(const torch::Tensor& times, const torch::Tensor& padding_mask) {
  const int64_t B = times.size(0);
  const int64_t L = times.size(1);
  const auto opts = torch::TensorOptions().dtype(torch::kLong).device(times.device());
  const torch::Tensor i = torch::arange(L, opts).view({L, 1});
  const torch::Tensor j = torch::arange(L, opts).view({1, L});
  torch::Tensor blocked = (j > i).view({1, 1, L, L}).expand({B, 1, L, L});
  if (padding_mask.defined()) {
    const torch::Tensor padded_key = padding_mask.to(torch::kBool).view({B, 1, 1, L});
    blocked = blocked | (padded_key & (i != j).view({1, 1, L, L}));
  }
  return blocked;
}

AttentionLogitTerms ReferenceLogitTerms(const RelativeAttentionImpl& attention, const torch::Tensor& x,
                                        const torch::Tensor& times, const torch::Tensor& pitches,
                                        const torch::Tensor& has_pitch, const torch::Tensor& padding_mask) {
  const RelativeAttentionOptions& options = attention.options();
  const AttentionKind kind = options.kind();
  const int64_t L = x.size(1);
  const int64_t dh = attention.head_dim();
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
  const HeadProjections p = ProjectHeads(attention, x);
  const auto dtype = x.scalar_type();
  const auto opts = torch::TensorOptions().dtype(torch::kLong).device(x.device());

  AttentionLogitTerms terms;
  terms.content = p.q.matmul(p.k.transpose(-2, -1)) * scale;

  if (HasIndexBias(kind)) {
    // R_idx for every (i, j): LPE(i − j), distance clamped to [0, max_len−1].
    const torch::Tensor i = torch::arange(L, opts).view({L, 1});
    const torch::Tensor j = torch::arange(L, opts).view({1, L});
    const torch::Tensor distance = (i - j).clamp(0, options.max_len() - 1);
    const torch::Tensor r_idx = attention.index_embedding().index({distance});  // [L,L,D_h]
    terms.index_bias = PairScores(p.q, r_idx) * scale;
  }
  if (!HasTimePitchBias(kind)) return terms;

  const int64_t max_bars = options.max_relative_bars();
  // Time: [B,L,L,D_h] embedding of ΔT.
  {
    const torch::Tensor delta = times.unsqueeze(2) - times.unsqueeze(1);
    auto [bar, position] = FloorDivMod(delta, kPositionsPerBar);
    bar = bar.clamp(-max_bars, max_bars);
    torch::Tensor r_time;
    if (kind == AttentionKind::kRipoAttn) {
      r_time = Sinusoid(bar * kPositionsPerBar + position, dh, options.sinusoid_base(), dtype);
    } else {
      const torch::Tensor r_bar = attention.bar_embedding().index({bar + max_bars});
      const torch::Tensor r_position = attention.position_embedding().index({position});
      r_time = kind == AttentionKind::kCirRelAttnH ? r_bar * r_position : r_bar + r_position;
    }
    terms.time_bias = PairScores(p.q, r_time) * scale;
  }
  // Pitch: [B,L,L,D_h] embedding of ΔP, zeroed for pairs without pitch.
  {
    const torch::Tensor delta = pitches.unsqueeze(2) - pitches.unsqueeze(1);
    auto [octave, semitone] = FloorDivMod(delta, kSemitonesPerOctave);
    torch::Tensor r_pitch;
    if (kind == AttentionKind::kRipoAttn) {
      r_pitch = Sinusoid(delta, dh, options.sinusoid_base(), dtype);
    } else {
      const torch::Tensor r_octave = attention.octave_embedding().index({octave - kMinOctaveDiff});
      const torch::Tensor r_semitone = attention.semitone_embedding().index({semitone});
      r_pitch = kind == AttentionKind::kCirRelAttnH ? r_octave * r_semitone : r_octave + r_semitone;
    }
    const torch::Tensor with_pitch = has_pitch.to(torch::kBool);
    const torch::Tensor pair = (with_pitch.unsqueeze(2) & with_pitch.unsqueeze(1)).to(dtype);
    terms.pitch_bias = PairScores(p.q, r_pitch * pair.unsqueeze(-1)) * scale;
  }
  return terms;
}

torch::Tensor ReferenceAttentionForward(const RelativeAttentionImpl& attention, const torch::Tensor& x,
                                        const torch::Tensor& times, const torch::Tensor& pitches,
                                        const torch::Tensor& has_pitch, const torch::Tensor& padding_mask) {
  const int64_t B = x.size(0);
  const int64_t L = x.size(1);
  const AttentionLogitTerms terms = ReferenceLogitTerms(attention, x, times, pitches, has_pitch, padding_mask);
  torch::Tensor logits = terms.content;
  for (const torch::Tensor* term : {&terms.index_bias, &terms.time_bias, &terms.pitch_bias}) {
    if (term->defined()) logits = logits + *term;
  }
  logits = logits.masked_fill(ReferenceBlocked(times, padding_mask), -std::numeric_limits<double>::infinity());
  const torch::Tensor weights = torch::softmax(logits, -1);
  const HeadProjections p = ProjectHeads(attention, x);
  const torch::Tensor context = weights.matmul(p.v).transpose(1, 2).reshape({B, L, attention.options().d_model()});
  const torch::nn::Linear& out = attention.output_projection();
  return context.matmul(out->weight.t()) + out->bias;
}

}  // namespace expsvc::music
