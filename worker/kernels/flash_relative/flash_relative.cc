#include "worker/kernels/flash_relative/flash_relative.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "worker/kernels/flash_relative/flash_relative_cpu.h"
#include "worker/kernels/flash_relative/flash_relative_passes.h"

namespace expsvc::kernels {
namespace {

// Contiguous, or undefined where the argument is.
torch::Tensor Dense(const torch::Tensor& t) {
  return t.defined() ? t.contiguous() : t;
}

void CheckTokens(const torch::Tensor& t, const char* name, const torch::Tensor& q, torch::Dtype dtype) {
  TORCH_CHECK(t.defined(), name, " is required with the time and pitch tables");
  TORCH_CHECK(t.device() == q.device() && t.scalar_type() == dtype, name, " must be ", c10::toString(dtype), " on ",
              q.device());
  TORCH_CHECK(t.dim() == 2 && t.size(0) == q.size(0) && t.size(1) == q.size(2), name, " must be [B, L] = [", q.size(0),
              ", ", q.size(2), "], got ", t.sizes());
}

// Checks every argument against q and fills in the shape.
FlashRelativeShape CheckedShape(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const torch::Tensor& index_embedding, const torch::Tensor& time_table,
                                const torch::Tensor& pitch_table, const FlashRelativeArgs& args) {
  TORCH_CHECK(q.dim() == 4, "q must be [B,H,L,D_h], got ", q.sizes());
  TORCH_CHECK(FlashRelativeRunsOn(q.device(), q.scalar_type(), q.size(3)), "flash relative attention does not run on ",
              c10::toString(q.scalar_type()), " ", q.device(), " with head size ", q.size(3),
              " in this build (see FlashRelativeRunsOn)");
  const auto same = [&](const torch::Tensor& t, const char* name) {
    TORCH_CHECK(t.device() == q.device() && t.scalar_type() == q.scalar_type(), name, " must be ",
                c10::toString(q.scalar_type()), " on ", q.device(), " like q");
  };
  same(k, "k");
  same(v, "v");
  TORCH_CHECK(k.sizes() == q.sizes() && v.sizes() == q.sizes(), "k and v must have q's shape ", q.sizes());
  FlashRelativeShape s;
  s.batch = q.size(0);
  s.heads = q.size(1);
  s.length = q.size(2);
  s.head_dim = q.size(3);
  if (index_embedding.defined()) {
    same(index_embedding, "index_embedding");
    TORCH_CHECK(index_embedding.dim() == 2 && index_embedding.size(1) == s.head_dim && index_embedding.size(0) > 0,
                "index_embedding must be [rows > 0, ", s.head_dim, "], got ", index_embedding.sizes());
    s.index_rows = index_embedding.size(0);
  }
  TORCH_CHECK(time_table.defined() == pitch_table.defined(), "time_table and pitch_table come together");
  if (time_table.defined()) {
    same(time_table, "time_table");
    same(pitch_table, "pitch_table");
    const FlashColumnRules& rules = args.rules;
    TORCH_CHECK(rules.time_period > 0 && rules.pitch_period > 0 && rules.num_bars > 0 && rules.num_octaves > 0,
                "periods and spans must be positive");
    const int64_t time_columns = rules.TimeColumns();
    const int64_t pitch_columns = rules.PitchColumns();
    // Every column the rules produce lies inside these widths (bars and
    // octaves are clamped to their spans), so the kernels read in bounds.
    TORCH_CHECK(time_table.dim() == 4 && time_table.sizes().slice(0, 3) == q.sizes().slice(0, 3) &&
                    time_table.size(3) == time_columns,
                "time_table must be [B,H,L,", time_columns, "], got ", time_table.sizes());
    TORCH_CHECK(pitch_table.dim() == 4 && pitch_table.sizes().slice(0, 3) == q.sizes().slice(0, 3) &&
                    pitch_table.size(3) == pitch_columns,
                "pitch_table must be [B,H,L,", pitch_columns, "], got ", pitch_table.sizes());
    CheckTokens(args.times, "times", q, torch::kLong);
    CheckTokens(args.pitches, "pitches", q, torch::kLong);
    CheckTokens(args.has_pitch, "has_pitch", q, torch::kBool);
    s.time_columns = time_columns;
    s.pitch_columns = pitch_columns;
    s.rules = rules;
  }
  if (args.padding.defined()) CheckTokens(args.padding, "padding", q, torch::kBool);
  TORCH_CHECK(args.dropout >= 0.0 && args.dropout < 1.0, "dropout must be in [0, 1), got ", args.dropout);
  // The CUDA kernels' grid takes batch × head in its y dimension.
  TORCH_CHECK(!q.is_cuda() || s.batch * s.heads <= 65535, "at most 65,535 batch × head pairs on CUDA, got ",
              s.batch * s.heads);
  s.dropout = args.dropout;
  s.seed = args.seed;
  return s;
}

template <typename T>
const T* Ptr(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

template <typename T>
FlashRelativeInputs<T> Inputs(const std::vector<torch::Tensor>& t, const FlashRelativeArgs& args) {
  FlashRelativeInputs<T> in;
  in.q = Ptr<T>(t[0]);
  in.k = Ptr<T>(t[1]);
  in.v = Ptr<T>(t[2]);
  in.index_embedding = Ptr<T>(t[3]);
  in.time_table = Ptr<T>(t[4]);
  in.pitch_table = Ptr<T>(t[5]);
  if (t[4].defined()) {
    in.times = args.times.data_ptr<int64_t>();
    in.pitches = args.pitches.data_ptr<int64_t>();
    in.has_pitch = args.has_pitch.data_ptr<bool>();
  }
  in.padding = args.padding.defined() ? args.padding.data_ptr<bool>() : nullptr;
  return in;
}

template <typename T>
void Forward(const FlashRelativeShape& s, const std::vector<torch::Tensor>& t, const FlashRelativeArgs& args,
             torch::Tensor& out, torch::Tensor& lse) {
  const FlashRelativeInputs<T> in = Inputs<T>(t, args);
  if (out.is_cpu()) {
    FlashRelativeForwardCpu<T>(s, in, out.data_ptr<T>(), lse.data_ptr<T>());
    return;
  }
#ifdef EXPSVC_FLASH_RELATIVE_CUDA
  FlashRelativeCudaForward<T>(out.device(), s, in, out.data_ptr<T>(), lse.data_ptr<T>());
#endif
}

template <typename T>
void Backward(const FlashRelativeShape& s, const std::vector<torch::Tensor>& t, const FlashRelativeArgs& args,
              const FlashRelativeGrads<T>& g, const torch::Device& device) {
  const FlashRelativeInputs<T> in = Inputs<T>(t, args);
  if (device.is_cpu()) {
    FlashRelativeBackwardCpu<T>(s, in, g);
    return;
  }
#ifdef EXPSVC_FLASH_RELATIVE_CUDA
  FlashRelativeCudaBackward<T>(device, s, in, g);
#endif
}

// The optional inputs in their places (undefined where absent).
std::vector<torch::Tensor> Unpack(at::TensorList optional, int64_t present) {
  std::vector<torch::Tensor> out(3);
  size_t next = 0;
  for (int n = 0; n < 3; ++n) {
    if ((present >> n) & 1) {
      TORCH_CHECK(next < optional.size(), "flash relative attention: fewer optional tensors than flagged");
      out[n] = optional[next++];
    }
  }
  return out;
}

// The token tensors of args by the names the autograd context saves them
// under (only the defined ones are saved).
std::vector<std::pair<std::string, torch::Tensor*>> TokenTensors(FlashRelativeArgs& args) {
  return {
      {"times", &args.times}, {"pitches", &args.pitches}, {"has_pitch", &args.has_pitch}, {"padding", &args.padding}};
}

class FlashRelative : public torch::autograd::Function<FlashRelative> {
 public:
  // LibTorch 1.13's Function takes no undefined tensor, so the optional
  // ones (index embedding, time table, pitch table) come as a list of those
  // present, and `present` says which (bit 0, 1, 2).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& q_in,
                               const torch::Tensor& k_in, const torch::Tensor& v_in, at::TensorList optional,
                               int64_t present, const FlashRelativeArgs& args_in) {
    const std::vector<torch::Tensor> given = Unpack(optional, present);
    const torch::Tensor& index_embedding_in = given[0];
    const torch::Tensor& time_table_in = given[1];
    const torch::Tensor& pitch_table_in = given[2];
    const FlashRelativeShape s =
        CheckedShape(q_in, k_in, v_in, index_embedding_in, time_table_in, pitch_table_in, args_in);
    FlashRelativeArgs args = args_in;
    for (torch::Tensor* t : {&args.times, &args.pitches, &args.has_pitch, &args.padding}) *t = Dense(*t);
    const std::vector<torch::Tensor> t = {
        Dense(q_in), Dense(k_in), Dense(v_in), Dense(index_embedding_in), Dense(time_table_in), Dense(pitch_table_in)};
    torch::Tensor out = torch::empty_like(t[0]);
    torch::Tensor lse = torch::empty({s.batch, s.heads, s.length}, t[0].options());
    if (t[0].scalar_type() == torch::kFloat64) {
      Forward<double>(s, t, args, out, lse);
    } else {
      Forward<float>(s, t, args, out, lse);
    }
    // Saved as given (undefined where absent), in saved_data: save_for_backward
    // in 1.13 takes no undefined tensor either.
    ctx->save_for_backward({t[0], t[1], t[2], out, lse});
    ctx->saved_data["present"] = present;
    for (int n = 0; n < 3; ++n) {
      if (t[3 + n].defined()) ctx->saved_data["optional" + std::to_string(n)] = t[3 + n];
    }
    for (const auto& [name, tensor] : TokenTensors(args)) {
      if (tensor->defined()) ctx->saved_data[name] = *tensor;
    }
    const FlashColumnRules& r = args.rules;
    ctx->saved_data["rules"] =
        std::vector<int64_t>{r.time_period, r.first_bar, r.num_bars, r.pitch_period, r.first_octave, r.num_octaves};
    ctx->saved_data["dropout"] = args.dropout;
    int64_t seed_bits = 0;
    std::memcpy(&seed_bits, &args.seed, sizeof(seed_bits));
    ctx->saved_data["seed"] = seed_bits;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const torch::autograd::variable_list saved = ctx->get_saved_variables();
    std::vector<torch::Tensor> t = {saved[0], saved[1], saved[2], {}, {}, {}};
    for (int n = 0; n < 3; ++n) {
      const std::string name = "optional" + std::to_string(n);
      if (ctx->saved_data.count(name) > 0) t[3 + n] = ctx->saved_data[name].toTensor();
    }
    const torch::Tensor& out = saved[3];
    const torch::Tensor& lse = saved[4];
    FlashRelativeArgs args;
    for (const auto& [name, tensor] : TokenTensors(args)) {
      if (ctx->saved_data.count(name) > 0) *tensor = ctx->saved_data[name].toTensor();
    }
    const std::vector<int64_t> r = ctx->saved_data["rules"].toIntVector();
    args.rules = {r[0], r[1], r[2], r[3], r[4], r[5]};
    args.dropout = ctx->saved_data["dropout"].toDouble();
    const int64_t seed_bits = ctx->saved_data["seed"].toInt();
    std::memcpy(&args.seed, &seed_bits, sizeof(seed_bits));
    const FlashRelativeShape s = CheckedShape(t[0], t[1], t[2], t[3], t[4], t[5], args);

    const torch::Tensor grad_out = grad_outputs[0].to(out.scalar_type()).contiguous();
    const torch::Tensor delta = (grad_out * out).sum(-1).contiguous();
    torch::Tensor grad_q = torch::empty_like(t[0]);
    torch::Tensor grad_k = torch::empty_like(t[1]);
    torch::Tensor grad_v = torch::empty_like(t[2]);
    const int64_t index_rows = std::min(s.index_rows, s.length);
    torch::Tensor grad_index_partial;
    if (s.index_rows > 0) grad_index_partial = torch::empty({s.batch, s.heads, index_rows, s.head_dim}, t[0].options());
    torch::Tensor grad_time_table = t[4].defined() ? torch::zeros_like(t[4]) : torch::Tensor();
    torch::Tensor grad_pitch_table = t[5].defined() ? torch::zeros_like(t[5]) : torch::Tensor();
    const auto run = [&](auto zero) {
      using T = decltype(zero);
      FlashRelativeGrads<T> g;
      g.out = out.data_ptr<T>();
      g.lse = lse.data_ptr<T>();
      g.grad_out = grad_out.data_ptr<T>();
      g.delta = delta.data_ptr<T>();
      g.grad_q = grad_q.data_ptr<T>();
      g.grad_k = grad_k.data_ptr<T>();
      g.grad_v = grad_v.data_ptr<T>();
      g.grad_index_partial = grad_index_partial.defined() ? grad_index_partial.data_ptr<T>() : nullptr;
      g.grad_time_table = grad_time_table.defined() ? grad_time_table.data_ptr<T>() : nullptr;
      g.grad_pitch_table = grad_pitch_table.defined() ? grad_pitch_table.data_ptr<T>() : nullptr;
      Backward<T>(s, t, args, g, out.device());
    };
    if (out.scalar_type() == torch::kFloat64) {
      run(double{0});
    } else {
      run(float{0});
    }
    torch::Tensor grad_index;
    if (s.index_rows > 0) {
      // Rows for distances the sequence never reaches get no gradient.
      grad_index = torch::zeros_like(t[3]);
      grad_index.narrow(0, 0, index_rows).copy_(grad_index_partial.sum(std::vector<int64_t>{0, 1}));
    }
    torch::autograd::variable_list grads = {grad_q, grad_k, grad_v};
    for (const torch::Tensor& g : {grad_index, grad_time_table, grad_pitch_table}) {
      if (g.defined()) grads.push_back(g);
    }
    grads.emplace_back();  // present
    grads.emplace_back();  // args
    return grads;
  }
};

}  // namespace

bool FlashRelativeRunsOn(const torch::Device& device, torch::ScalarType dtype, int64_t head_dim) {
  if (dtype != torch::kFloat32 && dtype != torch::kFloat64) return false;
  if (!FlashRelativeHeadDimSupported(head_dim)) return false;
#ifdef EXPSVC_FLASH_RELATIVE_CUDA
  if (device.is_cuda()) return true;
#endif
  return device.is_cpu();
}

torch::Tensor FlashRelativeAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     const torch::Tensor& index_embedding, const torch::Tensor& time_table,
                                     const torch::Tensor& pitch_table, const FlashRelativeArgs& args) {
  std::vector<torch::Tensor> optional;
  int64_t present = 0;
  for (int n = 0; n < 3; ++n) {
    const torch::Tensor& t = n == 0 ? index_embedding : (n == 1 ? time_table : pitch_table);
    if (t.defined()) {
      optional.push_back(t);
      present |= int64_t{1} << n;
    }
  }
  return FlashRelative::apply(q, k, v, at::TensorList(optional), present, args);
}

}  // namespace expsvc::kernels
