#include "worker/music/data/event_tokens.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/music/data/duration_classes.h"

namespace expsvc::music {
namespace {

static_assert(kEventVocabSize == 224, "2 + 16 + 48 + 3 + 128 + 27");
static_assert(kEventVocabSize - kEventDurationBase == kNumDurationClasses);

struct KindRange {
  EventKind kind;
  int32_t base;
  int32_t size;
};
constexpr std::array<KindRange, 7> kKindRanges = {{
    {EventKind::kBos, kEventBos, 1},
    {EventKind::kEos, kEventEos, 1},
    {EventKind::kBar, kEventBarBase, kMaxWindowBars},
    {EventKind::kPosition, kEventPositionBase, kPositionsPerBar},
    {EventKind::kTrack, kEventTrackBase, kNumTracks},
    {EventKind::kPitch, kEventPitchBase, kNumPitches},
    {EventKind::kDuration, kEventDurationBase, kNumDurationClasses},
}};

const KindRange& RangeOf(EventKind kind) {
  return kKindRanges[static_cast<size_t>(kind)];
}

void AppendToken(TokenSequence& sequence, int32_t token) {
  sequence.tokens.push_back(token);
}

}  // namespace

bool IsEventToken(int32_t token) {
  return token >= 0 && token < kEventVocabSize;
}

EventKind EventKindOf(int32_t token) {
  for (auto it = kKindRanges.rbegin(); it != kKindRanges.rend(); ++it) {
    if (token >= it->base) return it->kind;
  }
  return EventKind::kBos;
}

int32_t EventValueOf(int32_t token) {
  return token - RangeOf(EventKindOf(token)).base;
}

int32_t EventTokenId(EventKind kind, int32_t value) {
  return RangeOf(kind).base + value;
}

const char* EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kBos: return "BOS";
    case EventKind::kEos: return "EOS";
    case EventKind::kBar: return "Bar";
    case EventKind::kPosition: return "Position";
    case EventKind::kTrack: return "Track";
    case EventKind::kPitch: return "Pitch";
    case EventKind::kDuration: return "Duration";
  }
  return "unknown";
}

std::vector<EventKind> AllowedNextEventKinds(std::optional<EventKind> previous) {
  if (!previous.has_value()) return {EventKind::kBos};
  switch (*previous) {
    case EventKind::kBos: return {EventKind::kBar, EventKind::kEos};
    case EventKind::kBar: return {EventKind::kPosition};
    case EventKind::kPosition: return {EventKind::kTrack};
    case EventKind::kTrack: return {EventKind::kPitch};
    case EventKind::kPitch: return {EventKind::kDuration};
    case EventKind::kDuration: return {EventKind::kPosition, EventKind::kBar, EventKind::kEos};
    case EventKind::kEos: return {};
  }
  return {};
}

bool EventGrammar::inside_note() const {
  return last_kind_ == EventKind::kPosition || last_kind_ == EventKind::kTrack || last_kind_ == EventKind::kPitch;
}

bool EventGrammar::IsAllowed(int32_t token) const {
  if (!IsEventToken(token)) return false;
  const EventKind kind = EventKindOf(token);
  const std::vector<EventKind> kinds = AllowedNextEventKinds(last_kind_);
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) return false;
  const int32_t value = EventValueOf(token);
  switch (kind) {
    case EventKind::kBar: return value > bar_ && value < window_bars_;
    case EventKind::kPosition: return value >= previous_position_;  // -1 right after a Bar
    case EventKind::kPitch: return previous_position_ != note_position_ || value >= previous_pitch_;
    default: return true;
  }
}

std::vector<uint8_t> EventGrammar::AllowedNext() const {
  std::vector<uint8_t> mask(kEventVocabSize, 0);
  for (int32_t token = 0; token < kEventVocabSize; ++token) mask[static_cast<size_t>(token)] = IsAllowed(token);
  return mask;
}

