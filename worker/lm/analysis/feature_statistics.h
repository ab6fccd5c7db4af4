#pragma once
// Per-feature statistics of a trained TopK SAE over one pass of a corpus
// split (Study 2, "Per-feature analysis"), accumulated batch by batch from
// the encoder's top-k codes and the activation source's row labels:
//
//   EXPSVC_ASSIGN_OR_RETURN(FeatureStatistics stats, FeatureStatistics::Create(sae->options().n_latents()));
//   ... for each ActivationBatch `batch`:
//   EXPSVC_RETURN_IF_ERROR(stats.Add(sae->Encode(batch.layers.at(layer)),
//                                    {batch.token_ids, batch.languages, batch.windows, batch.positions}));
//
// A latent fires on a row when it is among the row's k indices with a value
// > 0 (TopK keeps zeros when fewer than k pre-activations are positive).
// Rows must arrive in increasing (window, position) order across all calls,
// as the activation source streams them; a window may straddle two batches,
// since span runs and per-window maxima are carried from one call to the
// next per feature.

#include <array>
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/lm/corpus/language.h"
#include "worker/lm/sae/topk_sae.h"

namespace expsvc::lm {

struct FeatureStatisticsOptions {
  // Highest-valued rows kept per feature (for the report's snippets).
  int64_t top_examples = 10;
  // Windows per feature whose max-activating token the authors' language
  // rule reads: the first ones (in split order) in which the feature fires.
  int64_t max_token_windows = 50;
};

// Labels of the N rows of a batch, as ActivationBatch carries them.
struct RowLabels {
  torch::Tensor token_ids;  // [N] int64
  torch::Tensor languages;  // [N] uint8 (Language)
  torch::Tensor windows;    // [N] int64: window index in the split
  torch::Tensor positions;  // [N] int64: position in the window
};

// One activating row.
struct ActivationExample {
  float value = 0;
  int64_t window = 0;
  int64_t position = 0;
  int64_t token_id = 0;
};

// The single max-activating row of a feature in one window.
struct WindowMaxToken {
  int64_t window = 0;
  int64_t position = 0;
  int64_t token_id = 0;
  float value = 0;
};

struct FeatureStats {
  int64_t count = 0;                                   // rows it fires on
  std::array<int64_t, kLanguageCount> by_language{};   // rows it fires on, by Language
  int64_t runs = 0;                                    // maximal runs of consecutive positions in one window
  absl::flat_hash_map<int64_t, int64_t> token_counts;  // token id → rows it fires on with that token
  // Best first: by value, ties by earlier (window, position).
  std::vector<ActivationExample> top;
  // In window order; at most max_token_windows entries.
  std::vector<WindowMaxToken> window_max_tokens;

  int64_t en_count() const { return by_language[static_cast<int>(Language::kEnglish)]; }
  int64_t ja_count() const { return by_language[static_cast<int>(Language::kJapanese)]; }
  bool dead() const { return count == 0; }
  // Firing rows per run; 0 for a dead feature.
  double mean_span() const { return runs == 0 ? 0.0 : static_cast<double>(count) / static_cast<double>(runs); }
};

class FeatureStatistics {
 public:
  // InvalidArgument unless n_latents ≥ 1, top_examples ≥ 0, max_token_windows ≥ 0.
  static absl::StatusOr<FeatureStatistics> Create(int64_t n_latents, FeatureStatisticsOptions options = {});

  // codes: indices [N, k] int64 in [0, n_latents), values [N, k] floating;
  // labels: [N] each. InvalidArgument for wrong shapes, dtypes, ranges,
  // a repeated latent in a row, or rows out of (window, position) order
  // (also relative to the previous call). Everything is checked before
  // anything is counted, so a refused batch leaves the statistics unchanged.
  absl::Status Add(const TopKCodes& codes, const RowLabels& labels);

  int64_t n_latents() const { return static_cast<int64_t>(features_.size()); }
  const FeatureStatisticsOptions& options() const { return options_; }
  const FeatureStats& feature(int64_t latent) const { return features_[static_cast<size_t>(latent)]; }
  const std::vector<FeatureStats>& features() const { return features_; }
  // Rows seen, in all and by Language.
  int64_t rows() const { return rows_; }
  const std::array<int64_t, kLanguageCount>& rows_by_language() const { return rows_by_language_; }

 private:
  FeatureStatistics(int64_t n_latents, FeatureStatisticsOptions options);
  void Record(int64_t latent, float value, int64_t window, int64_t position, int64_t token, uint8_t language);

  // Where each feature last fired, to extend or start a run (window -1: never).
  struct LastFiring {
    int64_t window = -1;
    int64_t position = 0;
  };

  FeatureStatisticsOptions options_;
  std::vector<FeatureStats> features_;
  std::vector<LastFiring> last_;
  // Per-latent stamp of the last checked row it appeared in, for the repeat
  // check; stamps only grow, so a refused batch leaves none that matter.
  std::vector<int64_t> seen_in_row_;
  int64_t next_stamp_ = 0;
  int64_t rows_ = 0;
  std::array<int64_t, kLanguageCount> rows_by_language_{};
  bool any_row_ = false;
  int64_t last_window_ = 0;
  int64_t last_position_ = 0;
};

}  // namespace expsvc::lm
