#include "worker/lm/analysis/monosemanticity.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace expsvc::lm {

absl::StatusOr<TokenEmbeddings> TokenEmbeddings::FromTensor(const torch::Tensor& table) {
  if (!table.defined() || table.dim() != 2 || !table.is_floating_point() || table.size(1) < 1) {
    return absl::InvalidArgumentError("TokenEmbeddings: the table must be a floating [vocab, hidden] tensor");
  }
  try {
    return TokenEmbeddings(table.detach().to(torch::kCPU, torch::kFloat32).contiguous());
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("TokenEmbeddings: cannot read the table: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<torch::Tensor> TokenEmbeddings::Gather(absl::Span<const int64_t> token_ids) const {
  const auto n = static_cast<int64_t>(token_ids.size());
  if (table_.defined()) {
    const int64_t vocab = table_.size(0);
    for (const int64_t id : token_ids) {
      if (id < 0 || id >= vocab) {
        return absl::InvalidArgumentError(
            absl::StrCat("TokenEmbeddings: token ", id, " outside the table's [0, ", vocab, ")"));
      }
    }
    torch::Tensor ids = torch::empty({n}, torch::kInt64);
    std::copy(token_ids.begin(), token_ids.end(), ids.data_ptr<int64_t>());
    return table_.index_select(0, ids);
  }
  if (!lookup_) return absl::FailedPreconditionError("TokenEmbeddings: neither a table nor a lookup");
  torch::Tensor rows = torch::empty({n, hidden_}, torch::kFloat32);
  float* data = rows.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    absl::Status s =
        lookup_(token_ids[static_cast<size_t>(i)], absl::MakeSpan(data + i * hidden_, static_cast<size_t>(hidden_)));
    if (!s.ok()) return s;
  }
  return rows;
}

double Entropy(absl::Span<const double> weights) {
  double total = 0;
  for (const double w : weights) total += w;
  if (!(total > 0)) return 0;
  double h = 0;
  for (const double w : weights) {
    if (w <= 0) continue;
    const double p = w / total;
    h -= p * std::log(p);
  }
  return h;
}

absl::StatusOr<Monosemanticity> MonosemanticityFromClusters(absl::Span<const double> weights,
                                                            absl::Span<const int64_t> cluster_of) {
  if (weights.size() != cluster_of.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("monosemanticity: ", weights.size(), " weights but ", cluster_of.size(), " cluster ids"));
  }
  double total = 0;
  for (const double w : weights) {
    if (!(w >= 0) || !std::isfinite(w)) return absl::InvalidArgumentError("monosemanticity: weights must be ≥ 0");
    total += w;
  }
  if (!(total > 0)) return absl::InvalidArgumentError("monosemanticity: no token mass (a dead feature has no R)");

  // Cluster masses in order of first appearance, so that all-singleton
  // clusters sum exactly as the tokens do and give R = 0 exactly.
  absl::flat_hash_map<int64_t, size_t> slot;
  std::vector<double> cluster_weights;
  for (size_t i = 0; i < weights.size(); ++i) {
    const auto [it, inserted] = slot.try_emplace(cluster_of[i], cluster_weights.size());
    if (inserted) cluster_weights.push_back(0);
    cluster_weights[it->second] += weights[i];
  }
  Monosemanticity m;
  m.tokens = static_cast<int64_t>(weights.size());
  m.clusters = static_cast<int64_t>(cluster_weights.size());
  m.token_entropy = Entropy(weights);
  m.semantic_entropy = Entropy(cluster_weights);
  m.r = m.token_entropy > 0 ? 1.0 - m.semantic_entropy / m.token_entropy : 1.0;
  return m;
}

