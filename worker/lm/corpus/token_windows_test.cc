#include "worker/lm/corpus/token_windows.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <numeric>

namespace expsvc::lm {
namespace {

using ::testing::ElementsAre;

constexpr TokenId kBos = 1;

TEST(TokenWindowsTest, EachWindowIsBosThenNTokensAndTheTailIsDropped) {
  std::vector<TokenId> document(10);
  std::iota(document.begin(), document.end(), 100);
  std::vector<TokenId> windows;
  EXPECT_EQ(AppendWindows(document, kBos, 4, &windows), 2);
  EXPECT_THAT(windows, ElementsAre(1, 100, 101, 102, 103, 1, 104, 105, 106, 107));
}

TEST(TokenWindowsTest, ExactMultiplesKeepEveryToken) {
  std::vector<TokenId> document(128, 7);
  std::vector<TokenId> windows = {42};  // appends after what is there
  EXPECT_EQ(AppendWindows(document, kBos, 64, &windows), 2);
  ASSERT_EQ(windows.size(), 1u + 2 * 65);
  EXPECT_EQ(windows[1], kBos);
  EXPECT_EQ(windows[66], kBos);
}

TEST(TokenWindowsTest, ShortDocumentsGiveNoWindow) {
  std::vector<TokenId> windows;
  EXPECT_EQ(AppendWindows(std::vector<TokenId>(63, 5), kBos, 64, &windows), 0);
  EXPECT_EQ(AppendWindows({}, kBos, 64, &windows), 0);
  EXPECT_TRUE(windows.empty());
}

}  // namespace
}  // namespace expsvc::lm
