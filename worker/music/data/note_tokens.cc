#include "worker/music/data/note_tokens.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/music/data/duration_classes.h"

namespace expsvc::music {

absl::StatusOr<TokenSequence> TokenizeNoteBased(std::span<const Bar> window) {
  EXPSVC_RETURN_IF_ERROR(CheckTokenizableWindow(window));
  TokenSequence sequence;
  sequence.fields_per_token = kNoteFieldCount;
  const auto append = [&sequence](std::array<int32_t, kNoteFieldCount> token) {
    sequence.tokens.insert(sequence.tokens.end(), token.begin(), token.end());
  };
  append({kNoteTypeBos, 0, 0, 0, 0, 0});
  for (size_t b = 0; b < window.size(); ++b) {
    // Loaded songs are already in canonical order; only other input is copied.
    Bar sorted_copy;
    const Bar* bar = &window[b];
    if (!IsInCanonicalOrder(*bar)) {
      sorted_copy = *bar;
      SortBarNotes(sorted_copy);
      bar = &sorted_copy;
    }
    for (const BarNote& note : bar->notes) {
      append({kNoteTypeNote, static_cast<int32_t>(b), note.position, note.track, note.pitch,
              DurationToClass(note.duration)});
    }
  }
  append({kNoteTypeEos, 0, 0, 0, 0, 0});
  TokenAttributes attributes = ComputeNoteAttributes(sequence.tokens, static_cast<int32_t>(window.size()));
  sequence.times = std::move(attributes.times);
  sequence.pitches = std::move(attributes.pitches);
  sequence.has_pitch = std::move(attributes.has_pitch);
  return sequence;
}

TokenAttributes ComputeNoteAttributes(std::span<const int32_t> tokens, int32_t window_bars) {
  TokenAttributes attributes;
  const size_t count = tokens.size() / kNoteFieldCount;
  attributes.times.reserve(count);
  attributes.pitches.reserve(count);
  attributes.has_pitch.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const std::span<const int32_t> token = tokens.subspan(i * kNoteFieldCount, kNoteFieldCount);
    int32_t time = 0;
    int32_t pitch = 0;
    uint8_t has_pitch = 0;
    if (token[kNoteTypeField] == kNoteTypeNote) {
      time = token[kNoteBarField] * kPositionsPerBar + token[kNotePositionField];
      pitch = token[kNotePitchField];
      has_pitch = 1;
    } else if (token[kNoteTypeField] == kNoteTypeEos) {
      time = window_bars * kPositionsPerBar;
    }
    attributes.times.push_back(time);
    attributes.pitches.push_back(pitch);
    attributes.has_pitch.push_back(has_pitch);
  }
  return attributes;
}

std::vector<uint8_t> NoteGrammar::AllowedValues(int32_t field, std::span<const int32_t> fields_so_far) const {
  std::vector<uint8_t> mask(static_cast<size_t>(kNoteFieldVocabSizes[static_cast<size_t>(field)]), 0);
  if (finished_ || static_cast<int32_t>(fields_so_far.size()) != field) return mask;
  if (field == kNoteTypeField) {
    if (!started_) {
      mask[kNoteTypeBos] = 1;
    } else {
      mask[kNoteTypeNote] = 1;
      mask[kNoteTypeEos] = 1;
    }
    return mask;
  }
  if (fields_so_far[kNoteTypeField] != kNoteTypeNote) {
    mask[0] = 1;  // BOS and EOS carry zeros
    return mask;
  }
  const auto allow_from = [&mask](int32_t first, int32_t end) {
    for (int32_t v = std::max(first, 0); v < std::min<int32_t>(end, static_cast<int32_t>(mask.size())); ++v) {
      mask[static_cast<size_t>(v)] = 1;
    }
  };
  const int32_t size = static_cast<int32_t>(mask.size());
  const bool same_bar =
      has_previous_note_ && fields_so_far.size() > kNoteBarField && fields_so_far[kNoteBarField] == previous_bar_;
  switch (field) {
    case kNoteBarField: allow_from(has_previous_note_ ? previous_bar_ : 0, window_bars_); break;
    case kNotePositionField: allow_from(same_bar ? previous_position_ : 0, size); break;
    case kNotePitchField: {
      const bool same_onset = same_bar && fields_so_far[kNotePositionField] == previous_position_;
      allow_from(same_onset ? previous_pitch_ : 0, size);
      break;
    }
    default: allow_from(0, size);
  }
  return mask;
}

