#pragma once
// Train / valid / test assignment of documents, 8:1:1 by default.
//
// The unit is the document key, not the document: a section and its
// translation share a key and always land in the same split, so the test
// split never holds the translation of a training text. Keys are sorted,
// shuffled by a seeded SplitMix64 (the same on every platform) and cut by
// the fractions; the same documents and seed always give the same split.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/lm/corpus/document.h"

namespace expsvc::lm {

// Values are stored in corpus files.
enum class Split : uint8_t { kTrain = 0, kValid = 1, kTest = 2 };
inline constexpr std::array<Split, 3> kAllSplits = {Split::kTrain, Split::kValid, Split::kTest};
inline constexpr int kSplitCount = 3;

// "train", "valid", "test".
std::string SplitName(Split split);

struct SplitFractions {
  double train = 0.8;
  double valid = 0.1;  // test gets the rest
};

// The split of each document, in the order of `documents`.
absl::StatusOr<std::vector<Split>> AssignSplits(const std::vector<Document>& documents, uint64_t seed,
                                                SplitFractions fractions = {});

}  // namespace expsvc::lm
