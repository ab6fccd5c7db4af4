#include "worker/music/model/collate_sequences.h"

#include <algorithm>

namespace expsvc::music {

MusicBatch CollateSequences(const std::vector<TokenSequence>& sequences, int64_t max_len, const torch::Device& device) {
  int64_t length = 2;
  for (const auto& sequence : sequences) {
    length = std::max<int64_t>(length, std::min<int64_t>(max_len, static_cast<int64_t>(sequence.length())));
  }
  const int64_t batch = static_cast<int64_t>(sequences.size());
  const int64_t fields = sequences.front().fields_per_token;
  auto tokens = torch::zeros({batch, length, fields}, torch::kInt64);
  auto times = torch::zeros({batch, length}, torch::kInt64);
  auto pitches = torch::zeros({batch, length}, torch::kInt64);
  auto has_pitch = torch::zeros({batch, length}, torch::kBool);
  auto padding = torch::ones({batch, length}, torch::kBool);
  auto tokens_a = tokens.accessor<int64_t, 3>();
  auto times_a = times.accessor<int64_t, 2>();
  auto pitches_a = pitches.accessor<int64_t, 2>();
  auto has_pitch_a = has_pitch.accessor<bool, 2>();
  auto padding_a = padding.accessor<bool, 2>();
  for (int64_t b = 0; b < batch; ++b) {
    const TokenSequence& sequence = sequences[static_cast<size_t>(b)];
    const int64_t used = std::min<int64_t>(length, static_cast<int64_t>(sequence.length()));
    for (int64_t t = 0; t < used; ++t) {
      for (int64_t f = 0; f < fields; ++f) tokens_a[b][t][f] = sequence.tokens[static_cast<size_t>(t * fields + f)];
      times_a[b][t] = sequence.times[static_cast<size_t>(t)];
      pitches_a[b][t] = sequence.pitches[static_cast<size_t>(t)];
      has_pitch_a[b][t] = sequence.has_pitch[static_cast<size_t>(t)] != 0;
      padding_a[b][t] = false;
    }
  }
  MusicBatch result{tokens, times, pitches, has_pitch, padding};
  return result.To(device);
}

}  // namespace expsvc::music
