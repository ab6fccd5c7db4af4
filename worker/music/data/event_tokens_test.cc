#include "worker/music/data/event_tokens.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <span>
#include <vector>

#include "worker/music/data/duration_classes.h"
#include "worker/music/data/testing/music_test_data.h"

namespace expsvc::music {
namespace {

using Ids = std::vector<int32_t>;

int32_t Bar_(int32_t v) {
  return EventTokenId(EventKind::kBar, v);
}
int32_t Pos(int32_t v) {
  return EventTokenId(EventKind::kPosition, v);
}
int32_t Trk(int32_t v) {
  return EventTokenId(EventKind::kTrack, v);
}
int32_t Pit(int32_t v) {
  return EventTokenId(EventKind::kPitch, v);
}
int32_t Dur(int32_t v) {
  return EventTokenId(EventKind::kDuration, v);
}

void ExpectRoundTrip(std::span<const Bar> window) {
  const auto window_bars = static_cast<int32_t>(window.size());
  absl::StatusOr<TokenSequence> first = TokenizeEventBased(window);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(IsValidEventSequence(first->tokens, window_bars)) << ValidateEventSequence(first->tokens, window_bars);
  absl::StatusOr<std::vector<Bar>> bars = DetokenizeEventBased(first->tokens, window_bars);
  ASSERT_TRUE(bars.ok()) << bars.status();
  absl::StatusOr<TokenSequence> second = TokenizeEventBased(*bars);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(CountNotes(*bars), CountNotes(window));
  EXPECT_EQ(first->length(), first->tokens.size());
}

TEST(EventTokensTest, VocabularyLayout) {
  EXPECT_EQ(kEventVocabSize, 224);
  EXPECT_EQ(kEventBos, 0);
  EXPECT_EQ(kEventEos, 1);
  EXPECT_EQ(Bar_(0), 2);
  EXPECT_EQ(Bar_(15), 17);
  EXPECT_EQ(Pos(0), 18);
  EXPECT_EQ(Pos(47), 65);
  EXPECT_EQ(Trk(0), 66);
  EXPECT_EQ(Pit(0), 69);
  EXPECT_EQ(Pit(127), 196);
  EXPECT_EQ(Dur(0), 197);
  EXPECT_EQ(Dur(26), 223);
  for (int32_t id = 0; id < kEventVocabSize; ++id) {
    EXPECT_EQ(EventTokenId(EventKindOf(id), EventValueOf(id)), id);
  }
  EXPECT_FALSE(IsEventToken(-1));
  EXPECT_FALSE(IsEventToken(224));
}

TEST(EventTokensTest, LayoutAndCausalTimesAndPitches) {
  std::vector<Bar> bars(3);
  bars[0].notes = {{kMelodyTrack, 72, 0, 12}, {kPianoTrack, 48, 0, 24}};
  bars[2].notes = {{kBridgeTrack, 60, 6, 6}};
  absl::StatusOr<TokenSequence> sequence = TokenizeEventBased(bars);
  ASSERT_TRUE(sequence.ok());
  EXPECT_EQ(sequence->fields_per_token, 1);
  const int32_t d24 = DurationToClass(24);
  EXPECT_EQ(sequence->tokens,
            (std::vector<int32_t>{kEventBos, Bar_(0), Pos(0), Trk(2), Pit(48), Dur(d24), Pos(0), Trk(0), Pit(72),
                                  Dur(11), Bar_(2), Pos(6), Trk(1), Pit(60), Dur(5), kEventEos}));
  EXPECT_EQ(sequence->times, (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 96, 102, 102, 102, 102, 144}));
  EXPECT_EQ(sequence->has_pitch, (std::vector<uint8_t>{0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0}));
  EXPECT_EQ(sequence->pitches, (std::vector<int32_t>{0, 0, 0, 0, 48, 48, 0, 0, 72, 72, 0, 0, 0, 60, 60, 0}));

  absl::StatusOr<TokenSequence> whole = TokenizeEventBased(bars, EventPitchRule::kWholeNote);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->tokens, sequence->tokens);
  EXPECT_EQ(whole->times, sequence->times);
  EXPECT_EQ(whole->has_pitch, (std::vector<uint8_t>{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0}));
  EXPECT_EQ(whole->pitches, (std::vector<int32_t>{0, 0, 48, 48, 48, 48, 72, 72, 72, 72, 0, 60, 60, 60, 60, 0}));
}

