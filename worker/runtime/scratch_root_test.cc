#include "worker/runtime/scratch_root.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace expsvc::worker {
namespace {

namespace fs = std::filesystem;

class ScratchRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / absl::StrCat("scratch-root-test-", ::getpid());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(ScratchRootTest, RemovesOnlyTheFoldersOfWorkersThatAreGone) {
  auto live = ScratchRoot::Open(root_.string());
  ASSERT_TRUE(live.ok()) << live.status();
  std::ofstream(fs::path((*live)->path()) / "job-file") << "in use";

  // A worker that was SIGKILLed: its lock file is there, nobody holds it.
  const fs::path dead = root_ / "worker-123-dead";
  fs::create_directories(dead / "job-7-attempt-1-epoch-1");
  std::ofstream(dead / ".lock") << "";
  // A worker-* folder without a lock file is not a worker's (workers lock
  // theirs before naming it): left alone, however old.
  const fs::path not_ours = root_ / "worker-124-not-ours";
  fs::create_directories(not_ours);
  fs::last_write_time(not_ours, fs::file_time_type::clock::now() - std::chrono::hours(5));
  // A worker alive in another process: it holds its lock (through another
  // open file description, as another process would).
  const fs::path other = root_ / "worker-126-alive";
  fs::create_directories(other);
  const int fd = ::open((other / ".lock").c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  // Something else entirely is never touched.
  fs::create_directories(root_ / "notes");

  auto second = ScratchRoot::Open(root_.string());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)->removed_stale(), 1);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(not_ours));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_TRUE(fs::exists(root_ / "notes"));
  EXPECT_TRUE(fs::exists(fs::path((*live)->path()) / "job-file")) << "a live worker's folder was removed";
  ::close(fd);

  // A worker's folder goes with it.
  const std::string path = (*second)->path();
  second->reset();
  EXPECT_FALSE(fs::exists(path));
}

}  // namespace
}  // namespace expsvc::worker
