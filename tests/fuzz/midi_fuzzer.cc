// Fuzz target: the MIDI reader (POP909 files and any MIDI a user points a
// dataset at): an error naming the file, never a crash.

#include <cstdint>

#include "worker/music/data/midi_file.h"

// portSMF frees a static table with the wrong delete at process exit, after
// the last input: a bug of that library, not of an input, so ASan must not
// count it. (Unused in builds without ASan.)
extern "C" const char* __asan_default_options() { return "alloc_dealloc_mismatch=0"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto contents = expsvc::music::ParseMidiBytes(
      absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz.mid");
  (void)contents;
  return 0;
}
