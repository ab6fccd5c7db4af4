// PostgresStore: table workers.

#include <random>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "common/hex.h"
#include "server/storage/postgres_store.h"
#include "server/storage/row_mapping.h"
#include "server/storage/store_transaction.h"

namespace expsvc::storage {
namespace {

constexpr char kInsertWorkerSql[] =
    "INSERT INTO workers (id, name, hostname, capabilities) VALUES ($1, $2, $3, $4::jsonb)";

constexpr char kWorkerExistsSql[] = "SELECT 1 FROM workers WHERE id = $1";

// Most recently seen first, with how many jobs each is running and whether
// it is online. $1 offline after ms, $2 include offline workers.
// clang-format off
constexpr char kListWorkersSql[] =
    "SELECT w.id, w.name, w.hostname, w.capabilities::text, "
    EXPSVC_MS("w.registered_at") ", " EXPSVC_MS("w.last_seen_at") ", "
    "(SELECT count(*) FROM jobs j WHERE j.worker_id = w.id AND j.state = 'running'), "
    "w.last_seen_at >= now() - $1 * interval '1 millisecond' "
    "FROM workers w WHERE $2 OR w.last_seen_at >= now() - $1 * interval '1 millisecond' "
    "ORDER BY w.last_seen_at DESC LIMIT 1000";
// clang-format on

// Workers gone for longer than the retention ($1 ms) that no job refers to.
constexpr char kPruneWorkersSql[] =
    "DELETE FROM workers w WHERE w.last_seen_at < now() - $1 * interval '1 millisecond' "
    "AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.worker_id = w.id)";

std::string RandomHex(int bytes) {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  std::string random(static_cast<size_t>(bytes), '\0');
  for (char& byte : random) byte = static_cast<char>(generator() & 0xFF);
  return LowerHex(random);
}

}  // namespace

absl::StatusOr<std::string> PostgresStore::RegisterWorker(const expsvc::v1::RegisterWorkerRequest& request) {
  const std::string worker_id = absl::StrCat("w-", RandomHex(6));
  std::string capabilities;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(request.capabilities(), &capabilities, options).ok()) {
    capabilities = "{}";
  }
  return InTransaction("registering a worker", [&](pqxx::work& txn) -> absl::StatusOr<std::string> {
    txn.exec_params(kInsertWorkerSql, worker_id, request.name(), request.hostname(), capabilities);
    return worker_id;
  });
}

absl::StatusOr<bool> PostgresStore::WorkerExists(const std::string& worker_id) {
  return InSingleStatement("looking up a worker", [&](pqxx::transaction_base& txn) -> absl::StatusOr<bool> {
    return !txn.exec_params(kWorkerExistsSql, worker_id).empty();
  });
}

absl::StatusOr<std::vector<expsvc::v1::WorkerInfo>> PostgresStore::ListWorkers(int64_t offline_after_ms,
                                                                              bool include_offline) {
  return InTransaction("listing workers", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<expsvc::v1::WorkerInfo>> {
    pqxx::result rows = txn.exec_params(kListWorkersSql, offline_after_ms, include_offline);
    std::vector<expsvc::v1::WorkerInfo> workers;
    for (const auto& row : rows) {
      expsvc::v1::WorkerInfo info;
      info.set_worker_id(row[0].c_str());
      info.set_name(row[1].c_str());
      info.set_hostname(row[2].c_str());
      google::protobuf::util::JsonParseOptions options;
      options.ignore_unknown_fields = true;
      (void)google::protobuf::util::JsonStringToMessage(row[3].c_str(), info.mutable_capabilities(), options);
      info.set_registered_at_ms(row[4].as<int64_t>());
      info.set_last_seen_at_ms(row[5].as<int64_t>());
      info.set_running_jobs(row[6].as<int64_t>());
      info.set_online(row[7].as<bool>());
      workers.push_back(std::move(info));
    }
    return workers;
  });
}

absl::StatusOr<int64_t> PostgresStore::PruneWorkers(int64_t retention_ms) {
  return InTransaction("pruning workers", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    return static_cast<int64_t>(txn.exec_params(kPruneWorkersSql, retention_ms).affected_rows());
  });
}

}  // namespace expsvc::storage