absl::StatusOr<std::vector<int64_t>> ClusterByCosine(absl::Span<const int64_t> token_ids,
                                                     const TokenEmbeddings& embeddings, double similarity_threshold) {
  if (!(similarity_threshold >= -1.0 && similarity_threshold <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("monosemanticity: similarity threshold ", similarity_threshold, " is outside [-1, 1]"));
  }
  if (embeddings.hidden() < 1) return absl::InvalidArgumentError("monosemanticity: embeddings of width 0");
  absl::StatusOr<torch::Tensor> gathered = embeddings.Gather(token_ids);
  if (!gathered.ok()) return gathered.status();

  const auto n = static_cast<int64_t>(token_ids.size());
  std::vector<int64_t> cluster_of;
  cluster_of.reserve(token_ids.size());
  // Token indices of the leaders, in cluster order (a zero vector takes a
  // cluster id but leads nothing: it has no direction to compare).
  std::vector<int64_t> leaders;
  std::vector<int64_t> leader_cluster;
  int64_t clusters = 0;
  const auto threshold = static_cast<float>(similarity_threshold);
  try {
    torch::NoGradGuard no_grad;
    const torch::Tensor norms = gathered->norm(2, {1});
    const torch::Tensor unit = *gathered / norms.clamp_min(1e-30).unsqueeze(1);
    const torch::Tensor zero = norms.gt(0).logical_not().contiguous();  // NaN counts as zero too
    const bool* is_zero = zero.data_ptr<bool>();
    // Rows [begin, end) against every token up to end: the leaders a token
    // can meet all come before it.
    constexpr int64_t kBlock = 1024;
    for (int64_t begin = 0; begin < n; begin += kBlock) {
      const int64_t end = std::min(n, begin + kBlock);
      const torch::Tensor sim = torch::mm(unit.narrow(0, begin, end - begin), unit.narrow(0, 0, end).t()).contiguous();
      const float* s = sim.data_ptr<float>();
      for (int64_t t = begin; t < end; ++t) {
        if (is_zero[t]) {
          cluster_of.push_back(clusters++);
          continue;
        }
        const float* row = s + (t - begin) * end;
        int64_t joined = -1;
        for (size_t c = 0; c < leaders.size(); ++c) {
          if (row[leaders[c]] >= threshold) {
            joined = leader_cluster[c];
            break;
          }
        }
        if (joined < 0) {
          leaders.push_back(t);
          leader_cluster.push_back(clusters);
          joined = clusters++;
        }
        cluster_of.push_back(joined);
      }
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("monosemanticity: ", e.what_without_backtrace()));
  }
  return cluster_of;
}

absl::StatusOr<Monosemanticity> ComputeMonosemanticity(const absl::flat_hash_map<int64_t, int64_t>& token_counts,
                                                       const TokenEmbeddings& embeddings,
                                                       const MonosemanticityOptions& options) {
  if (options.max_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat("monosemanticity: max_tokens ", options.max_tokens, " < 0"));
  }
  std::vector<std::pair<int64_t, int64_t>> by_count;  // (count, token)
  by_count.reserve(token_counts.size());
  for (const auto& [token, count] : token_counts) {
    if (count > 0) by_count.emplace_back(count, token);
  }
  if (by_count.empty()) return absl::InvalidArgumentError("monosemanticity: no activating tokens");
  std::sort(by_count.begin(), by_count.end(),
            [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  if (options.max_tokens > 0 && static_cast<int64_t>(by_count.size()) > options.max_tokens) {
    by_count.resize(static_cast<size_t>(options.max_tokens));
  }
  std::vector<int64_t> tokens;
  std::vector<double> weights;
  tokens.reserve(by_count.size());
  weights.reserve(by_count.size());
  for (const auto& [count, token] : by_count) {
    tokens.push_back(token);
    weights.push_back(static_cast<double>(count));
  }
  absl::StatusOr<std::vector<int64_t>> clusters = ClusterByCosine(tokens, embeddings, options.similarity_threshold);
  if (!clusters.ok()) return clusters.status();
  return MonosemanticityFromClusters(weights, *clusters);
}

}  // namespace expsvc::lm
