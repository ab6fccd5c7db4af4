#include "server/storage/migrator.h"

#include <algorithm>
#include <filesystem>
#include <regex>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "server/storage/network_timeouts.h"

namespace expsvc::storage {
namespace {
// Arbitrary constant: the advisory lock that serialises migrating schedulers.
constexpr long kMigrationLockId = 7265431;
}  // namespace

absl::StatusOr<std::vector<MigrationFile>> LoadMigrations(const std::string& directory) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::is_directory(directory, error)) {
    return absl::NotFoundError(absl::StrCat("migrations folder not found: ", directory));
  }
  static const std::regex kName(R"((\d{4})_([a-z0-9_]+)\.up\.sql)");
  std::vector<MigrationFile> files;
  for (const auto& entry : fs::directory_iterator(directory)) {
    std::smatch match;
    const std::string file_name = entry.path().filename().string();
    if (!std::regex_match(file_name, match, kName)) continue;
    MigrationFile file;
    EXPSVC_ASSIGN_OR_RETURN(file.sql, expsvc::fs::ReadFile(entry.path()));
    file.version = std::stoi(match[1]);
    file.name = file_name;
    file.checksum = Sha256Hex(file.sql);
    files.push_back(std::move(file));
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
  for (size_t i = 0; i < files.size(); ++i) {
    if (files[i].version != static_cast<int>(i) + 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("migrations must be numbered 0001, 0002, ... without gaps or duplicates; found ", files[i].name,
                       " at position ", i + 1));
    }
  }
  if (files.empty()) return absl::NotFoundError(absl::StrCat("no NNNN_name.up.sql files in ", directory));
  return files;
}

absl::StatusOr<MigrationReport> ApplyMigrations(const std::string& conninfo, const std::string& directory) {
  auto files = LoadMigrations(directory);
  if (!files.ok()) return files.status();
  auto limited = WithNetworkTimeouts(conninfo);
  if (!limited.ok()) return limited.status();
  try {
    pqxx::connection connection(*limited);
    pqxx::work txn(connection);
    txn.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockId);
    txn.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    MigrationReport report;
    pqxx::result applied = txn.exec("SELECT version, name, checksum FROM schema_migrations ORDER BY version");
    for (const auto& row : applied) {
      const int version = row[0].as<int>();
      if (version > static_cast<int>(files->size())) {
        return absl::FailedPreconditionError(absl::StrCat("the database has migration ", row[1].c_str(),
                                                          " which is not in ", directory,
                                                          ": this scheduler is older than the database schema"));
      }
      const MigrationFile& file = (*files)[version - 1];
      if (file.checksum != row[2].c_str()) {
        return absl::FailedPreconditionError(absl::StrCat("migration ", file.name,
                                                          " was changed after it was applied (checksum differs); "
                                                          "add a new migration instead of editing an applied one"));
      }
      ++report.already_applied;
    }
    for (size_t i = applied.size(); i < files->size(); ++i) {
      const MigrationFile& file = (*files)[i];
      txn.exec(file.sql);
      txn.exec_params("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", file.version,
                      file.name, file.checksum);
      ++report.applied_now;
    }
    txn.commit();
    return report;
  } catch (const pqxx::broken_connection& error) {
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL: ", error.what()));
  } catch (const std::exception& error) {
    return absl::InternalError(absl::StrCat("applying migrations: ", error.what()));
  }
}

}  // namespace expsvc::storage
