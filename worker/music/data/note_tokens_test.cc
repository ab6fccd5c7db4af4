#include "worker/music/data/note_tokens.h"

#include <gtest/gtest.h>

#include <span>
#include <vector>

#include "worker/music/data/duration_classes.h"
#include "worker/music/data/testing/music_test_data.h"

namespace expsvc::music {
namespace {

using Token = std::array<int32_t, kNoteFieldCount>;

std::vector<int32_t> Flatten(const std::vector<Token>& tokens) {
  std::vector<int32_t> flat;
  for (const Token& token : tokens) flat.insert(flat.end(), token.begin(), token.end());
  return flat;
}

// tokenize -> detokenize -> tokenize gives the same sequence, and the
// detokenized bars hold the notes with class-quantised durations.
void ExpectRoundTrip(std::span<const Bar> window) {
  absl::StatusOr<TokenSequence> first = TokenizeNoteBased(window);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(IsValidNoteSequence(first->tokens, static_cast<int32_t>(window.size())));
  absl::StatusOr<std::vector<Bar>> bars = DetokenizeNoteBased(first->tokens, static_cast<int32_t>(window.size()));
  ASSERT_TRUE(bars.ok()) << bars.status();
  absl::StatusOr<TokenSequence> second = TokenizeNoteBased(*bars);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, *first);
  ASSERT_EQ(bars->size(), window.size());
  for (size_t b = 0; b < window.size(); ++b) {
    ASSERT_EQ((*bars)[b].notes.size(), window[b].notes.size()) << "bar " << b;
    for (size_t n = 0; n < window[b].notes.size(); ++n) {
      const BarNote& original = window[b].notes[n];
      const BarNote& decoded = (*bars)[b].notes[n];
      EXPECT_EQ(decoded.pitch, original.pitch);
      EXPECT_EQ(decoded.position, original.position);
      EXPECT_EQ(decoded.track, original.track);
      EXPECT_EQ(decoded.duration, ClassToDuration(DurationToClass(original.duration)));
    }
  }
}

TEST(NoteTokensTest, LayoutOfASmallWindow) {
  std::vector<Bar> bars(2);
  bars[0].notes = {{kPianoTrack, 48, 0, 24}, {kMelodyTrack, 72, 0, 12}};
  bars[1].notes = {{kBridgeTrack, 60, 6, 200}};
  absl::StatusOr<TokenSequence> sequence = TokenizeNoteBased(bars);
  ASSERT_TRUE(sequence.ok());
  EXPECT_EQ(sequence->fields_per_token, 6);
  EXPECT_EQ(sequence->tokens, Flatten({{0, 0, 0, 0, 0, 0},
                                       {1, 0, 0, 2, 48, DurationToClass(24)},
                                       {1, 0, 0, 0, 72, 11},
                                       {1, 1, 6, 1, 60, 26},
                                       {2, 0, 0, 0, 0, 0}}));
  EXPECT_EQ(sequence->times, (std::vector<int32_t>{0, 0, 0, 54, 96}));
  EXPECT_EQ(sequence->pitches, (std::vector<int32_t>{0, 48, 72, 60, 0}));
  EXPECT_EQ(sequence->has_pitch, (std::vector<uint8_t>{0, 1, 1, 1, 0}));
}

TEST(NoteTokensTest, SyntheticWindowsRoundTrip) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    const std::vector<Bar> bars = testing::RandomBars(16, seed, 20, 120);
    SCOPED_TRACE(seed);
    ExpectRoundTrip(bars);
  }
}

TEST(NoteTokensTest, RealSongsRoundTrip) {
  const std::vector<Song> songs = testing::LoadFirstRealPop909Songs(20);
  if (songs.empty()) GTEST_SKIP() << testing::kNoPop909Message;
  size_t windows = 0;
  for (const Song& song : songs) {
    for (size_t first = 0; first + 16 <= song.bars.size(); ++first) {
      SCOPED_TRACE(::testing::Message() << song.name << " bar " << first);
      ExpectRoundTrip(std::span<const Bar>(song.bars).subspan(first, 16));
      ++windows;
    }
  }
  EXPECT_GT(windows, 1000u);
}

