#include "worker/lm/model/reference_llama.h"

#include <algorithm>
#include <cmath>

namespace expsvc::lm {
namespace {

using Vector = std::vector<double>;

// A weight matrix as rows of doubles, row-major [out, in].
class Matrix {
 public:
  explicit Matrix(const torch::Tensor& tensor) : rows_(tensor.size(0)), cols_(tensor.dim() > 1 ? tensor.size(1) : 1) {
    const torch::Tensor host = tensor.detach().to(torch::kCPU, torch::kDouble).contiguous();
    values_.assign(host.data_ptr<double>(), host.data_ptr<double>() + host.numel());
  }

  double at(int64_t row, int64_t col) const { return values_[row * cols_ + col]; }
  int64_t rows() const { return rows_; }

  // Rows [first, first + count) times x.
  Vector Multiply(const Vector& x, int64_t first, int64_t count) const {
    Vector out(count, 0.0);
    for (int64_t r = 0; r < count; ++r) {
      double sum = 0.0;
      for (int64_t c = 0; c < cols_; ++c) sum += at(first + r, c) * x[c];
      out[r] = sum;
    }
    return out;
  }
  Vector Multiply(const Vector& x) const { return Multiply(x, 0, rows_); }

  Vector Row(int64_t row) const { return Vector(values_.begin() + row * cols_, values_.begin() + (row + 1) * cols_); }

 private:
  int64_t rows_;
  int64_t cols_;
  std::vector<double> values_;
};

Vector RmsNorm(const Vector& x, const Matrix& weight, double eps) {
  double mean_square = 0.0;
  for (double value : x) mean_square += value * value;
  mean_square /= static_cast<double>(x.size());
  const double scale = 1.0 / std::sqrt(mean_square + eps);
  Vector out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = weight.at(i, 0) * x[i] * scale;
  return out;
}

// Rotates dimension i against i + D/2 by position · θ^(−2i/D).
Vector Rotate(const Vector& x, int64_t position, double theta) {
  const size_t half = x.size() / 2;
  Vector out(x.size());
  for (size_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(position) * std::pow(theta, -2.0 * static_cast<double>(i) / x.size());
    const double c = std::cos(angle);
    const double s = std::sin(angle);
    out[i] = x[i] * c - x[i + half] * s;
    out[i + half] = x[i + half] * c + x[i] * s;
  }
  return out;
}

double Dot(const Vector& a, const Vector& b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace

ReferenceLlamaOutput ReferenceLlamaForward(const LlamaConfig& config,
                                           const std::map<std::string, torch::Tensor>& weights,
                                           const torch::Tensor& tokens) {
  const auto weight = [&](const std::string& name) { return Matrix(weights.at(name)); };
  const int64_t batch = tokens.size(0);
  const int64_t length = tokens.size(1);
  const int64_t hidden = config.hidden_size;
  const int64_t heads = config.num_attention_heads;
  const int64_t group = heads / config.num_key_value_heads;
  const int64_t head_dim = hidden / heads;
  const torch::Tensor host_tokens = tokens.to(torch::kCPU, torch::kLong).contiguous();

  // x[b][t]: the residual stream, one vector per position.
  const Matrix embedding = weight("model.embed_tokens.weight");
  std::vector<std::vector<Vector>> x(batch, std::vector<Vector>(length));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t < length; ++t) x[b][t] = embedding.Row(host_tokens[b][t].item<int64_t>());
  }

  ReferenceLlamaOutput output;
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    const std::string prefix = "model.layers." + std::to_string(layer) + ".";
    const Matrix input_norm = weight(prefix + "input_layernorm.weight");
    const Matrix wq = weight(prefix + "self_attn.q_proj.weight");
    const Matrix wk = weight(prefix + "self_attn.k_proj.weight");
    const Matrix wv = weight(prefix + "self_attn.v_proj.weight");
    const Matrix wo = weight(prefix + "self_attn.o_proj.weight");
    const Matrix post_norm = weight(prefix + "post_attention_layernorm.weight");
    const Matrix w_gate = weight(prefix + "mlp.gate_proj.weight");
    const Matrix w_up = weight(prefix + "mlp.up_proj.weight");
    const Matrix w_down = weight(prefix + "mlp.down_proj.weight");

    for (int64_t b = 0; b < batch; ++b) {
      std::vector<Vector> normed(length);
      for (int64_t t = 0; t < length; ++t) normed[t] = RmsNorm(x[b][t], input_norm, config.rms_norm_eps);

      std::vector<Vector> attention(length, Vector(heads * head_dim, 0.0));  // concatenated heads
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t kv = h / group;
        std::vector<Vector> keys(length), values(length);
        for (int64_t s = 0; s < length; ++s) {
          keys[s] = Rotate(wk.Multiply(normed[s], kv * head_dim, head_dim), s, config.rope_theta);
          values[s] = wv.Multiply(normed[s], kv * head_dim, head_dim);
        }
        for (int64_t t = 0; t < length; ++t) {
          const Vector query = Rotate(wq.Multiply(normed[t], h * head_dim, head_dim), t, config.rope_theta);
          // Softmax over the visible keys s ≤ t, shifted by the largest score.
          Vector scores(t + 1);
          double largest = -INFINITY;
          for (int64_t s = 0; s <= t; ++s) {
            scores[s] = Dot(query, keys[s]) / std::sqrt(static_cast<double>(head_dim));
            largest = std::max(largest, scores[s]);
          }
          double total = 0.0;
          for (double& score : scores) total += (score = std::exp(score - largest));
          for (int64_t s = 0; s <= t; ++s) {
            for (int64_t d = 0; d < head_dim; ++d) attention[t][h * head_dim + d] += scores[s] / total * values[s][d];
          }
        }
      }
      for (int64_t t = 0; t < length; ++t) {
        const Vector projected = wo.Multiply(attention[t]);
        for (int64_t i = 0; i < hidden; ++i) x[b][t][i] += projected[i];
        const Vector n = RmsNorm(x[b][t], post_norm, config.rms_norm_eps);
        const Vector gate = w_gate.Multiply(n);
        const Vector up = w_up.Multiply(n);
        Vector activated(gate.size());
        for (size_t i = 0; i < gate.size(); ++i) activated[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
        const Vector down = w_down.Multiply(activated);
        for (int64_t i = 0; i < hidden; ++i) x[b][t][i] += down[i];
      }
    }

    torch::Tensor residual = torch::empty({batch, length, hidden}, torch::kDouble);
    auto residual_values = residual.accessor<double, 3>();
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t t = 0; t < length; ++t) {
        for (int64_t i = 0; i < hidden; ++i) residual_values[b][t][i] = x[b][t][i];
      }
    }
    output.residuals.push_back(residual);
  }

  const Matrix final_norm = weight("model.norm.weight");
  const Matrix head = config.tie_word_embeddings ? embedding : weight("lm_head.weight");
  output.logits = torch::empty({batch, length, head.rows()}, torch::kDouble);
  auto logits = output.logits.accessor<double, 3>();
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t < length; ++t) {
      const Vector row_logits = head.Multiply(RmsNorm(x[b][t], final_norm, config.rms_norm_eps));
      for (int64_t v = 0; v < head.rows(); ++v) logits[b][t][v] = row_logits[v];
    }
  }
  return output;
}

}  // namespace expsvc::lm
