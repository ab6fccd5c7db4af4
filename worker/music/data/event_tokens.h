#pragma once
// Event-based representation (REMI / Performance RNN style): one vocabulary
// of 224 ids,
//
//   id        0     1     2..17      18..65         66..68     69..196     197..223
//   token    BOS   EOS   Bar(0..15) Position(0..47) Track(0..2) Pitch(0..127) Duration(class 0..26)
//
// A window is BOS; then, for each note in canonical order (bar, position,
// pitch, track, duration ascending): Bar(b) if the note's bar differs from
// the previous note's (so also before the first note; bars without notes
// get no token: the bar index says how far the piece moved), Position,
// Track, Pitch, Duration; then EOS.
//
// Grammar (what may follow what):
//   start -> BOS;  BOS -> Bar | EOS;  Bar -> Position;  Position -> Track;
//   Track -> Pitch;  Pitch -> Duration;  Duration -> Position | Bar | EOS;
//   EOS -> nothing.
// with values: Bar strictly increasing and < window_bars; Position not
// decreasing inside a bar; Pitch not decreasing among notes at one onset.
//
// T/P (EventPitchRule::kCausal, the default): every token's T and P come
// only from itself and earlier tokens, so they can be computed while
// generating and leak nothing about the token being predicted:
//   BOS: T = 0, no pitch.     Bar(b): T = b * 48, no pitch.
//   Position(p): T = bar * 48 + p, no pitch (the pitch comes two tokens later).
//   Track: the note's T, no pitch.    Pitch(q), Duration: the note's T, P = q.
//   EOS: T = window_bars * 48, no pitch.
// EventPitchRule::kPreviousNote (leak-free too) gives Position and Track the
// pitch of the previous note in the sequence (none before the first note):
// the row that predicts a Pitch token (Track's) then gets a relative-pitch
// bias against earlier notes, measured from the note before, where kCausal
// gives it none.
// EventPitchRule::kWholeNote gives Position and Track the note's pitch too
// (every token of a note inherits the note's T and P). That looks ahead: the
// attention bias at the Track token would then reveal the pitch the model is
// asked to predict next, and a generator cannot compute it before sampling.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/music/data/duration_classes.h"
#include "worker/music/data/music_grid.h"
#include "worker/music/data/token_sequence.h"

namespace expsvc::music {

enum class EventKind : int32_t { kBos, kEos, kBar, kPosition, kTrack, kPitch, kDuration };

inline constexpr int32_t kEventBos = 0;
inline constexpr int32_t kEventEos = 1;
inline constexpr int32_t kEventBarBase = 2;
inline constexpr int32_t kEventPositionBase = kEventBarBase + kMaxWindowBars;         // 18
inline constexpr int32_t kEventTrackBase = kEventPositionBase + kPositionsPerBar;     // 66
inline constexpr int32_t kEventPitchBase = kEventTrackBase + kNumTracks;              // 69
inline constexpr int32_t kEventDurationBase = kEventPitchBase + kNumPitches;          // 197
inline constexpr int32_t kEventVocabSize = kEventDurationBase + kNumDurationClasses;  // 224

enum class EventPitchRule : int32_t { kCausal = 0, kWholeNote = 1, kPreviousNote = 2 };

// "causal", "previous_note" (the job parameter's values; kWholeNote, which
// leaks, is for tests only and has no name).
absl::StatusOr<EventPitchRule> ParseEventPitchRule(std::string_view name);
const char* EventPitchRuleName(EventPitchRule rule);

// Kind and value (bar, position, track, pitch or duration class; 0 for BOS
// and EOS) of an id; both expect IsEventToken(token).
bool IsEventToken(int32_t token);
EventKind EventKindOf(int32_t token);
int32_t EventValueOf(int32_t token);
int32_t EventTokenId(EventKind kind, int32_t value);
const char* EventKindName(EventKind kind);

// The kinds allowed after `previous`; std::nullopt = at the start.
std::vector<EventKind> AllowedNextEventKinds(std::optional<EventKind> previous);

absl::StatusOr<TokenSequence> TokenizeEventBased(std::span<const Bar> window,
                                                 EventPitchRule rule = EventPitchRule::kCausal);

// T/P for a sequence or any prefix of one. With kCausal, the values for a
// prefix equal the first tokens' values for the whole sequence. Works on
// malformed input too, without failing.
TokenAttributes ComputeEventAttributes(std::span<const int32_t> tokens, int32_t window_bars,
                                       EventPitchRule rule = EventPitchRule::kCausal);

// Back to `window_bars` bars. The sequence must follow the grammar; it may
// stop early (no EOS; an unfinished last note is dropped).
absl::StatusOr<std::vector<Bar>> DetokenizeEventBased(std::span<const int32_t> tokens, int32_t window_bars);

// The grammar, one token at a time, for validation and for masking the
// generator's next-token distribution.
class EventGrammar {
 public:
  explicit EventGrammar(int32_t window_bars) : window_bars_(window_bars) {}

  // kEventVocabSize entries; 1 = the id may come next.
  std::vector<uint8_t> AllowedNext() const;
  bool IsAllowed(int32_t token) const;
  // Consumes one id; an error says what rule it breaks (state unchanged).
  absl::Status Accept(int32_t token);

  bool finished() const { return last_kind_ == EventKind::kEos; }
  // True after a note's Position, before its Duration.
  bool inside_note() const;

 private:
  int32_t window_bars_;
  std::optional<EventKind> last_kind_;  // nullopt before BOS
  int32_t bar_ = -1;                    // current bar, -1 before the first Bar
  int32_t note_position_ = -1;          // the note being read
  int32_t note_pitch_ = -1;
  int32_t previous_position_ = -1;  // the previous complete note in this bar, -1 if none
  int32_t previous_pitch_ = -1;
};

// The grammar above over a whole sequence; with require_complete, EOS last.
absl::Status ValidateEventSequence(std::span<const int32_t> tokens, int32_t window_bars, bool require_complete = true);
bool IsValidEventSequence(std::span<const int32_t> tokens, int32_t window_bars);

}  // namespace expsvc::music
