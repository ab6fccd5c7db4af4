#pragma once
// Monosemanticity of an SAE feature (Study 2):
//
//   R = 1 − H_sem / H_tok
//
// H_tok is the entropy of the feature's activating-token distribution
// (token → rows it fires on, normalised); H_sem the entropy of the same
// mass grouped into clusters of similar tokens. R = 1 when H_tok = 0 (one
// distinct token) or when every token lands in one cluster; R = 0 when every
// token is its own cluster. The log base cancels; entropies here are in nats.
//
// Clustering (our reading; the slides only say "cosine similarity of their
// embeddings"): the tokens are taken by descending count, ties by ascending
// id; each joins the first existing cluster whose leader (its first token)
// has cosine similarity ≥ similarity_threshold with it, else it leads a new
// cluster. The embeddings are the LM's input embeddings. A token whose
// embedding is all zeros is always its own cluster.
//
// With max_tokens = M > 0 only the M most frequent tokens are used, and both
// entropies are over their counts renormalised to sum to one; it bounds the
// O(tokens × clusters × hidden) clustering of very dense features.

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace expsvc::lm {

struct MonosemanticityOptions {
  double similarity_threshold = 0.5;  // in [-1, 1]
  int64_t max_tokens = 0;             // 0 = every token
};

struct Monosemanticity {
  double r = 1;
  double token_entropy = 0;     // H_tok, nats
  double semantic_entropy = 0;  // H_sem, nats
  int64_t tokens = 0;           // distinct tokens used (after max_tokens)
  int64_t clusters = 0;
};

// Where embedding vectors come from: a [vocab, hidden] table or a callback.
// BuildFeatureReport computes features in parallel, so a callback must be
// safe to call from several threads at once.
class TokenEmbeddings {
 public:
  // Fills `out` (hidden() floats) with the token's vector.
  using Lookup = std::function<absl::Status(int64_t token_id, absl::Span<float> out)>;

  TokenEmbeddings(int64_t hidden, Lookup lookup) : hidden_(hidden), lookup_(std::move(lookup)) {}
  // table: [vocab, hidden], any floating dtype and device; kept as a float32
  // CPU copy (none when it already is one). Ids outside [0, vocab) are
  // InvalidArgument.
  static absl::StatusOr<TokenEmbeddings> FromTensor(const torch::Tensor& table);

  int64_t hidden() const { return hidden_; }
  // The tokens' vectors as rows of a [ids, hidden] float32 tensor.
  absl::StatusOr<torch::Tensor> Gather(absl::Span<const int64_t> token_ids) const;

 private:
  explicit TokenEmbeddings(torch::Tensor table) : hidden_(table.size(1)), table_(std::move(table)) {}

  int64_t hidden_;
  Lookup lookup_;        // when built from a callback
  torch::Tensor table_;  // when built from a table
};

// Shannon entropy in nats of non-negative weights after normalising them;
// 0 when they sum to 0.
double Entropy(absl::Span<const double> weights);

// R from token weights and each token's cluster id (any integers).
// InvalidArgument for mismatched lengths, negative weights, or no mass.
absl::StatusOr<Monosemanticity> MonosemanticityFromClusters(absl::Span<const double> weights,
                                                            absl::Span<const int64_t> cluster_of);

// The leader clustering above over tokens in the given order; returns each
// token's cluster, numbered 0, 1, … by first appearance. Similarities come
// from matrix products of the unit vectors, 1,024 tokens at a time.
absl::StatusOr<std::vector<int64_t>> ClusterByCosine(absl::Span<const int64_t> token_ids,
                                                     const TokenEmbeddings& embeddings, double similarity_threshold);

// R of one feature from its token histogram (FeatureStats::token_counts).
// InvalidArgument when it is empty (a dead feature has no R), for bad
// options, or when a lookup fails.
absl::StatusOr<Monosemanticity> ComputeMonosemanticity(const absl::flat_hash_map<int64_t, int64_t>& token_counts,
                                                       const TokenEmbeddings& embeddings,
                                                       const MonosemanticityOptions& options = {});

}  // namespace expsvc::lm