// Whether every prefix's T/P equal the whole sequence's first tokens' under
// `rule`: a token's bias then depends only on itself and earlier tokens.
bool PrefixesAgree(const TokenSequence& sequence, EventPitchRule rule) {
  for (size_t length = 0; length <= sequence.length(); ++length) {
    const TokenAttributes prefix =
        ComputeEventAttributes(std::span<const int32_t>(sequence.tokens).first(length), 16, rule);
    for (size_t i = 0; i < length; ++i) {
      if (prefix.times[i] != sequence.times[i] || prefix.pitches[i] != sequence.pitches[i] ||
          prefix.has_pitch[i] != sequence.has_pitch[i]) {
        return false;
      }
    }
  }
  return true;
}

TEST(EventTokensTest, BothPitchRulesLeakNothing) {
  for (EventPitchRule rule : {EventPitchRule::kCausal, EventPitchRule::kPreviousNote}) {
    SCOPED_TRACE(EventPitchRuleName(rule));
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      absl::StatusOr<TokenSequence> sequence = TokenizeEventBased(testing::RandomBars(16, seed, 15, 96), rule);
      ASSERT_TRUE(sequence.ok());
      EXPECT_TRUE(PrefixesAgree(*sequence, rule)) << "seed " << seed;
    }
  }
  // The check can fail: the look-ahead rule reveals the next Pitch early.
  absl::StatusOr<TokenSequence> leaky =
      TokenizeEventBased(testing::RandomBars(16, 1, 15, 96), EventPitchRule::kWholeNote);
  ASSERT_TRUE(leaky.ok());
  EXPECT_FALSE(PrefixesAgree(*leaky, EventPitchRule::kWholeNote));
}

TEST(EventTokensTest, PreviousNoteRuleGivesPositionAndTrackThePitchBefore) {
  std::vector<Bar> bars(3);
  bars[0].notes = {{kMelodyTrack, 72, 0, 12}, {kPianoTrack, 48, 0, 24}};
  bars[2].notes = {{kBridgeTrack, 60, 6, 6}};
  absl::StatusOr<TokenSequence> sequence = TokenizeEventBased(bars, EventPitchRule::kPreviousNote);
  ASSERT_TRUE(sequence.ok());
  // BOS Bar0 [Pos Trk Pit48 Dur] [Pos Trk Pit72 Dur] Bar2 [Pos Trk Pit60 Dur] EOS: the first note has no
  // note before it; the second's Position/Track carry 48, the third's 72; Bar and EOS carry none.
  EXPECT_EQ(sequence->has_pitch, (std::vector<uint8_t>{0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0}));
  EXPECT_EQ(sequence->pitches, (std::vector<int32_t>{0, 0, 0, 0, 48, 48, 48, 48, 72, 72, 0, 72, 72, 60, 60, 0}));
  EXPECT_EQ(ParseEventPitchRule("previous_note").value(), EventPitchRule::kPreviousNote);
  EXPECT_EQ(ParseEventPitchRule("causal").value(), EventPitchRule::kCausal);
  EXPECT_FALSE(ParseEventPitchRule("whole_note").ok()) << "the leaking rule is not a job parameter";
}

TEST(EventTokensTest, SyntheticWindowsRoundTrip) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    SCOPED_TRACE(seed);
    ExpectRoundTrip(testing::RandomBars(16, seed, 20, 120));
  }
  std::vector<Bar> empty(16);
  ExpectRoundTrip(empty);  // BOS EOS
}

