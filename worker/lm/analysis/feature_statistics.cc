#include "worker/lm/analysis/feature_statistics.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace expsvc::lm {
namespace {

bool IsIntegral(const torch::Tensor& t) {
  return !t.is_floating_point() && !t.is_complex() && t.scalar_type() != torch::kBool;
}

absl::Status CheckLabel(const torch::Tensor& t, const char* name, int64_t rows) {
  if (!t.defined()) return absl::InvalidArgumentError(absl::StrCat("FeatureStatistics: ", name, " is missing"));
  if (t.dim() != 1 || t.size(0) != rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("FeatureStatistics: ", name, " must be [", rows, "], got ", std::string(c10::str(t.sizes()))));
  }
  if (!IsIntegral(t)) {
    return absl::InvalidArgumentError(absl::StrCat("FeatureStatistics: ", name, " must be an integer tensor, got ",
                                                   std::string(c10::toString(t.scalar_type()))));
  }
  return absl::OkStatus();
}

// Contiguous CPU copy in `dtype` (no copy when it already is one).
absl::StatusOr<torch::Tensor> Plain(const torch::Tensor& t, torch::Dtype dtype) {
  try {
    return t.to(torch::kCPU, dtype).contiguous();
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("FeatureStatistics: cannot read a tensor: ", e.what_without_backtrace()));
  }
}

}  // namespace

absl::StatusOr<FeatureStatistics> FeatureStatistics::Create(int64_t n_latents, FeatureStatisticsOptions options) {
  if (n_latents < 1)
    return absl::InvalidArgumentError(absl::StrCat("FeatureStatistics: n_latents ", n_latents, " < 1"));
  if (options.top_examples < 0) {
    return absl::InvalidArgumentError(absl::StrCat("FeatureStatistics: top_examples ", options.top_examples, " < 0"));
  }
  if (options.max_token_windows < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("FeatureStatistics: max_token_windows ", options.max_token_windows, " < 0"));
  }
  return FeatureStatistics(n_latents, options);
}

FeatureStatistics::FeatureStatistics(int64_t n_latents, FeatureStatisticsOptions options)
    : options_(options),
      features_(static_cast<size_t>(n_latents)),
      last_(static_cast<size_t>(n_latents)),
      seen_in_row_(static_cast<size_t>(n_latents), -1) {}

