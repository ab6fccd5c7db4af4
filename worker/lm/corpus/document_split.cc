#include "worker/lm/corpus/document_split.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/splitmix64.h"

namespace expsvc::lm {

std::string SplitName(Split split) {
  switch (split) {
    case Split::kTrain: return "train";
    case Split::kValid: return "valid";
    case Split::kTest: return "test";
  }
  return "unknown";
}

absl::StatusOr<std::vector<Split>> AssignSplits(const std::vector<Document>& documents, uint64_t seed,
                                                SplitFractions fractions) {
  if (!(fractions.train > 0.0 && fractions.valid >= 0.0 && fractions.train + fractions.valid <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad split fractions: train ", fractions.train, ", valid ", fractions.valid));
  }
  std::vector<std::string> keys;
  for (const Document& document : documents) keys.push_back(document.key);
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());

  // Fisher-Yates from the back.
  SplitMix64 random(seed);
  for (size_t i = keys.size(); i > 1; --i) {
    std::swap(keys[i - 1], keys[random.FastBelow(i)]);
  }
  const auto count = static_cast<double>(keys.size());
  const size_t valid = static_cast<size_t>(std::llround(count * fractions.valid));
  const size_t test = std::min(keys.size() - valid,
                               static_cast<size_t>(std::llround(count * (1.0 - fractions.train - fractions.valid))));
  const size_t train = keys.size() - valid - test;

  absl::flat_hash_map<std::string, Split> split_of_key;
  for (size_t i = 0; i < keys.size(); ++i) {
    split_of_key[keys[i]] = i < train ? Split::kTrain : i < train + valid ? Split::kValid : Split::kTest;
  }
  std::vector<Split> splits;
  splits.reserve(documents.size());
  for (const Document& document : documents) splits.push_back(split_of_key.at(document.key));
  return splits;
}

}  // namespace expsvc::lm
