// Fuzz target: the MIDI reader (POP909 files and any MIDI a user points a
// dataset at): an error naming the file, never a crash.

#include <cstdint>

#include "worker/music/data/midi_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto contents = expsvc::music::ParseMidiBytes(
      absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz.mid");
  (void)contents;
  return 0;
}
