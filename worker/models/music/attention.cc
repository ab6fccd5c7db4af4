#include "worker/models/music/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace expsvc::music {
namespace {

namespace F = torch::nn::functional;

struct KindName {
  AttentionKind kind;
  const char* name;
};
constexpr KindName kKindNames[] = {
    {AttentionKind::kAttn, "Attn"},
    {AttentionKind::kRelAttn, "RelAttn"},
    {AttentionKind::kRipoAttn, "RIPOAttn"},
    {AttentionKind::kCirRelAttnS, "CirRelAttn-S"},
    {AttentionKind::kCirRelAttnH, "CirRelAttn-H"},
};

torch::TensorOptions LongOn(const torch::Device& device) {
  return torch::TensorOptions().dtype(torch::kLong).device(device);
}

// Min and max of `values` over the entries where `keep` is true, or nullopt
// when there is none. One host sync each: the table size depends on them.
std::optional<std::pair<int64_t, int64_t>> MaskedRange(const torch::Tensor& values, const torch::Tensor& keep) {
  const torch::Tensor kept = values.masked_select(keep);
  if (kept.numel() == 0) return std::nullopt;
  return std::make_pair(kept.min().item<int64_t>(), kept.max().item<int64_t>());
}

// ---- Fused CPU kernel ----
//
// Each query chunk k (rows [s_k, e_k)) has ONE table: its Q rows times the
// concatenation of every embedding row it can need, [B,H,n_k,W_k]:
//   columns [0, e_k)           q_i·R_idx[d] for index distance d
//   then the time segment      q_i·E_time[r] for the time rows r of the chunk
//   then the pitch segment     q_i·E_pitch[r] (+ a zero column for "no pitch")
// For CirRelAttn-S the segments stay split (bar, position, octave, semitone)
// and a row r reads coarse[r / period] + fine[r % period], since
// Q·(E1[a] + E2[b]) = Q·E1[a] + Q·E2[b]. The kernel then computes, for key
// j ≤ i that is not blocked,
//   logits[b,h,i,j] = content[b,h,i,j] + table[i−j] + table[time col] + table[pitch col]
// in place, −inf elsewhere; the backward pass scatters the gradient into the
// same columns. Reading column i−j is what the skew trick lines up. One
// matrix product per chunk and one pass over the L×L logits each way.

enum class TableMode {
  kMaskOnly,   // Attn
  kIndexOnly,  // RelAttn
  kCombined,   // RIPOAttn, CirRelAttn-H: one time and one pitch segment
  kSplit,      // CirRelAttn-S: bar, position, octave, semitone segments
};

struct ChunkColumns {
  int64_t time = 0;      // column of time row 0 (kCombined) or of bar row 0 (kSplit)
  int64_t position = 0;  // kSplit
  int64_t pitch = 0;     // column of pitch row 0 (kCombined) or of octave row 0 (kSplit)
  int64_t semitone = 0;  // kSplit
};

struct FusedLogitsArgs {
  TableMode mode = TableMode::kMaskOnly;
  torch::Tensor blocked;    // [B,1,L,L] bool, contiguous
  torch::Tensor time_row;   // [B,1,L,L] int64 (kCombined, kSplit)
  torch::Tensor pitch_row;  // [B,1,L,L] int64, no_pitch where a token lacks pitch
  int64_t query_chunk = 0;
  int64_t no_pitch = 0;
  // Per chunk: the layout's time rows start at this row of the chunk's time
  // segment (the chunk only spans the bars its own pairs use).
  std::vector<int64_t> time_row_offset;
  std::vector<ChunkColumns> columns;
};

class FusedRelativeLogits : public torch::autograd::Function<FusedRelativeLogits> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor content,
                               at::TensorList chunk_tables, const FusedLogitsArgs& args) {
    TORCH_CHECK(content.is_contiguous() && content.dim() == 4, "content must be contiguous [B,H,L,L]");
    const int64_t L = content.size(2);
    const int64_t num_chunks = (L + args.query_chunk - 1) / args.query_chunk;
    TORCH_CHECK(args.mode == TableMode::kMaskOnly ? chunk_tables.empty()
                                                  : static_cast<int64_t>(chunk_tables.size()) == num_chunks,
                "one table per query chunk");
    std::vector<torch::Tensor> tables;
    for (const torch::Tensor& t : chunk_tables) tables.push_back(t.contiguous());
    AT_DISPATCH_FLOATING_TYPES(content.scalar_type(), "fused_relative_logits",
                               [&] { Run<scalar_t, /*kBackward=*/false>(args, content, tables); });
    ctx->mark_dirty({content});
    Save(ctx, args);
    std::vector<int64_t> widths;
    for (const torch::Tensor& t : tables) widths.push_back(t.size(3));
    ctx->saved_data["widths"] = widths;
    return content;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    // Blocked logits are constant −inf and softmax already sends them an
    // exact zero gradient, so the content gradient passes through unchanged.
    const torch::Tensor grad = grad_outputs[0].contiguous();
    const FusedLogitsArgs args = Load(ctx);
    const std::vector<int64_t> widths = ctx->saved_data["widths"].toIntVector();
    const int64_t B = grad.size(0);
    const int64_t H = grad.size(1);
    const int64_t L = grad.size(2);
    std::vector<torch::Tensor> grad_tables;
    for (size_t k = 0; k < widths.size(); ++k) {
      const int64_t rows = std::min(args.query_chunk, L - static_cast<int64_t>(k) * args.query_chunk);
      grad_tables.push_back(torch::empty({B, H, rows, widths[k]}, grad.options()));
    }
    if (!grad_tables.empty()) {
      AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "fused_relative_logits_backward",
                                 [&] { Run<scalar_t, /*kBackward=*/true>(args, grad, grad_tables); });
    }
    torch::autograd::variable_list grads = {grad};
    for (torch::Tensor& t : grad_tables) grads.push_back(std::move(t));
    grads.emplace_back();  // args
    return grads;
  }

 private:
  static void Save(torch::autograd::AutogradContext* ctx, const FusedLogitsArgs& args) {
    ctx->saved_data["mode"] = static_cast<int64_t>(args.mode);
    ctx->saved_data["blocked"] = args.blocked;
    if (args.time_row.defined()) {
      ctx->saved_data["time_row"] = args.time_row;
      ctx->saved_data["pitch_row"] = args.pitch_row;
    }
    ctx->saved_data["query_chunk"] = args.query_chunk;
    ctx->saved_data["no_pitch"] = args.no_pitch;
    ctx->saved_data["time_row_offset"] = args.time_row_offset;
    std::vector<int64_t> columns;
    for (const ChunkColumns& c : args.columns) {
      columns.insert(columns.end(), {c.time, c.position, c.pitch, c.semitone});
    }
    ctx->saved_data["columns"] = columns;
  }

  static FusedLogitsArgs Load(torch::autograd::AutogradContext* ctx) {
    FusedLogitsArgs args;
    args.mode = static_cast<TableMode>(ctx->saved_data["mode"].toInt());
    args.blocked = ctx->saved_data["blocked"].toTensor();
    if (ctx->saved_data.count("time_row") > 0) {
      args.time_row = ctx->saved_data["time_row"].toTensor();
      args.pitch_row = ctx->saved_data["pitch_row"].toTensor();
    }
    args.query_chunk = ctx->saved_data["query_chunk"].toInt();
    args.no_pitch = ctx->saved_data["no_pitch"].toInt();
    args.time_row_offset = ctx->saved_data["time_row_offset"].toIntVector();
    const std::vector<int64_t> columns = ctx->saved_data["columns"].toIntVector();
    for (size_t n = 0; n + 3 < columns.size(); n += 4) {
      args.columns.push_back({columns[n], columns[n + 1], columns[n + 2], columns[n + 3]});
    }
    return args;
  }

  // Forward: logits (in place) from the tables. Backward: the tables'
  // gradients (written whole) from the logits' gradient.
  template <typename T, bool kBackward>
  static void Run(const FusedLogitsArgs& args, const torch::Tensor& logits_or_grad,
                  const std::vector<torch::Tensor>& tables) {
    const int64_t B = logits_or_grad.size(0);
    const int64_t H = logits_or_grad.size(1);
    const int64_t L = logits_or_grad.size(2);
    const int64_t chunk = args.query_chunk;
    const TableMode mode = args.mode;
    const bool with_rows = mode == TableMode::kCombined || mode == TableMode::kSplit;
    const T minus_infinity = -std::numeric_limits<T>::infinity();
    T* logits = logits_or_grad.data_ptr<T>();  // the gradient in backward (read only)
    const bool* blocked = args.blocked.data_ptr<bool>();
    const int64_t* time_row = with_rows ? args.time_row.data_ptr<int64_t>() : nullptr;
    const int64_t* pitch_row = with_rows ? args.pitch_row.data_ptr<int64_t>() : nullptr;
    std::vector<T*> table_data;
    std::vector<int64_t> table_width;
    for (const torch::Tensor& t : tables) {
      table_data.push_back(t.data_ptr<T>());
      table_width.push_back(t.size(3));
    }
    at::parallel_for(0, B * L, 4, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t b = row / L;
        const int64_t i = row % L;
        const int64_t k = i / chunk;
        const int64_t rows = std::min(chunk, L - k * chunk);
        const bool* blocked_row = blocked + row * L;
        const int64_t* t = with_rows ? time_row + row * L : nullptr;
        const int64_t* p = with_rows ? pitch_row + row * L : nullptr;
        for (int64_t h = 0; h < H; ++h) {
          const int64_t bh = b * H + h;
          T* out = logits + (bh * L + i) * L;
          if (mode == TableMode::kMaskOnly) {
            if constexpr (!kBackward) {
              std::fill(out + i + 1, out + L, minus_infinity);
              for (int64_t j = 0; j <= i; ++j) {
                if (blocked_row[j]) out[j] = minus_infinity;
              }
            }
            continue;
          }
          T* table = table_data[k] + (bh * rows + (i - k * chunk)) * table_width[k];
          if constexpr (kBackward) {
            std::fill(table, table + table_width[k], T(0));
          } else {
            std::fill(out + i + 1, out + L, minus_infinity);
          }
          const ChunkColumns& col = args.columns.empty() ? ChunkColumns{} : args.columns[k];
          const int64_t time_base = with_rows ? col.time - args.time_row_offset[k] : 0;
          for (int64_t j = 0; j <= i; ++j) {
            if (blocked_row[j]) {
              if constexpr (!kBackward) out[j] = minus_infinity;
              continue;
            }
            if constexpr (kBackward) {
              const T g = out[j];
              table[i - j] = g;
              if (mode == TableMode::kCombined) {
                table[time_base + t[j]] += g;
                table[col.pitch + p[j]] += g;
              } else if (mode == TableMode::kSplit) {
                const int64_t r = t[j] - args.time_row_offset[k];
                table[col.time + r / kPositionsPerBar] += g;
                table[col.position + r % kPositionsPerBar] += g;
                if (p[j] < args.no_pitch) {
                  table[col.pitch + p[j] / kSemitonesPerOctave] += g;
                  table[col.semitone + p[j] % kSemitonesPerOctave] += g;
                }
              }
            } else {
              T value = out[j] + table[i - j];
              if (mode == TableMode::kCombined) {
                value += table[time_base + t[j]] + table[col.pitch + p[j]];
              } else if (mode == TableMode::kSplit) {
                const int64_t r = t[j] - args.time_row_offset[k];
                value += table[col.time + r / kPositionsPerBar] + table[col.position + r % kPositionsPerBar];
                if (p[j] < args.no_pitch) {
                  value +=
                      table[col.pitch + p[j] / kSemitonesPerOctave] + table[col.semitone + p[j] % kSemitonesPerOctave];
                }
              }
              out[j] = value;
            }
          }
        }
      }
    });
  }
};

