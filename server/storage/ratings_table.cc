// PostgresStore: table listening_ratings (the music study's listening test).

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "server/storage/postgres_store.h"
#include "server/storage/store_transaction.h"

namespace expsvc::storage {
namespace {

using expsvc::v1::Rating;

// A rater rating a piece again replaces the earlier scores.
constexpr char kUpsertRatingSql[] = R"sql(
INSERT INTO listening_ratings AS r (artifact_id, rater, coherence, musicality, overall) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (artifact_id, rater) DO UPDATE SET coherence = EXCLUDED.coherence, musicality = EXCLUDED.musicality,
  overall = EXCLUDED.overall, created_at = now()
RETURNING (extract(epoch FROM r.created_at) * 1000)::bigint)sql";

constexpr char kArtifactForRatingSql[] = "SELECT job_id, name FROM artifacts WHERE id = $1";

// $1 sweep (0: any), $2 artifact (0: any).
constexpr char kListRatingsSql[] = R"sql(
SELECT r.artifact_id, r.rater, r.coherence, r.musicality, r.overall, a.job_id, a.name,
       (extract(epoch FROM r.created_at) * 1000)::bigint
FROM listening_ratings r JOIN artifacts a ON a.id = r.artifact_id JOIN jobs j ON j.id = a.job_id
WHERE ($1::bigint = 0 OR j.sweep_id = $1) AND ($2::bigint = 0 OR r.artifact_id = $2)
ORDER BY r.artifact_id, r.rater)sql";

bool IsMidiName(const std::string& name) { return absl::EndsWith(name, ".mid") || absl::EndsWith(name, ".midi"); }

}  // namespace

absl::StatusOr<Rating> PostgresStore::UpsertRating(const Rating& rating) {
  return InTransaction("storing a listening rating", [&](pqxx::work& txn) -> absl::StatusOr<Rating> {
    pqxx::result artifact = txn.exec_params(kArtifactForRatingSql, rating.artifact_id());
    if (artifact.empty()) return absl::NotFoundError(absl::StrCat("artifact ", rating.artifact_id(), " does not exist"));
    const std::string name = artifact[0][1].as<std::string>();
    if (!IsMidiName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("artifact ", rating.artifact_id(), " is '", name, "', not a piece (a .mid file) to rate"));
    }
    pqxx::row row = txn.exec_params1(kUpsertRatingSql, rating.artifact_id(), rating.rater(), rating.coherence(),
                                     rating.musicality(), rating.overall());
    Rating stored = rating;
    stored.set_job_id(artifact[0][0].as<int64_t>());
    stored.set_artifact_name(name);
    stored.set_created_at_ms(row[0].as<int64_t>());
    return stored;
  });
}

absl::StatusOr<std::vector<Rating>> PostgresStore::ListRatings(int64_t sweep_id, int64_t artifact_id) {
  return InTransaction("listing listening ratings", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<Rating>> {
    std::vector<Rating> ratings;
    for (const auto& row : txn.exec_params(kListRatingsSql, sweep_id, artifact_id)) {
      Rating& rating = ratings.emplace_back();
      rating.set_artifact_id(row[0].as<int64_t>());
      rating.set_rater(row[1].as<std::string>());
      rating.set_coherence(row[2].as<int32_t>());
      rating.set_musicality(row[3].as<int32_t>());
      rating.set_overall(row[4].as<int32_t>());
      rating.set_job_id(row[5].as<int64_t>());
      rating.set_artifact_name(row[6].as<std::string>());
      rating.set_created_at_ms(row[7].as<int64_t>());
    }
    return ratings;
  });
}

}  // namespace expsvc::storage
