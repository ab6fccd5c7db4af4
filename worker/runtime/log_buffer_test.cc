#include "worker/runtime/log_buffer.h"

#include "gtest/gtest.h"

namespace expsvc::worker {
namespace {

TEST(LogBufferTest, TakesOldestLinesFirstUpToTheLineLimit) {
  LogBuffer buffer;
  for (int i = 0; i < 5; ++i) buffer.Add("line " + std::to_string(i));
  auto first = buffer.Take(3, 1 << 20);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0], "line 0");
  EXPECT_EQ(first[2], "line 2");
  EXPECT_EQ(buffer.Take(3, 1 << 20).size(), 2u);
  EXPECT_TRUE(buffer.empty());
}

TEST(LogBufferTest, StopsAtTheByteLimitButAlwaysTakesOneLine) {
  LogBuffer buffer;
  buffer.Add(std::string(100, 'a'));
  buffer.Add(std::string(100, 'b'));
  EXPECT_EQ(buffer.Take(10, 150).size(), 1u);
  EXPECT_EQ(buffer.Take(10, 50).size(), 1u);  // larger than the limit on its own
}

TEST(LogBufferTest, CutsOverlongLines) {
  LogBuffer buffer;
  buffer.Add(std::string(LogBuffer::kMaxLineBytes * 2, 'x'));
  auto lines = buffer.Take(1, 1 << 30);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LT(lines[0].size(), LogBuffer::kMaxLineBytes + 100);
}

}  // namespace
}  // namespace expsvc::worker
