#include "worker/music/data/token_sequence.h"

#include "absl/strings/str_cat.h"

namespace expsvc::music {

const char* RepresentationName(Representation representation) {
  switch (representation) {
    case Representation::kNoteBased: return "note";
    case Representation::kEventBased: return "event";
  }
  return "unknown";
}

absl::StatusOr<Representation> ParseRepresentation(absl::string_view name) {
  if (name == "note" || name == "note_based" || name == "note-based") return Representation::kNoteBased;
  if (name == "event" || name == "event_based" || name == "event-based") return Representation::kEventBased;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown representation '", std::string(name), "' (want note or event)"));
}

absl::Status CheckTokenizableWindow(std::span<const Bar> window) {
  if (window.empty() || window.size() > static_cast<size_t>(kMaxWindowBars)) {
    return absl::InvalidArgumentError(
        absl::StrCat("window of ", window.size(), " bars; want 1 to 16 (the Bar vocabulary)"));
  }
  for (size_t b = 0; b < window.size(); ++b) {
    for (const BarNote& note : window[b].notes) {
      if (note.track < 0 || note.track >= kNumTracks || note.pitch < 0 || note.pitch >= kNumPitches ||
          note.position < 0 || note.position >= kPositionsPerBar || note.duration < 1) {
        return absl::InvalidArgumentError(absl::StrCat("note out of range in bar ", b, ": track ", note.track,
                                                       " pitch ", note.pitch, " position ", note.position, " duration ",
                                                       note.duration));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace expsvc::music