// ---- Row indices of the relative tables ----

// Device-agnostic version (what CUDA runs): L×L integer tensor ops.
void FillTimePitchRowsWithTensorOps(RelativeLayout& layout, const torch::Tensor& times, const torch::Tensor& pitches,
                                    const torch::Tensor& has_pitch, int64_t max_relative_bars) {
  const int64_t L = layout.length;
  const int64_t query_chunk = layout.query_chunk;
  const torch::Device device = times.device();
  const torch::Tensor visible = layout.blocked.logical_not();

  // Time: ΔT = T_i − T_j split by floor division into (bar, position).
  {
    const torch::Tensor delta = (times.unsqueeze(2) - times.unsqueeze(1)).to(torch::kLong).unsqueeze(1);  // [B,1,L,L]
    torch::Tensor bar = torch::div(delta, kPositionsPerBar, "floor");
    const torch::Tensor position_in_bar = delta - bar * kPositionsPerBar;
    bar = bar.clamp(-max_relative_bars, max_relative_bars);
    // Bar span of each query row's visible pairs (the diagonal is always
    // visible, so every row has one); one copy to the host for all chunks.
    const torch::Tensor row_first = bar.masked_fill(layout.blocked, max_relative_bars).amin({0, 1, 3}).cpu();
    const torch::Tensor row_last = bar.masked_fill(layout.blocked, -max_relative_bars).amax({0, 1, 3}).cpu();
    const auto first = row_first.accessor<int64_t, 1>();
    const auto last = row_last.accessor<int64_t, 1>();
    int64_t first_bar = max_relative_bars;
    int64_t last_bar = -max_relative_bars;
    for (int64_t start = 0; start < L; start += query_chunk) {
      int64_t chunk_first = max_relative_bars;
      int64_t chunk_last = -max_relative_bars;
      for (int64_t i = start; i < std::min(L, start + query_chunk); ++i) {
        chunk_first = std::min(chunk_first, first[i]);
        chunk_last = std::max(chunk_last, last[i]);
      }
      layout.chunk_first_bar.push_back(chunk_first);
      layout.chunk_num_bars.push_back(chunk_last - chunk_first + 1);
      first_bar = std::min(first_bar, chunk_first);
      last_bar = std::max(last_bar, chunk_last);
    }
    layout.first_bar = first_bar;
    layout.num_bars = last_bar - first_bar + 1;
    layout.time_row = (bar.clamp(first_bar, last_bar) - first_bar) * kPositionsPerBar + position_in_bar;
  }

  // Pitch: ΔP = P_i − P_j split into (octave, semitone); pairs where either
  // token has no pitch point at the zero row after the table.
  {
    const torch::Tensor with_pitch = has_pitch.to(torch::kBool);
    const torch::Tensor pitch_pair = (with_pitch.unsqueeze(2).logical_and(with_pitch.unsqueeze(1))).unsqueeze(1);
    const torch::Tensor delta = (pitches.unsqueeze(2) - pitches.unsqueeze(1)).to(torch::kLong).unsqueeze(1);
    torch::Tensor octave = torch::div(delta, kSemitonesPerOctave, "floor");
    const torch::Tensor semitone = delta - octave * kSemitonesPerOctave;
    // A no-op for pitches in 0..127; keeps table lookups in bounds otherwise.
    octave = octave.clamp(kMinOctaveDiff, kMaxOctaveDiff);
    const auto range = MaskedRange(octave, pitch_pair.logical_and(visible));
    const int64_t first_octave = range ? range->first : 0;
    const int64_t last_octave = range ? range->second : 0;
    layout.first_octave = first_octave;
    layout.num_octaves = last_octave - first_octave + 1;
    const torch::Tensor row = (octave.clamp(first_octave, last_octave) - first_octave) * kSemitonesPerOctave + semitone;
    layout.pitch_row =
        torch::where(pitch_pair, row, torch::full({}, layout.num_octaves * kSemitonesPerOctave, LongOn(device)));
  }
}