TEST(EventTokensTest, RealSongsRoundTrip) {
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

TEST(EventTokensTest, KindGrammar) {
  using K = EventKind;
  EXPECT_EQ(AllowedNextEventKinds(std::nullopt), (std::vector<K>{K::kBos}));
  EXPECT_EQ(AllowedNextEventKinds(K::kBos), (std::vector<K>{K::kBar, K::kEos}));
  EXPECT_EQ(AllowedNextEventKinds(K::kBar), (std::vector<K>{K::kPosition}));
  EXPECT_EQ(AllowedNextEventKinds(K::kPosition), (std::vector<K>{K::kTrack}));
  EXPECT_EQ(AllowedNextEventKinds(K::kTrack), (std::vector<K>{K::kPitch}));
  EXPECT_EQ(AllowedNextEventKinds(K::kPitch), (std::vector<K>{K::kDuration}));
  EXPECT_EQ(AllowedNextEventKinds(K::kDuration), (std::vector<K>{K::kPosition, K::kBar, K::kEos}));
  EXPECT_TRUE(AllowedNextEventKinds(K::kEos).empty());
}

TEST(EventTokensTest, GrammarRejectsBrokenSequences) {
  const std::vector<int32_t> note_a = {Pos(5), Trk(0), Pit(60), Dur(3)};
  const auto seq = [](std::initializer_list<std::vector<int32_t>> parts) {
    std::vector<int32_t> out;
    for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
    return out;
  };
  EXPECT_TRUE(IsValidEventSequence(
      seq({{kEventBos, Bar_(0)}, note_a, {Pos(5), Trk(1), Pit(64), Dur(0)}, {Bar_(3)}, note_a, {kEventEos}}), 4));
  EXPECT_TRUE(IsValidEventSequence(Ids{kEventBos, kEventEos}, 4));
  EXPECT_FALSE(IsValidEventSequence(seq({{Bar_(0)}, note_a, {kEventEos}}), 4));    // no BOS
  EXPECT_FALSE(IsValidEventSequence(seq({{kEventBos}, note_a, {kEventEos}}), 4));  // note before a Bar
  EXPECT_FALSE(IsValidEventSequence(seq({{kEventBos, Bar_(0)}, note_a}), 4));      // no EOS
  EXPECT_TRUE(ValidateEventSequence(seq({{kEventBos, Bar_(0)}, note_a}), 4, false).ok());
  EXPECT_FALSE(IsValidEventSequence(Ids{kEventBos, Bar_(0), Pos(5), Pit(60), Trk(0), Dur(3), kEventEos}, 4));
  EXPECT_FALSE(IsValidEventSequence(seq({{kEventBos, Bar_(2)}, note_a, {Bar_(2)}, note_a, {kEventEos}}), 4));
  EXPECT_FALSE(IsValidEventSequence(seq({{kEventBos, Bar_(2)}, note_a, {Bar_(1)}, note_a, {kEventEos}}), 4));
  EXPECT_FALSE(IsValidEventSequence(seq({{kEventBos, Bar_(4)}, note_a, {kEventEos}}), 4));  // bar >= window
  EXPECT_FALSE(IsValidEventSequence(seq({{kEventBos, Bar_(0)}, note_a, {Pos(4), Trk(0), Pit(70), Dur(3)}, {kEventEos}}),
                                    4));  // position goes back
  EXPECT_FALSE(IsValidEventSequence(seq({{kEventBos, Bar_(0)}, note_a, {Pos(5), Trk(0), Pit(59), Dur(3)}, {kEventEos}}),
                                    4));  // pitch goes down at one onset
  EXPECT_TRUE(IsValidEventSequence(seq({{kEventBos, Bar_(0)}, note_a, {Pos(6), Trk(0), Pit(59), Dur(3)}, {kEventEos}}),
                                   4));  // lower pitch later is fine
  EXPECT_FALSE(IsValidEventSequence(Ids{kEventBos, kEventEos, kEventEos}, 4));
  EXPECT_FALSE(IsValidEventSequence(Ids{kEventBos, 224, kEventEos}, 4));
  EXPECT_FALSE(IsValidEventSequence(Ids{kEventBos, kEventEos}, 17));
}

TEST(EventTokensTest, MaskAgreesWithAccept) {
  absl::StatusOr<TokenSequence> sequence = TokenizeEventBased(testing::RandomBars(16, 8, 15, 96));
  ASSERT_TRUE(sequence.ok());
  EventGrammar grammar(16);
  for (size_t i = 0; i < sequence->tokens.size(); ++i) {
    const std::vector<uint8_t> mask = grammar.AllowedNext();
    ASSERT_EQ(mask.size(), 224u);
    for (int32_t id = 0; id < kEventVocabSize; ++id) {
      EventGrammar copy = grammar;
      ASSERT_EQ(copy.Accept(id).ok(), mask[static_cast<size_t>(id)] == 1) << "token " << i << " id " << id;
    }
    ASSERT_TRUE(mask[static_cast<size_t>(sequence->tokens[i])]);
    ASSERT_TRUE(grammar.Accept(sequence->tokens[i]).ok());
    EXPECT_EQ(grammar.inside_note(), EventKindOf(sequence->tokens[i]) == EventKind::kPosition ||
                                         EventKindOf(sequence->tokens[i]) == EventKind::kTrack ||
                                         EventKindOf(sequence->tokens[i]) == EventKind::kPitch);
  }
  EXPECT_TRUE(grammar.finished());
  const std::vector<uint8_t> after = grammar.AllowedNext();
  EXPECT_EQ(std::count(after.begin(), after.end(), 1), 0);
}

TEST(EventTokensTest, EarlyStopDropsTheUnfinishedNote) {
  absl::StatusOr<std::vector<Bar>> bars =
      DetokenizeEventBased(Ids{kEventBos, Bar_(1), Pos(12), Trk(2), Pit(50), Dur(11), Pos(24), Trk(0)}, 2);
  ASSERT_TRUE(bars.ok()) << bars.status();
  EXPECT_TRUE((*bars)[0].notes.empty());
  EXPECT_EQ((*bars)[1].notes, (std::vector<BarNote>{{kPianoTrack, 50, 12, 12}}));
}

}  // namespace
}  // namespace expsvc::music
