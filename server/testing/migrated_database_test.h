#pragma once
// Tests only: a GoogleTest fixture with one throwaway PostgreSQL cluster per
// suite and a fresh, migrated database per test, for every test that talks
// to the store or the scheduler.

#include <string>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/storage/migrator.h"
#include "server/testing/postgres_cluster.h"

namespace expsvc::testing {

class MigratedDatabaseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = PostgresCluster::Start();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  // Creates database <prefix>_<n> with every migration applied; sets
  // database_name_ and conninfo_.
  void CreateMigratedDatabase(const std::string& prefix) {
    static int counter = 0;
    database_name_ = absl::StrCat(prefix, "_", ++counter);
    auto conninfo = cluster_->CreateDatabase(database_name_);
    ASSERT_TRUE(conninfo.ok()) << conninfo.status();
    conninfo_ = *conninfo;
    auto migrated = storage::ApplyMigrations(conninfo_, EXPSVC_DEFAULT_MIGRATIONS_DIR);
    ASSERT_TRUE(migrated.ok()) << migrated.status();
  }

  // SQL run outside the store, to see (or set up) what it wrote.
  pqxx::result Query(const std::string& sql) {
    pqxx::connection connection(conninfo_);
    pqxx::work txn(connection);
    pqxx::result result = txn.exec(sql);
    txn.commit();
    return result;
  }
  int64_t Count(const std::string& sql) { return Query(sql)[0][0].as<int64_t>(); }

  static inline PostgresCluster* cluster_ = nullptr;
  std::string database_name_;
  std::string conninfo_;
};

}  // namespace expsvc::testing