absl::Status EventGrammar::Accept(int32_t token) {
  if (!IsAllowed(token)) {
    const std::string previous = last_kind_.has_value() ? EventKindName(*last_kind_) : "start";
    if (!IsEventToken(token)) {
      return absl::InvalidArgumentError(absl::StrCat("event id ", token, " outside [0, 224)"));
    }
    return absl::InvalidArgumentError(absl::StrCat(EventKindName(EventKindOf(token)), "(", EventValueOf(token),
                                                   ") not allowed after ", previous, " (bar ", bar_, ")"));
  }
  const EventKind kind = EventKindOf(token);
  const int32_t value = EventValueOf(token);
  switch (kind) {
    case EventKind::kBar:
      bar_ = value;
      previous_position_ = -1;
      previous_pitch_ = -1;
      break;
    case EventKind::kPosition: note_position_ = value; break;
    case EventKind::kPitch: note_pitch_ = value; break;
    case EventKind::kDuration:
      previous_position_ = note_position_;
      previous_pitch_ = note_pitch_;
      break;
    default: break;
  }
  last_kind_ = kind;
  return absl::OkStatus();
}

absl::Status ValidateEventSequence(std::span<const int32_t> tokens, int32_t window_bars, bool require_complete) {
  if (window_bars < 1 || window_bars > kMaxWindowBars) {
    return absl::InvalidArgumentError(absl::StrCat("window_bars must be in [1, 16], got ", window_bars));
  }
  EventGrammar grammar(window_bars);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const absl::Status accepted = grammar.Accept(tokens[i]);
    if (!accepted.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("token ", i, ": ", accepted.message()));
    }
  }
  if (require_complete && !grammar.finished()) {
    return absl::InvalidArgumentError("event sequence does not end with EOS");
  }
  return absl::OkStatus();
}

bool IsValidEventSequence(std::span<const int32_t> tokens, int32_t window_bars) {
  return ValidateEventSequence(tokens, window_bars, /*require_complete=*/true).ok();
}

absl::StatusOr<TokenSequence> TokenizeEventBased(std::span<const Bar> window, EventPitchRule rule) {
  EXPSVC_RETURN_IF_ERROR(CheckTokenizableWindow(window));
  TokenSequence sequence;
  sequence.fields_per_token = 1;
  sequence.tokens.reserve(2 + window.size() + 4 * static_cast<size_t>(CountNotes(window)));
  AppendToken(sequence, kEventBos);
  for (size_t b = 0; b < window.size(); ++b) {
    if (window[b].notes.empty()) continue;
    // Loaded songs are already in canonical order; only other input is copied.
    Bar sorted_copy;
    const Bar* bar = &window[b];
    if (!IsInCanonicalOrder(*bar)) {
      sorted_copy = *bar;
      SortBarNotes(sorted_copy);
      bar = &sorted_copy;
    }
    AppendToken(sequence, EventTokenId(EventKind::kBar, static_cast<int32_t>(b)));
    for (const BarNote& note : bar->notes) {
      AppendToken(sequence, EventTokenId(EventKind::kPosition, note.position));
      AppendToken(sequence, EventTokenId(EventKind::kTrack, note.track));
      AppendToken(sequence, EventTokenId(EventKind::kPitch, note.pitch));
      AppendToken(sequence, EventTokenId(EventKind::kDuration, DurationToClass(note.duration)));
    }
  }
  AppendToken(sequence, kEventEos);
  TokenAttributes attributes = ComputeEventAttributes(sequence.tokens, static_cast<int32_t>(window.size()), rule);
  sequence.times = std::move(attributes.times);
  sequence.pitches = std::move(attributes.pitches);
  sequence.has_pitch = std::move(attributes.has_pitch);
  return sequence;
}

absl::StatusOr<EventPitchRule> ParseEventPitchRule(std::string_view name) {
  if (name == "causal") return EventPitchRule::kCausal;
  if (name == "previous_note") return EventPitchRule::kPreviousNote;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown event pitch rule '", std::string(name), "' (expected causal or previous_note)"));
}

