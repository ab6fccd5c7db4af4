// PostgresStore::Open. The other methods are defined one file per table
// (see store_transaction.h for the list).

#include "server/storage/postgres_store.h"

#include "server/storage/store_transaction.h"

namespace expsvc::storage {

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& conninfo, int pool_size) {
  std::map<std::string, std::string> statements = LeaseStatements();
  statements.merge(MetricsLogsStatements());
  auto pool = ConnectionPool::Create(conninfo, pool_size, std::move(statements));
  if (!pool.ok()) return pool.status();
  return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(*pool)));
}

}  // namespace expsvc::storage
