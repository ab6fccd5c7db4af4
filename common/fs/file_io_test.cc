#include "common/fs/file_io.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/fs/testing/temp_dir.h"

namespace expsvc::fs {
namespace {

int FilesIn(const std::filesystem::path& folder) {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(folder)) ++count;
  return count;
}

TEST(FileIoTest, WritesAtomicallyAndReadsBack) {
  TempDir dir("file_io");
  const std::string path = dir.file("a.bin");
  ASSERT_TRUE(WriteFileAtomically(path, std::string("one\0two", 7)).ok());
  EXPECT_EQ(*ReadFile(path), std::string("one\0two", 7));
  ASSERT_TRUE(WriteFileAtomically(path, "replaced").ok());
  EXPECT_EQ(*ReadFile(path), "replaced");
  EXPECT_EQ(FilesIn(dir.path()), 1) << "no temporary file is left behind";
}

TEST(FileIoTest, ErrorsNameTheFileAndTheCause) {
  TempDir dir("file_io_errors");
  const absl::StatusOr<std::string> missing = ReadFile(dir.file("absent.txt"));
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_NE(missing.status().message().find("absent.txt"), std::string::npos);
  EXPECT_FALSE(ReadFile(dir.path()).ok()) << "a folder is not a file";
  const absl::Status no_folder = WriteFileAtomically(dir.path() / "no" / "such" / "file", "x");
  EXPECT_TRUE(absl::IsNotFound(no_folder)) << no_folder;
}

TEST(FileIoTest, AbandonedWriterLeavesTheOldFile) {
  TempDir dir("file_io_abandon");
  const std::string path = dir.file("kept.txt");
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  {
    absl::StatusOr<AtomicFileWriter> writer = AtomicFileWriter::Create(path);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->Write("new, never committed").ok());
  }
  EXPECT_EQ(*ReadFile(path), "old");
  EXPECT_EQ(FilesIn(dir.path()), 1);
}

TEST(FileIoTest, StreamedWritesCommitWhole) {
  TempDir dir("file_io_stream");
  absl::StatusOr<AtomicFileWriter> writer = AtomicFileWriter::Create(dir.file("s.txt"));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->Write("ab").ok());
  ASSERT_TRUE(writer->Write("cd").ok());
  ASSERT_TRUE(writer->Commit().ok());
  EXPECT_EQ(*ReadFile(dir.file("s.txt")), "abcd");
  EXPECT_FALSE(writer->Commit().ok()) << "a spent writer refuses";
}

}  // namespace
}  // namespace expsvc::fs
