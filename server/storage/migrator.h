#pragma once
// Applies migrations/NNNN_name.up.sql in order and verifies, at every
// startup, that the files already applied are unchanged (by SHA-256).
// Concurrent schedulers serialise on an advisory lock.

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace expsvc::storage {

struct MigrationFile {
  int version = 0;
  std::string name;
  std::string sql;
  std::string checksum;
};

// Reads and orders the folder's migrations; refuses gaps and duplicates.
absl::StatusOr<std::vector<MigrationFile>> LoadMigrations(const std::string& directory);

struct MigrationReport {
  int applied_now = 0;
  int already_applied = 0;
};

absl::StatusOr<MigrationReport> ApplyMigrations(const std::string& conninfo, const std::string& directory);

}  // namespace expsvc::storage
