// PostgresStore: table auth_tokens (only hashes are stored).

#include "server/storage/postgres_store.h"
#include "server/storage/store_transaction.h"

namespace expsvc::storage {
namespace {

constexpr char kInsertTokenSql[] = "INSERT INTO auth_tokens (name, role, token_hash) VALUES ($1, $2, $3)";
constexpr char kRevokeTokensSql[] =
    "UPDATE auth_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING id";
constexpr char kLookupTokenSql[] = "SELECT role FROM auth_tokens WHERE token_hash = $1 AND revoked_at IS NULL";
constexpr char kInsertJobTokenKeySql[] =
    "INSERT INTO job_token_key (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING";
constexpr char kSelectJobTokenKeySql[] = "SELECT secret FROM job_token_key WHERE id = 1";

}  // namespace

absl::Status PostgresStore::CreateToken(const std::string& name, auth::Role role, const std::string& token_hash) {
  return InTransaction("creating a token", [&](pqxx::work& txn) -> absl::Status {
    txn.exec_params(kInsertTokenSql, name, std::string(auth::RoleName(role)), token_hash);
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> PostgresStore::RevokeTokens(const std::string& name) {
  return InTransaction("revoking tokens", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
    return static_cast<int64_t>(txn.exec_params(kRevokeTokensSql, name).size());
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

absl::StatusOr<std::string> PostgresStore::JobTokenKey(const std::string& candidate) {
  return InTransaction("reading the job token key", [&](pqxx::work& txn) -> absl::StatusOr<std::string> {
    txn.exec_params(kInsertJobTokenKeySql, candidate);
    pqxx::result row = txn.exec(kSelectJobTokenKeySql);
    if (row.empty()) return absl::InternalError("job_token_key has no row after inserting one");
    return std::string(row[0][0].c_str());
  });
}

absl::StatusOr<WriteAccess> PostgresStore::CurrentRoleWriteAccess() {
  return InSingleStatement("checking the role's privileges", [&](pqxx::transaction_base& txn)
                                                                 -> absl::StatusOr<WriteAccess> {
    WriteAccess access;
    access.superuser = txn.exec1("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0].as<bool>();
    for (const pqxx::row& row : txn.exec(
             "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
             "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND ("
             "has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE') OR "
             "has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE')) ORDER BY c.relname")) {
      access.writable_tables.push_back(row[0].c_str());
    }
    return access;
  });
}

}  // namespace expsvc::storage