TEST(NoteTokensTest, GrammarRejectsBrokenSequences) {
  const Token bos = {0, 0, 0, 0, 0, 0}, eos = {2, 0, 0, 0, 0, 0};
  const Token a = {1, 0, 5, 0, 60, 3}, b = {1, 0, 5, 2, 64, 3}, c = {1, 1, 0, 0, 40, 3};
  EXPECT_TRUE(IsValidNoteSequence(Flatten({bos, a, b, c, eos}), 2));
  EXPECT_TRUE(IsValidNoteSequence(Flatten({bos, eos}), 2));
  EXPECT_FALSE(IsValidNoteSequence(Flatten({a, eos}), 2));                            // no BOS
  EXPECT_FALSE(IsValidNoteSequence(Flatten({bos, a, b}), 2));                         // no EOS
  EXPECT_TRUE(ValidateNoteSequence(Flatten({bos, a, b}), 2, false).ok());             // prefix is fine
  EXPECT_FALSE(IsValidNoteSequence(Flatten({bos, eos, a}), 2));                       // after EOS
  EXPECT_FALSE(IsValidNoteSequence(Flatten({bos, c, a, eos}), 2));                    // bar goes back
  EXPECT_FALSE(IsValidNoteSequence(Flatten({bos, b, a, eos}), 2));                    // pitch goes down at one onset
  EXPECT_FALSE(IsValidNoteSequence(Flatten({bos, {1, 0, 9, 0, 60, 3}, a, eos}), 2));  // position back
  EXPECT_FALSE(IsValidNoteSequence(Flatten({bos, c, eos}), 1));                       // bar >= window
  EXPECT_FALSE(IsValidNoteSequence(Flatten({bos, {1, 0, 48, 0, 60, 3}, eos}), 2));    // position range
  EXPECT_FALSE(IsValidNoteSequence(Flatten({bos, {1, 0, 0, 3, 60, 3}, eos}), 2));     // track range
  EXPECT_FALSE(IsValidNoteSequence(Flatten({bos, {1, 0, 0, 0, 60, 27}, eos}), 2));    // duration range
  EXPECT_FALSE(IsValidNoteSequence(Flatten({{0, 1, 0, 0, 0, 0}, eos}), 2));           // BOS with a bar
  std::vector<int32_t> ragged = Flatten({bos, eos});
  ragged.pop_back();
  EXPECT_FALSE(IsValidNoteSequence(ragged, 2));
  EXPECT_FALSE(DetokenizeNoteBased(Flatten({bos, c, a, eos}), 2).ok());
}

TEST(NoteTokensTest, FieldMasksAgreeWithTheGrammar) {
  const std::vector<Bar> bars = testing::RandomBars(8, 99, 10, 60);
  absl::StatusOr<TokenSequence> sequence = TokenizeNoteBased(bars);
  ASSERT_TRUE(sequence.ok());
  NoteGrammar grammar(8);
  for (size_t i = 0; i < sequence->length(); ++i) {
    const std::span<const int32_t> token = std::span<const int32_t>(sequence->tokens).subspan(i * 6, 6);
    for (int32_t field = 0; field < kNoteFieldCount; ++field) {
      const std::vector<uint8_t> mask = grammar.AllowedValues(field, token.first(static_cast<size_t>(field)));
      ASSERT_EQ(mask.size(), static_cast<size_t>(kNoteFieldVocabSizes[static_cast<size_t>(field)]));
      EXPECT_TRUE(mask[static_cast<size_t>(token[static_cast<size_t>(field)])]) << "token " << i << " field " << field;
    }
    ASSERT_TRUE(grammar.Accept(token).ok());
  }
  EXPECT_TRUE(grammar.finished());
  // After EOS nothing is allowed.
  const std::vector<uint8_t> after = grammar.AllowedValues(kNoteTypeField, {});
  EXPECT_EQ(std::count(after.begin(), after.end(), 1), 0);
}

TEST(NoteTokensTest, EarlyStopDetokenizes) {
  const std::vector<int32_t> tokens = Flatten({{0, 0, 0, 0, 0, 0}, {1, 3, 12, 0, 60, 11}});
  absl::StatusOr<std::vector<Bar>> bars = DetokenizeNoteBased(tokens, 4);
  ASSERT_TRUE(bars.ok());
  ASSERT_EQ(bars->size(), 4u);
  EXPECT_EQ((*bars)[3].notes, (std::vector<BarNote>{{0, 60, 12, 12}}));
}

TEST(NoteTokensTest, RejectsWindowsOutsideTheVocabulary) {
  std::vector<Bar> too_long(17);
  EXPECT_FALSE(TokenizeNoteBased(too_long).ok());
  std::vector<Bar> bad(1);
  bad[0].notes = {{3, 60, 0, 1}};
  EXPECT_FALSE(TokenizeNoteBased(bad).ok());
}

}  // namespace
}  // namespace expsvc::music
