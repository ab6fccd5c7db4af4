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
  // A worker that died before creating its lock file, a while ago; and one
  // being created right now by another process (no lock file yet, fresh).
  const fs::path unlocked_old = root_ / "worker-124-old";
  const fs::path unlocked_new = root_ / "worker-125-new";
  fs::create_directories(unlocked_old);
  fs::create_directories(unlocked_new);
  fs::last_write_time(unlocked_old, fs::file_time_type::clock::now() - std::chrono::minutes(5));
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
  EXPECT_EQ((*second)->removed_stale(), 2);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_FALSE(fs::exists(unlocked_old));
  EXPECT_TRUE(fs::exists(unlocked_new));
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
