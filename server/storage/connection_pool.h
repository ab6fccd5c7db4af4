#pragma once
// A fixed-size pool of libpqxx connections. Every connection prepares the
// store's named statements when it is opened, and a connection found broken
// is reopened on its next use, so a PostgreSQL restart costs the callers of
// that moment an UNAVAILABLE error and nothing more.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace expsvc::storage {

class ConnectionPool {
 public:
  // statements: name -> SQL, prepared on every connection.
  static absl::StatusOr<std::unique_ptr<ConnectionPool>> Create(std::string conninfo, int size,
                                                                std::map<std::string, std::string> statements);

  // Returns the connection to the pool when destroyed.
  class Handle {
   public:
    Handle(ConnectionPool* pool, int slot) : pool_(pool), slot_(slot) {}
    Handle(Handle&& other) noexcept : pool_(other.pool_), slot_(other.slot_) { other.pool_ = nullptr; }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle();
    pqxx::connection& connection();
    // Drops the connection so the next user opens a fresh one.
    void MarkBroken();

   private:
    ConnectionPool* pool_;
    int slot_;
  };

  // Waits for a free connection (up to 10 s) and opens it if needed.
  absl::StatusOr<Handle> Acquire() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& conninfo() const { return conninfo_; }

 private:
  ConnectionPool(std::string conninfo, int size, std::map<std::string, std::string> statements);
  absl::Status OpenSlot(int slot);
  void Release(int slot) ABSL_LOCKS_EXCLUDED(mu_);
  bool HasFreeSlot() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !free_slots_.empty(); }

  const std::string conninfo_;
  const std::map<std::string, std::string> statements_;
  // Not guarded: a slot taken from free_slots_ belongs to its one Handle (or
  // to Acquire, opening it) until released, so no two threads touch it.
  std::vector<std::unique_ptr<pqxx::connection>> connections_;
  absl::Mutex mu_;
  std::vector<int> free_slots_ ABSL_GUARDED_BY(mu_);
};

}  // namespace expsvc::storage
