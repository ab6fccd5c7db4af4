#pragma once
// Wakes this scheduler's long-polling lease requests when another replica
// (or anything else writing to the database) announces ready work on
// storage::kWorkReadyChannel. One thread and one dedicated connection that
// LISTENs; it reconnects by itself after the database goes away (meanwhile
// the long-polls fall back to claiming every lease_poll_interval_ms).

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace expsvc::scheduler {

class WorkListener {
 public:
  // `on_work_ready` runs on the listener's thread for every announcement.
  WorkListener(std::string conninfo, std::function<void()> on_work_ready);
  ~WorkListener();  // stops

  void Start();
  void Stop();
  // Announcements received so far (tests).
  int64_t received() const { return received_.load(); }
  // Whether the LISTEN is in place now (tests wait for it).
  bool listening() const { return listening_.load(); }

 private:
  void Run();

  const std::string conninfo_;
  const std::function<void()> on_work_ready_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> listening_{false};
  std::atomic<int64_t> received_{0};
  std::thread thread_;
};

}  // namespace expsvc::scheduler
