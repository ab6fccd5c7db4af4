#include "server/scheduler/work_listener.h"

#include <chrono>
#include <cstdio>

#include <pqxx/pqxx>

#include "server/storage/postgres_store.h"

namespace expsvc::scheduler {
namespace {

class Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& connection, std::function<void()> on_notification)
      : pqxx::notification_receiver(connection, storage::kWorkReadyChannel),
        on_notification_(std::move(on_notification)) {}
  void operator()(const std::string& /*payload*/, int /*backend_pid*/) override { on_notification_(); }

 private:
  std::function<void()> on_notification_;
};

// An unreachable database host must not hold Stop() for the OS's TCP
// timeout: key=value connection strings get a connect timeout unless they
// set one (a URI is left alone).
std::string WithConnectTimeout(const std::string& conninfo) {
  if (conninfo.find("://") != std::string::npos || conninfo.find("connect_timeout") != std::string::npos) {
    return conninfo;
  }
  return conninfo + " connect_timeout=5";
}

}  // namespace

WorkListener::WorkListener(std::string conninfo, std::function<void()> on_work_ready)
    : conninfo_(WithConnectTimeout(conninfo)), on_work_ready_(std::move(on_work_ready)) {}

WorkListener::~WorkListener() {
  Stop();
}

void WorkListener::Start() {
  stopping_ = false;
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
}

void WorkListener::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void WorkListener::Run() {
  // Backoff between reconnects, so an outage is not a busy loop.
  auto retry_in = std::chrono::milliseconds(100);
  bool reported = false;
  while (!stopping_) {
    try {
      pqxx::connection connection(conninfo_);
      // A broken connection is replaced by this loop; libpqxx must not
      // reconnect behind it (it would, silently, in UNLISTEN on the way out).
      connection.inhibit_reactivation(true);
      Receiver receiver(connection, [this] {
        ++received_;
        on_work_ready_();
      });
      // Whatever was announced while not listening: look once.
      on_work_ready_();
      listening_ = true;
      if (reported) std::fprintf(stderr, "expsvc-scheduler: listening for ready work again\n");
      reported = false;
      retry_in = std::chrono::milliseconds(100);
      // Short waits, so Stop is seen soon.
      while (!stopping_) connection.await_notification(0, 200 * 1000);
    } catch (const std::exception& error) {
      listening_ = false;
      if (!reported) {
        std::fprintf(stderr, "expsvc-scheduler: not listening for ready work (%s); idle workers poll meanwhile\n",
                     error.what());
        reported = true;
      }
      for (auto slept = std::chrono::milliseconds(0); slept < retry_in && !stopping_;
           slept += std::chrono::milliseconds(50)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      retry_in = std::min(retry_in * 2, std::chrono::milliseconds(5000));
    }
  }
  listening_ = false;
}

}  // namespace expsvc::scheduler
