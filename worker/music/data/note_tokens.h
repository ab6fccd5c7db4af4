#pragma once
// Note-based representation (MusicBERT / Multitrack Music Transformer style):
// one token per note, a 6-tuple of fields
//
//   field     type  bar  position  track  pitch  duration
//   vocab       3    16     48       3     128      27
//
// type: 0 = BOS, 1 = note, 2 = EOS. BOS and EOS have every other field 0.
// bar: bar index inside the window; position: 0..47 in the bar; duration: a
// class of duration_classes.h. A window is BOS, its notes in canonical order
// (bar, position, pitch, track, duration ascending), EOS.
//
// T/P: a note token has T = bar * 48 + position and P = its pitch. BOS has
// T = 0, EOS has T = window_bars * 48; neither has a pitch. Every field of a
// token is known once the token is, so this leaks nothing to a causal model.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/music/data/music_grid.h"
#include "worker/music/data/token_sequence.h"

namespace expsvc::music {

enum NoteField : int32_t {
  kNoteTypeField = 0,
  kNoteBarField = 1,
  kNotePositionField = 2,
  kNoteTrackField = 3,
  kNotePitchField = 4,
  kNoteDurationField = 5,
};
inline constexpr int32_t kNoteFieldCount = 6;
inline constexpr std::array<int32_t, kNoteFieldCount> kNoteFieldVocabSizes = {3, 16, 48, 3, 128, 27};

enum NoteTokenType : int32_t { kNoteTypeBos = 0, kNoteTypeNote = 1, kNoteTypeEos = 2 };

// Tokenizes one window (at most 16 bars). Fails on notes outside the field
// ranges (track, pitch, position).
absl::StatusOr<TokenSequence> TokenizeNoteBased(std::span<const Bar> window);

// T/P for a sequence or any prefix of one (what the generator calls after
// each sampled token). Works on malformed input too, without failing.
TokenAttributes ComputeNoteAttributes(std::span<const int32_t> tokens, int32_t window_bars);

// Back to `window_bars` bars. The sequence must follow the grammar; it may
// stop early (no EOS, as when generation hits a length limit).
absl::StatusOr<std::vector<Bar>> DetokenizeNoteBased(std::span<const int32_t> tokens, int32_t window_bars);

// The grammar, one token at a time, for validation and for masking the
// generator's choices field by field.
class NoteGrammar {
 public:
  explicit NoteGrammar(int32_t window_bars) : window_bars_(window_bars) {}

  // Which values field `field` may take, given the values already chosen for
  // the earlier fields of the same token (fields_so_far.size() == field).
  // The mask has kNoteFieldVocabSizes[field] entries; 1 = allowed.
  std::vector<uint8_t> AllowedValues(int32_t field, std::span<const int32_t> fields_so_far) const;

  // Consumes one 6-field token; an error says what rule it breaks.
  absl::Status Accept(std::span<const int32_t> token);

  bool started() const { return started_; }
  bool finished() const { return finished_; }

 private:
  int32_t window_bars_;
  bool started_ = false;   // BOS seen
  bool finished_ = false;  // EOS seen
  bool has_previous_note_ = false;
  int32_t previous_bar_ = 0;
  int32_t previous_position_ = 0;
  int32_t previous_pitch_ = 0;
};

// Field ranges, BOS first, non-decreasing (bar, position, pitch), nothing
// after EOS; with require_complete, EOS last.
absl::Status ValidateNoteSequence(std::span<const int32_t> tokens, int32_t window_bars, bool require_complete = true);
bool IsValidNoteSequence(std::span<const int32_t> tokens, int32_t window_bars);

}  // namespace expsvc::music