// Floor division by a positive divisor.
inline int64_t FloorDiv(int64_t value, int64_t divisor) {
  const int64_t quotient = value / divisor;
  return (value % divisor != 0 && value < 0) ? quotient - 1 : quotient;
}

// CPU version: the same rows from two passes of plain loops over the visible
// pairs (the tensor-op version allocates a dozen L×L integer tensors).
void FillTimePitchRowsWithLoops(RelativeLayout& layout, const torch::Tensor& times_in, const torch::Tensor& pitches_in,
                                const torch::Tensor& has_pitch_in, int64_t max_relative_bars) {
  const int64_t B = layout.batch;
  const int64_t L = layout.length;
  const int64_t max_bars = max_relative_bars;
  const torch::Tensor times = times_in.to(torch::kLong).contiguous();
  const torch::Tensor pitches = pitches_in.to(torch::kLong).contiguous();
  const torch::Tensor has_pitch_tensor = has_pitch_in.to(torch::kBool).contiguous();
  const int64_t* time = times.data_ptr<int64_t>();
  const int64_t* pitch = pitches.data_ptr<int64_t>();
  const bool* has_pitch = has_pitch_tensor.data_ptr<bool>();
  const bool* blocked = layout.blocked.data_ptr<bool>();

  // Pass 1: bar span of each query row and octave span of each row's
  // visible pairs (j ≤ i always includes the visible ones).
  std::vector<int64_t> row_first_bar(L, max_bars);
  std::vector<int64_t> row_last_bar(L, -max_bars);
  std::vector<int64_t> row_first_octave(L, kMaxOctaveDiff + 1);
  std::vector<int64_t> row_last_octave(L, kMinOctaveDiff - 1);
  at::parallel_for(0, L, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t b = 0; b < B; ++b) {
        const int64_t* t = time + b * L;
        const int64_t* p = pitch + b * L;
        const bool* pitched = has_pitch + b * L;
        const bool* blocked_row = blocked + (b * L + i) * L;
        for (int64_t j = 0; j <= i; ++j) {
          if (blocked_row[j]) continue;
          const int64_t bar = std::clamp(FloorDiv(t[i] - t[j], kPositionsPerBar), -max_bars, max_bars);
          row_first_bar[i] = std::min(row_first_bar[i], bar);
          row_last_bar[i] = std::max(row_last_bar[i], bar);
          if (pitched[i] && pitched[j]) {
            const int64_t octave =
                std::clamp(FloorDiv(p[i] - p[j], kSemitonesPerOctave), kMinOctaveDiff, kMaxOctaveDiff);
            row_first_octave[i] = std::min(row_first_octave[i], octave);
            row_last_octave[i] = std::max(row_last_octave[i], octave);
          }
        }
      }
    }
  });
  int64_t first_bar = max_bars;
  int64_t last_bar = -max_bars;
  for (int64_t start = 0; start < L; start += layout.query_chunk) {
    const int64_t stop = std::min(L, start + layout.query_chunk);
    const int64_t chunk_first = *std::min_element(row_first_bar.begin() + start, row_first_bar.begin() + stop);
    const int64_t chunk_last = *std::max_element(row_last_bar.begin() + start, row_last_bar.begin() + stop);
    layout.chunk_first_bar.push_back(chunk_first);
    layout.chunk_num_bars.push_back(chunk_last - chunk_first + 1);
    first_bar = std::min(first_bar, chunk_first);
    last_bar = std::max(last_bar, chunk_last);
  }
  layout.first_bar = first_bar;
  layout.num_bars = last_bar - first_bar + 1;
  int64_t first_octave = *std::min_element(row_first_octave.begin(), row_first_octave.end());
  int64_t last_octave = *std::max_element(row_last_octave.begin(), row_last_octave.end());
  if (first_octave > last_octave) first_octave = last_octave = 0;  // no pitched pair
  layout.first_octave = first_octave;
  layout.num_octaves = last_octave - first_octave + 1;
  const int64_t zero_row = layout.num_octaves * kSemitonesPerOctave;

  // Pass 2: every pair gets an in-range row (blocked ones too; never read).
  const auto long_options = torch::TensorOptions().dtype(torch::kLong);
  layout.time_row = torch::empty({B, 1, L, L}, long_options);
  layout.pitch_row = torch::empty({B, 1, L, L}, long_options);
  int64_t* time_row = layout.time_row.data_ptr<int64_t>();
  int64_t* pitch_row = layout.pitch_row.data_ptr<int64_t>();
  at::parallel_for(0, B * L, 16, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / L;
      const int64_t i = row % L;
      const int64_t* t = time + b * L;
      const int64_t* p = pitch + b * L;
      const bool* pitched = has_pitch + b * L;
      int64_t* time_out = time_row + row * L;
      int64_t* pitch_out = pitch_row + row * L;
      for (int64_t j = 0; j < L; ++j) {
        const int64_t delta_time = t[i] - t[j];
        const int64_t bar = FloorDiv(delta_time, kPositionsPerBar);
        const int64_t position = delta_time - bar * kPositionsPerBar;
        time_out[j] = (std::clamp(bar, first_bar, last_bar) - first_bar) * kPositionsPerBar + position;
        if (pitched[i] && pitched[j]) {
          const int64_t delta_pitch = p[i] - p[j];
          const int64_t octave = FloorDiv(delta_pitch, kSemitonesPerOctave);
          const int64_t semitone = delta_pitch - octave * kSemitonesPerOctave;
          pitch_out[j] =
              (std::clamp(octave, first_octave, last_octave) - first_octave) * kSemitonesPerOctave + semitone;
        } else {
          pitch_out[j] = zero_row;
        }
      }
    }
  });
}

}  // namespace