absl::Status FeatureStatistics::Add(const TopKCodes& codes, const RowLabels& labels) {
  if (!codes.indices.defined() || !codes.values.defined()) {
    return absl::InvalidArgumentError("FeatureStatistics: codes without indices or values");
  }
  if (codes.indices.dim() != 2 || codes.values.sizes() != codes.indices.sizes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("FeatureStatistics: indices ", std::string(c10::str(codes.indices.sizes())), " and values ",
                     std::string(c10::str(codes.values.sizes())), " must be the same [N, k]"));
  }
  if (!IsIntegral(codes.indices) || !codes.values.is_floating_point()) {
    return absl::InvalidArgumentError("FeatureStatistics: indices must be integers and values floating point");
  }
  const int64_t n = codes.indices.size(0);
  const int64_t k = codes.indices.size(1);
  if (absl::Status s = CheckLabel(labels.token_ids, "token_ids", n); !s.ok()) return s;
  if (absl::Status s = CheckLabel(labels.languages, "languages", n); !s.ok()) return s;
  if (absl::Status s = CheckLabel(labels.windows, "windows", n); !s.ok()) return s;
  if (absl::Status s = CheckLabel(labels.positions, "positions", n); !s.ok()) return s;

  absl::StatusOr<torch::Tensor> indices_t = Plain(codes.indices, torch::kInt64);
  absl::StatusOr<torch::Tensor> values_t = Plain(codes.values, torch::kFloat32);
  absl::StatusOr<torch::Tensor> tokens_t = Plain(labels.token_ids, torch::kInt64);
  absl::StatusOr<torch::Tensor> languages_t = Plain(labels.languages, torch::kUInt8);
  absl::StatusOr<torch::Tensor> windows_t = Plain(labels.windows, torch::kInt64);
  absl::StatusOr<torch::Tensor> positions_t = Plain(labels.positions, torch::kInt64);
  for (const auto* t : {&indices_t, &values_t, &tokens_t, &languages_t, &windows_t, &positions_t}) {
    if (!t->ok()) return t->status();
  }
  // Raw loops from here: ~1e5 rows × k = 32 per split, per-element tensor ops would dominate.
  const int64_t* indices = indices_t->data_ptr<int64_t>();
  const float* values = values_t->data_ptr<float>();
  const int64_t* tokens = tokens_t->data_ptr<int64_t>();
  const uint8_t* languages = languages_t->data_ptr<uint8_t>();
  const int64_t* windows = windows_t->data_ptr<int64_t>();
  const int64_t* positions = positions_t->data_ptr<int64_t>();

  // Check everything first, so a refused batch counts nothing.
  bool any = any_row_;
  int64_t prev_window = last_window_;
  int64_t prev_position = last_position_;
  const int64_t n_latents = this->n_latents();
  for (int64_t r = 0; r < n; ++r) {
    if (languages[r] >= kLanguageCount) {
      return absl::InvalidArgumentError(
          absl::StrCat("FeatureStatistics: row ", r, " has language ", static_cast<int>(languages[r])));
    }
    if (windows[r] < 0 || positions[r] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("FeatureStatistics: row ", r, " has window ", windows[r],
                                                     " position ", positions[r], "; both must be ≥ 0"));
    }
    if (any && (windows[r] < prev_window || (windows[r] == prev_window && positions[r] <= prev_position))) {
      return absl::InvalidArgumentError(absl::StrCat("FeatureStatistics: row ", r, " (window ", windows[r],
                                                     ", position ", positions[r], ") does not follow (window ",
                                                     prev_window, ", position ", prev_position, ")"));
    }
    any = true;
    prev_window = windows[r];
    prev_position = positions[r];
    const int64_t stamp = next_stamp_++;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t latent = indices[r * k + j];
      if (latent < 0 || latent >= n_latents) {
        return absl::InvalidArgumentError(
            absl::StrCat("FeatureStatistics: row ", r, " has latent ", latent, " outside [0, ", n_latents, ")"));
      }
      if (seen_in_row_[static_cast<size_t>(latent)] == stamp) {
        return absl::InvalidArgumentError(absl::StrCat("FeatureStatistics: row ", r, " repeats latent ", latent));
      }
      seen_in_row_[static_cast<size_t>(latent)] = stamp;
    }
  }

  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < k; ++j) {
      const float value = values[r * k + j];
      if (!(value > 0)) continue;  // also skips NaN
      Record(indices[r * k + j], value, windows[r], positions[r], tokens[r], languages[r]);
    }
    ++rows_by_language_[languages[r]];
  }
  rows_ += n;
  any_row_ = any;
  last_window_ = prev_window;
  last_position_ = prev_position;
  return absl::OkStatus();
}

void FeatureStatistics::Record(int64_t latent, float value, int64_t window, int64_t position, int64_t token,
                               uint8_t language) {
  FeatureStats& f = features_[static_cast<size_t>(latent)];
  ++f.count;
  ++f.by_language[language];
  ++f.token_counts[token];

  // A run continues only on the next position of the same window; the
  // state lives here, not in the batch, so split windows join up.
  LastFiring& last = last_[static_cast<size_t>(latent)];
  if (last.window != window || last.position + 1 != position) ++f.runs;
  last = {window, position};

  const size_t keep = static_cast<size_t>(options_.top_examples);
  if (keep > 0 && (f.top.size() < keep || value > f.top.back().value)) {
    // After every equal value, so ties keep the earlier row first.
    const auto at = std::upper_bound(f.top.begin(), f.top.end(), value,
                                     [](float v, const ActivationExample& e) { return v > e.value; });
    f.top.insert(at, ActivationExample{value, window, position, token});
    if (f.top.size() > keep) f.top.pop_back();
  }

  std::vector<WindowMaxToken>& maxima = f.window_max_tokens;
  if (!maxima.empty() && maxima.back().window == window) {
    if (value > maxima.back().value) maxima.back() = {window, position, token, value};
  } else if (static_cast<int64_t>(maxima.size()) < options_.max_token_windows) {
    maxima.push_back({window, position, token, value});
  }
}

}  // namespace expsvc::lm
