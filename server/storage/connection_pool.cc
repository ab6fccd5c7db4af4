#include "server/storage/connection_pool.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace expsvc::storage {

ConnectionPool::ConnectionPool(std::string conninfo, int size, std::map<std::string, std::string> statements)
    : conninfo_(std::move(conninfo)), statements_(std::move(statements)), connections_(size) {
  for (int slot = size - 1; slot >= 0; --slot) free_slots_.push_back(slot);
}

absl::StatusOr<std::unique_ptr<ConnectionPool>> ConnectionPool::Create(std::string conninfo, int size,
                                                                       std::map<std::string, std::string> statements) {
  if (size < 1) return absl::InvalidArgumentError("connection pool size must be at least 1");
  std::unique_ptr<ConnectionPool> pool(new ConnectionPool(std::move(conninfo), size, std::move(statements)));
  // Open one connection now so a wrong address fails at startup, not later.
  if (absl::Status status = pool->OpenSlot(0); !status.ok()) return status;
  return pool;
}

absl::Status ConnectionPool::OpenSlot(int slot) {
  try {
    auto connection = std::make_unique<pqxx::connection>(conninfo_);
    for (const auto& [name, sql] : statements_) connection->prepare(name, sql);
    connections_[slot] = std::move(connection);
    return absl::OkStatus();
  } catch (const pqxx::broken_connection& error) {
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL: ", error.what()));
  } catch (const std::exception& error) {
    return absl::InternalError(absl::StrCat("opening a PostgreSQL connection: ", error.what()));
  }
}

absl::StatusOr<ConnectionPool::Handle> ConnectionPool::Acquire() {
  int slot;
  {
    absl::MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(absl::Condition(this, &ConnectionPool::HasFreeSlot), absl::Seconds(10))) {
      return absl::ResourceExhaustedError("no free database connection within 10 s");
    }
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  // Opening happens outside the lock: it can take a while.
  if (connections_[slot] == nullptr || !connections_[slot]->is_open()) {
    if (absl::Status status = OpenSlot(slot); !status.ok()) {
      Release(slot);
      return status;
    }
  }
  return Handle(this, slot);
}

void ConnectionPool::Release(int slot) {
  // Unlocking wakes a waiting Acquire.
  absl::MutexLock lock(&mu_);
  free_slots_.push_back(slot);
}

ConnectionPool::Handle::~Handle() {
  if (pool_ != nullptr) pool_->Release(slot_);
}

pqxx::connection& ConnectionPool::Handle::connection() {
  return *pool_->connections_[slot_];
}

void ConnectionPool::Handle::MarkBroken() {
  pool_->connections_[slot_].reset();
}

}  // namespace expsvc::storage
