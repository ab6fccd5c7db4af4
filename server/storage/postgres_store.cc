// PostgresStore::Open. The other methods are defined one file per table
// (see store_transaction.h for the list).

#include "server/storage/postgres_store.h"

#include "absl/strings/cord.h"
#include "server/storage/network_timeouts.h"
#include "server/storage/store_transaction.h"

namespace expsvc::storage {
namespace {
// The payload that marks an UNAVAILABLE status as an unknown commit outcome.
constexpr char kCommitOutcomeUnknownUrl[] = "type.expsvc.dev/commit-outcome-unknown";
}  // namespace

absl::Status CommitOutcomeUnknownError(const std::string& message) {
  absl::Status status = absl::UnavailableError(absl::StrCat(message, " (the commit's outcome is unknown)"));
  status.SetPayload(kCommitOutcomeUnknownUrl, absl::Cord("1"));
  return status;
}

bool IsCommitOutcomeUnknown(const absl::Status& status) {
  return absl::IsUnavailable(status) && status.GetPayload(kCommitOutcomeUnknownUrl).has_value();
}

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& conninfo, int pool_size) {
  std::map<std::string, std::string> statements = LeaseStatements();
  statements.merge(MetricsLogsStatements());
  // A database host gone from the network must cost callers seconds, not TCP's minutes.
  auto limited = WithNetworkTimeouts(conninfo);
  if (!limited.ok()) return limited.status();
  auto pool = ConnectionPool::Create(*limited, pool_size, std::move(statements));
  if (!pool.ok()) return pool.status();
  return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(*pool)));
}

}  // namespace expsvc::storage
