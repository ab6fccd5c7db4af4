#pragma once
// Internal to storage/: how every PostgresStore method reaches the database,
// and the helpers several tables' files share. The methods themselves live in
// one file per table (tokens_table.cc, workers_table.cc, sweeps_table.cc,
// jobs_table.cc, leases_table.cc, metrics_logs_table.cc, artifacts_table.cc).
//
// Run is the one place libpqxx exceptions are caught: a pooled connection, one
// transaction committed when the body returns OK, serialisation failures and
// deadlocks retried, everything else mapped to a Status.

#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "expsvc/v1/workers.pb.h"
#include "server/storage/postgres_store.h"

namespace expsvc::storage {

// Announces on kWorkReadyChannel; delivered when `txn` commits.
inline void AnnounceWorkReady(pqxx::transaction_base& txn) {
  txn.exec_params("SELECT pg_notify($1, '')", std::string(kWorkReadyChannel));
}

// SQLSTATE classes that mean "the database is going away or busy".
inline bool IsTransientSqlState(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57", 0) == 0 || sqlstate.rfind("53", 0) == 0;
}

template <typename Txn, typename Body>
auto PostgresStore::Run(const char* what, Body&& body) -> decltype(body(std::declval<Txn&>())) {
  constexpr int kAttempts = 4;
  for (int attempt = 1;; ++attempt) {
    auto handle = pool_->Acquire();
    if (!handle.ok()) return handle.status();
    try {
      Txn txn(handle->connection());
      auto result = body(txn);
      if (result.ok()) {
        txn.commit();
        if (after_commit_for_testing_) after_commit_for_testing_(what);
      }
      return result;
    } catch (const pqxx::in_doubt_error& error) {
      // The connection broke while COMMIT was in flight: the writes may or may
      // not be stored. Callers resolve this by reading back (or by repeating
      // an idempotent write), never by undoing what may have landed.
      handle->MarkBroken();
      return CommitOutcomeUnknownError(absl::StrCat(what, ": ", error.what()));
    } catch (const pqxx::transaction_rollback& error) {
      // Serialisation failure or deadlock: the whole transaction is safe to
      // redo. When it keeps happening, say UNAVAILABLE so callers retry later.
      if (attempt == kAttempts) return absl::UnavailableError(absl::StrCat(what, ": ", error.what()));
      std::this_thread::sleep_for(std::chrono::milliseconds(5 * attempt));
    } catch (const pqxx::broken_connection& error) {
      handle->MarkBroken();
      // Outside a transaction the statement commits on its own: lost mid-way,
      // it may have. Inside one, nothing was committed.
      if constexpr (std::is_same_v<Txn, pqxx::nontransaction>) {
        return CommitOutcomeUnknownError(absl::StrCat(what, ": database connection lost: ", error.what()));
      }
      return absl::UnavailableError(absl::StrCat(what, ": database connection lost: ", error.what()));
    } catch (const pqxx::unique_violation& error) {
      return absl::AlreadyExistsError(absl::StrCat(what, ": ", error.what()));
    } catch (const pqxx::sql_error& error) {
      if (!handle->connection().is_open()) handle->MarkBroken();
      // A server shutting down or restarting (57P01 admin_shutdown, 57P03
      // cannot_connect_now, class 08 connection errors, 53 out of resources)
      // is an outage to wait out, not a bug in the request.
      if (IsTransientSqlState(error.sqlstate())) {
        return absl::UnavailableError(absl::StrCat(what, ": database unavailable: ", error.what()));
      }
      return absl::InternalError(absl::StrCat(what, ": ", error.what()));
    } catch (const std::exception& error) {
      if (!handle->connection().is_open()) handle->MarkBroken();
      return absl::InternalError(absl::StrCat(what, ": ", error.what()));
    }
  }
}

// Names of the statements prepared on every pooled connection (the hot
// paths). Each one's SQL lives next to the code that runs it; Open gathers
// them from the functions below.
inline constexpr char kClaimStatement[] = "claim_jobs";
inline constexpr char kRenewStatement[] = "renew_leases";
inline constexpr char kCompleteStatement[] = "complete_jobs";
inline constexpr char kCheckLeaseStatement[] = "check_lease";
inline constexpr char kUpdateMetricsStatement[] = "update_metrics";
inline constexpr char kWriteMetricsStatement[] = "write_metrics";
inline constexpr char kAppendLogsStatement[] = "append_logs";

// name -> SQL of the statements above, by the file that owns them.
std::map<std::string, std::string> LeaseStatements();        // leases_table.cc
std::map<std::string, std::string> MetricsLogsStatements();  // metrics_logs_table.cc

// leases_table.cc. Why a write under `lease` is refused, for the caller's
// error message: NOT_FOUND, or FAILED_PRECONDITION for a stale epoch or a job
// no longer running.
absl::Status LeaseRefusal(pqxx::work& txn, const expsvc::v1::JobLease& lease);
// Checks that `lease` is current and locks the job against a concurrent
// completion until `txn` ends; every write made under a lease starts here.
absl::StatusOr<LeaseCheck> CheckLeaseIn(pqxx::work& txn, const expsvc::v1::JobLease& lease);

// jobs_table.cc. Cancels every unfinished descendant of `job_ids`; returns how many.
int64_t CancelDescendants(pqxx::work& txn, const std::vector<int64_t>& job_ids, const std::string& reason);

}  // namespace expsvc::storage