absl::StatusOr<AttentionKind> ParseAttentionKind(std::string_view name) {
  for (const KindName& entry : kKindNames) {
    if (name == entry.name) return entry.kind;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown attention kind '", std::string(name),
                                                 "' (expected Attn, RelAttn, RIPOAttn, CirRelAttn-S or CirRelAttn-H)"));
}

std::string AttentionKindName(AttentionKind kind) {
  for (const KindName& entry : kKindNames) {
    if (kind == entry.kind) return entry.name;
  }
  return "unknown";
}

std::vector<AttentionKind> AllAttentionKinds() {
  std::vector<AttentionKind> kinds;
  for (const KindName& entry : kKindNames) kinds.push_back(entry.kind);
  return kinds;
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

RelativeLayout BuildRelativeLayout(const torch::Tensor& times, const torch::Tensor& pitches,
                                   const torch::Tensor& has_pitch, const torch::Tensor& padding_mask,
                                   int64_t max_relative_bars, bool with_time_pitch, int64_t query_chunk,
                                   bool use_tensor_ops) {
  TORCH_CHECK(times.dim() == 2, "times must be [B, L]");
  TORCH_CHECK(query_chunk > 0, "query_chunk must be positive");
  RelativeLayout layout;
  layout.batch = times.size(0);
  layout.length = times.size(1);
  layout.query_chunk = query_chunk;
  const int64_t B = layout.batch;
  const int64_t L = layout.length;
  const torch::Device device = times.device();

  const torch::Tensor position = torch::arange(L, LongOn(device));
  // blocked[i, j] = j > i
  torch::Tensor blocked = position.unsqueeze(0).gt(position.unsqueeze(1)).view({1, 1, L, L});
  if (padding_mask.defined()) {
    TORCH_CHECK(padding_mask.sizes() == times.sizes(), "padding_mask must be [B, L]");
    const torch::Tensor off_diagonal =
        torch::eye(L, torch::TensorOptions().dtype(torch::kBool).device(device)).logical_not().view({1, 1, L, L});
    blocked = blocked.logical_or(padding_mask.to(torch::kBool).view({B, 1, 1, L}).logical_and(off_diagonal));
  }
  // Contiguous: the fused kernel reads it row by row.
  layout.blocked = blocked.expand({B, 1, L, L}).contiguous();
  if (!with_time_pitch) return layout;

  TORCH_CHECK(pitches.sizes() == times.sizes(), "pitches must be [B, L]");
  TORCH_CHECK(has_pitch.sizes() == times.sizes(), "has_pitch must be [B, L]");
  if (device.is_cpu() && !use_tensor_ops) {
    FillTimePitchRowsWithLoops(layout, times, pitches, has_pitch, max_relative_bars);
  } else {
    FillTimePitchRowsWithTensorOps(layout, times, pitches, has_pitch, max_relative_bars);
  }
  return layout;
}

torch::Tensor AttentionLogitTerms::MaskedTotal(const RelativeLayout& layout) const {
  torch::Tensor total = content;
  for (const torch::Tensor* term : {&index_bias, &time_bias, &pitch_bias}) {
    if (term->defined()) total = total + *term;
  }
  return total.masked_fill(layout.blocked, -std::numeric_limits<double>::infinity());
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
  return BuildRelativeLayout(times, pitches, has_pitch, padding_mask, options_.max_relative_bars(),
                             HasTimePitchBias(options_.kind()), options_.query_chunk());
}

void RelativeAttentionImpl::CheckLayout(const torch::Tensor& x, const RelativeLayout& layout) const {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options_.d_model(), "x must be [B, L, d_model]");
  TORCH_CHECK(
      layout.blocked.defined() && layout.batch == x.size(0) && layout.length == x.size(1) && layout.query_chunk > 0,
      "layout was built for another batch shape");
  if (HasTimePitchBias(options_.kind())) {
    TORCH_CHECK(layout.time_row.defined() && layout.pitch_row.defined(),
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

bool RelativeAttentionImpl::UseFusedKernel(const torch::Tensor& x) const {
  return options_.fused_cpu_kernel() && x.device().is_cpu();
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
  FusedLogitsArgs args;
  args.blocked = layout.blocked;
  args.query_chunk = chunk;
  std::vector<torch::Tensor> tables;
  if (!HasIndexBias(kind)) {
    args.mode = TableMode::kMaskOnly;
    return FusedRelativeLogits::apply(content, at::TensorList(tables), args);
  }
  const bool time_pitch = HasTimePitchBias(kind);
  const bool split = kind == AttentionKind::kCirRelAttnS;
  args.mode = !time_pitch ? TableMode::kIndexOnly : split ? TableMode::kSplit : TableMode::kCombined;

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
    ChunkColumns columns;
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
    tables.push_back(torch::matmul(q_chunks[k], embeddings.t()));
    if (bytes != nullptr) {
      // The index columns add up to an L×L map; the rest grows as L·rows.
      const int64_t per_column = tables.back().nbytes() / embeddings.size(0);
      bytes->pair_maps += per_column * end;
      bytes->score_tables += per_column * (embeddings.size(0) - end);
      if (segments.size() > 1) bytes->embedding_rows += embeddings.nbytes();
    }
  }
  return FusedRelativeLogits::apply(content, at::TensorList(tables), args);
}

torch::Tensor RelativeAttentionImpl::forward(const torch::Tensor& x, const RelativeLayout& layout) {
  CheckLayout(x, layout);
  const int64_t B = x.size(0);
  const int64_t L = x.size(1);
  const Projections p = Project(x);
  // Terms are added into the Q·Kᵀ buffer in place: matmul's backward needs
  // its inputs, not its output.
  torch::Tensor logits = torch::matmul(p.q, p.k.transpose(-2, -1));
  if (UseFusedKernel(x)) {
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
  CheckLayout(x, layout);
  const Projections p = Project(x);
  AttentionLogitTerms terms = GenericTerms(p, layout, nullptr);
  terms.content = torch::matmul(p.q, p.k.transpose(-2, -1));
  return terms;
}

RelativeTermBytes RelativeAttentionImpl::MeasureRelativeTerms(const torch::Tensor& x, const RelativeLayout& layout) {
  CheckLayout(x, layout);
  torch::NoGradGuard no_grad;
  const Projections p = Project(x);
  RelativeTermBytes bytes;
  if (!HasIndexBias(options_.kind())) return bytes;
  if (UseFusedKernel(x)) {
    FusedLogits(torch::matmul(p.q, p.k.transpose(-2, -1)), p.q, layout, &bytes);
  } else {
    GenericTerms(p, layout, &bytes);
  }
  return bytes;
}

}  // namespace expsvc::music