const char* EventPitchRuleName(EventPitchRule rule) {
  switch (rule) {
    case EventPitchRule::kCausal: return "causal";
    case EventPitchRule::kPreviousNote: return "previous_note";
    case EventPitchRule::kWholeNote: return "whole_note";
  }
  return "?";
}

TokenAttributes ComputeEventAttributes(std::span<const int32_t> tokens, int32_t window_bars, EventPitchRule rule) {
  TokenAttributes attributes;
  attributes.times.assign(tokens.size(), 0);
  attributes.pitches.assign(tokens.size(), 0);
  attributes.has_pitch.assign(tokens.size(), 0);
  int32_t bar_start = 0;
  int32_t note_time = 0;
  int32_t note_pitch = 0;
  bool note_has_pitch = false;
  // The pitch of the last Pitch token so far (kPreviousNote).
  int32_t previous_pitch = 0;
  bool has_previous_pitch = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t token = tokens[i];
    if (!IsEventToken(token)) {
      attributes.times[i] = note_time;
      continue;
    }
    switch (EventKindOf(token)) {
      case EventKind::kBos:
        note_time = 0;
        note_has_pitch = false;
        has_previous_pitch = false;
        break;
      case EventKind::kEos:
        note_time = window_bars * kPositionsPerBar;
        note_has_pitch = false;
        break;
      case EventKind::kBar:
        bar_start = EventValueOf(token) * kPositionsPerBar;
        note_time = bar_start;
        note_has_pitch = false;
        break;
      case EventKind::kPosition:
        note_time = bar_start + EventValueOf(token);
        note_has_pitch = false;
        if (rule == EventPitchRule::kPreviousNote && has_previous_pitch) {
          note_pitch = previous_pitch;
          note_has_pitch = true;
        }
        if (rule == EventPitchRule::kWholeNote) {
          // Look ahead to this note's Pitch token (Position, Track, Pitch).
          if (i + 2 < tokens.size() && IsEventToken(tokens[i + 2]) && EventKindOf(tokens[i + 2]) == EventKind::kPitch) {
            note_pitch = EventValueOf(tokens[i + 2]);
            note_has_pitch = true;
          }
        }
        break;
      case EventKind::kPitch:
        note_pitch = EventValueOf(token);
        note_has_pitch = true;
        previous_pitch = note_pitch;
        has_previous_pitch = true;
        break;
      case EventKind::kTrack:
      case EventKind::kDuration: break;
    }
    attributes.times[i] = note_time;
    attributes.pitches[i] = note_has_pitch ? note_pitch : 0;
    attributes.has_pitch[i] = note_has_pitch ? 1 : 0;
  }
  return attributes;
}

absl::StatusOr<std::vector<Bar>> DetokenizeEventBased(std::span<const int32_t> tokens, int32_t window_bars) {
  EXPSVC_RETURN_IF_ERROR(ValidateEventSequence(tokens, window_bars, /*require_complete=*/false));
  std::vector<Bar> bars(static_cast<size_t>(window_bars));
  int32_t bar = 0;
  BarNote note;
  for (const int32_t token : tokens) {
    const int32_t value = EventValueOf(token);
    switch (EventKindOf(token)) {
      case EventKind::kBar: bar = value; break;
      case EventKind::kPosition: note.position = value; break;
      case EventKind::kTrack: note.track = value; break;
      case EventKind::kPitch: note.pitch = value; break;
      case EventKind::kDuration:
        note.duration = ClassToDuration(value);
        bars[static_cast<size_t>(bar)].notes.push_back(note);
        break;
      default: break;
    }
  }
  // The grammar leaves the track order of equal (onset, pitch) notes free.
  for (Bar& each : bars) SortBarNotes(each);
  return bars;
}

}  // namespace expsvc::music
