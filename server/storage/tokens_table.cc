// PostgresStore: table auth_tokens (only hashes are stored).

#include "server/storage/postgres_store.h"
#include "server/storage/store_transaction.h"

namespace expsvc::storage {
namespace {

constexpr char kInsertTokenSql[] = "INSERT INTO auth_tokens (name, role, token_hash) VALUES ($1, $2, $3)";
constexpr char kLookupTokenSql[] = "SELECT role FROM auth_tokens WHERE token_hash = $1 AND revoked_at IS NULL";

}  // namespace

absl::Status PostgresStore::CreateToken(const std::string& name, auth::Role role, const std::string& token_hash) {
  return InTransaction("creating a token", [&](pqxx::work& txn) -> absl::Status {
    txn.exec_params(kInsertTokenSql, name, std::string(auth::RoleName(role)), token_hash);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<auth::Role>> PostgresStore::LookupToken(const std::string& token_hash) {
  return InSingleStatement("looking up a token",
                           [&](pqxx::transaction_base& txn) -> absl::StatusOr<std::optional<auth::Role>> {
                             pqxx::result row = txn.exec_params(kLookupTokenSql, token_hash);
                             if (row.empty()) return std::optional<auth::Role>();
                             auto role = auth::ParseRole(row[0][0].c_str());
                             if (!role.ok()) return role.status();
                             return std::optional<auth::Role>(*role);
                           });
}

}  // namespace expsvc::storage