absl::Status NoteGrammar::Accept(std::span<const int32_t> token) {
  if (token.size() != kNoteFieldCount) {
    return absl::InvalidArgumentError(absl::StrCat("note token has ", token.size(), " fields, want 6"));
  }
  for (int32_t field = 0; field < kNoteFieldCount; ++field) {
    const std::vector<uint8_t> allowed = AllowedValues(field, token.first(static_cast<size_t>(field)));
    const int32_t value = token[static_cast<size_t>(field)];
    if (value < 0 || value >= static_cast<int32_t>(allowed.size()) || !allowed[static_cast<size_t>(value)]) {
      static constexpr const char* kFieldNames[] = {"type", "bar", "position", "track", "pitch", "duration"};
      return absl::InvalidArgumentError(absl::StrCat("note token field ", kFieldNames[field], " = ", value,
                                                     " not allowed here", finished_ ? " (after EOS)" : ""));
    }
  }
  switch (token[kNoteTypeField]) {
    case kNoteTypeBos: started_ = true; break;
    case kNoteTypeEos: finished_ = true; break;
    default:
      has_previous_note_ = true;
      previous_bar_ = token[kNoteBarField];
      previous_position_ = token[kNotePositionField];
      previous_pitch_ = token[kNotePitchField];
  }
  return absl::OkStatus();
}

absl::Status ValidateNoteSequence(std::span<const int32_t> tokens, int32_t window_bars, bool require_complete) {
  if (window_bars < 1 || window_bars > kMaxWindowBars) {
    return absl::InvalidArgumentError(absl::StrCat("window_bars must be in [1, 16], got ", window_bars));
  }
  if (tokens.size() % kNoteFieldCount != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("note sequence of ", tokens.size(), " values is not a multiple of 6"));
  }
  NoteGrammar grammar(window_bars);
  for (size_t i = 0; i * kNoteFieldCount < tokens.size(); ++i) {
    const absl::Status accepted = grammar.Accept(tokens.subspan(i * kNoteFieldCount, kNoteFieldCount));
    if (!accepted.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("token ", i, ": ", accepted.message()));
    }
  }
  if (require_complete && !grammar.finished()) {
    return absl::InvalidArgumentError("note sequence does not end with EOS");
  }
  return absl::OkStatus();
}

bool IsValidNoteSequence(std::span<const int32_t> tokens, int32_t window_bars) {
  return ValidateNoteSequence(tokens, window_bars, /*require_complete=*/true).ok();
}

absl::StatusOr<std::vector<Bar>> DetokenizeNoteBased(std::span<const int32_t> tokens, int32_t window_bars) {
  EXPSVC_RETURN_IF_ERROR(ValidateNoteSequence(tokens, window_bars, /*require_complete=*/false));
  std::vector<Bar> bars(static_cast<size_t>(window_bars));
  for (size_t i = 0; i * kNoteFieldCount < tokens.size(); ++i) {
    const std::span<const int32_t> token = tokens.subspan(i * kNoteFieldCount, kNoteFieldCount);
    if (token[kNoteTypeField] != kNoteTypeNote) continue;
    BarNote note;
    note.track = token[kNoteTrackField];
    note.pitch = token[kNotePitchField];
    note.position = token[kNotePositionField];
    note.duration = ClassToDuration(token[kNoteDurationField]);
    bars[static_cast<size_t>(token[kNoteBarField])].notes.push_back(note);
  }
  // The grammar leaves the track order of equal (onset, pitch) notes free.
  for (Bar& bar : bars) SortBarNotes(bar);
  return bars;
}

}  // namespace expsvc::music
