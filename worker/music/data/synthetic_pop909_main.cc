// expsvc-synthetic-pop909 DIR [SONGS] [BARS]: writes a small POP909-shaped
// corpus of random songs into DIR/POP909, for demos on machines without the
// real dataset. The music it holds is noise: loss numbers on it mean nothing.

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_format.h"
#include "worker/music/data/synthetic_songs.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [SONGS=24] [BARS=24]\n", argv[0]);
    return 2;
  }
  const std::string pop909 = std::string(argv[1]) + "/POP909";
  const int songs = argc > 2 ? std::atoi(argv[2]) : 24;
  const int bars = argc > 3 ? std::atoi(argv[3]) : 24;
  if (songs < 3 || bars < 1) {
    std::fprintf(stderr, "need at least 3 songs and 1 bar\n");
    return 2;
  }
  for (int song = 1; song <= songs; ++song) {
    const std::string name = absl::StrFormat("%03d", song);
    absl::Status status = expsvc::music::WriteSyntheticSong(
        pop909, name, expsvc::music::RandomBars(bars, static_cast<uint64_t>(song), 8, 24));
    if (!status.ok()) {
      std::fprintf(stderr, "writing song %s: %s\n", name.c_str(), status.ToString().c_str());
      return 1;
    }
  }
  std::printf("wrote %d synthetic songs of %d bars to %s\n", songs, bars, pop909.c_str());
  return 0;
}
