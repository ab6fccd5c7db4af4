// Every RPC's authentication and authorisation, walked from the proto
// descriptors against the real scheduler binary (label: e2e): no token and
// an unknown token get UNAUTHENTICATED, every role a method is not for gets
// PERMISSION_DENIED, the roles it is for get through the check. A new RPC
// fails this test until the policy below names who may call it. Also: a
// revoked token is refused within the token cache's lifetime, and no token
// ever appears in the services' logs.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/fs/file_io.h"
#include "expsvc/v1/artifacts.grpc.pb.h"
#include "expsvc/v1/jobs.grpc.pb.h"
#include "expsvc/v1/metrics.grpc.pb.h"
#include "expsvc/v1/ratings.grpc.pb.h"
#include "expsvc/v1/sweeps.grpc.pb.h"
#include "expsvc/v1/workers.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/support/local_stack.h"

namespace expsvc::testing {
namespace {

enum class Caller { kUser, kWorker };

// Who may call what (admin may call everything). The source of truth is
// server/grpc/*_service.cc; this is the policy those files must implement.
std::set<Caller> AllowedCallers(const std::string& service, const std::string& method) {
  if (service == "expsvc.v1.SweepService" || service == "expsvc.v1.JobService" ||
      service == "expsvc.v1.MetricsService" || service == "expsvc.v1.RatingService") {
    return {Caller::kUser};
  }
  if (service == "expsvc.v1.ArtifactService") return {Caller::kUser, Caller::kWorker};
  if (service == "expsvc.v1.WorkerService") {
    return method == "ListWorkers" ? std::set<Caller>{Caller::kUser} : std::set<Caller>{Caller::kWorker};
  }
  return {};  // unknown: the test fails and asks for a policy
}

bool HasPolicy(const std::string& service) {
  return service == "expsvc.v1.SweepService" || service == "expsvc.v1.JobService" ||
         service == "expsvc.v1.MetricsService" || service == "expsvc.v1.ArtifactService" ||
         service == "expsvc.v1.WorkerService" || service == "expsvc.v1.RatingService";
}

// Calls `method` ("/pkg.Service/Method") with an empty request, framed as a
// unary call whatever its streaming shape (the wire format is the same), and
// returns the status.
grpc::Status CallWithEmptyRequest(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                                  const std::string& authorization) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  if (!authorization.empty()) context.AddMetadata("authorization", authorization);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue queue;
  grpc::Slice empty(std::string{});
  grpc::ByteBuffer request(&empty, 1);
  auto call = stub.PrepareUnaryCall(&context, method, request, &queue);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  queue.Next(&tag, &ok);
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  return status;
}

// The proto files of the API, found from proto/expsvc/v1/*.proto, so a new
// file is walked too (it must then be referenced below to be linked in).
std::vector<const google::protobuf::FileDescriptor*> ServiceFiles() {
  // Referencing a message of each file links its generated code (and so
  // registers its descriptor) from the static library.
  (void)expsvc::v1::SubmitSweepRequest::descriptor();
  (void)expsvc::v1::ListJobsRequest::descriptor();
  (void)expsvc::v1::LeaseJobsRequest::descriptor();
  (void)expsvc::v1::QueryMetricsRequest::descriptor();
  (void)expsvc::v1::ListArtifactsRequest::descriptor();
  (void)expsvc::v1::SubmitRatingRequest::descriptor();
  (void)expsvc::v1::Job::descriptor();
  std::vector<const google::protobuf::FileDescriptor*> files;
  const char* source = std::getenv("EXPSVC_SOURCE_DIR");
  EXPECT_NE(source, nullptr) << "run through ctest";
  if (source == nullptr) return files;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(source) / "proto/expsvc/v1")) {
    if (entry.path().extension() != ".proto") continue;
    const std::string name = absl::StrCat("expsvc/v1/", entry.path().filename().string());
    const auto* file = google::protobuf::DescriptorPool::generated_pool()->FindFileByName(name);
    EXPECT_NE(file, nullptr) << name << " is not linked into this test: reference one of its messages in ServiceFiles()";
    if (file != nullptr) files.push_back(file);
  }
  return files;
}

class AuthE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LocalStack::Options options;
    options.extra_scheduler_flags = {"--token_cache_ms=1000"};
    auto stack = LocalStack::Start(options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
    channel_ = grpc::CreateChannel(stack_->address(), grpc::InsecureChannelCredentials());
  }

  std::string Bearer(const std::string& token) { return absl::StrCat("Bearer ", token); }

  std::unique_ptr<LocalStack> stack_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(AuthE2eTest, EveryRpcRefusesMissingAndUnknownTokensAndTheRolesItIsNotFor) {
  const std::map<Caller, std::string> tokens = {{Caller::kUser, stack_->user_token()},
                                                {Caller::kWorker, stack_->worker_token()}};
  int methods = 0;
  for (const auto* file : ServiceFiles()) {
    for (int s = 0; s < file->service_count(); ++s) {
      const auto* service = file->service(s);
      ASSERT_TRUE(HasPolicy(service->full_name())) << service->full_name() << " has no policy in this test";
      for (int m = 0; m < service->method_count(); ++m) {
        const std::string name = service->method(m)->name();
        const std::string path = absl::StrCat("/", service->full_name(), "/", name);
        ++methods;
        EXPECT_EQ(CallWithEmptyRequest(channel_, path, "").error_code(), grpc::StatusCode::UNAUTHENTICATED) << path;
        EXPECT_EQ(CallWithEmptyRequest(channel_, path, Bearer("not-a-token")).error_code(),
                  grpc::StatusCode::UNAUTHENTICATED)
            << path;
        EXPECT_EQ(CallWithEmptyRequest(channel_, path, "Basic dXNlcjpwYXNz").error_code(),
                  grpc::StatusCode::UNAUTHENTICATED)
            << path;
        const std::set<Caller> allowed = AllowedCallers(service->full_name(), name);
        for (const auto& [caller, token] : tokens) {
          const grpc::StatusCode code = CallWithEmptyRequest(channel_, path, Bearer(token)).error_code();
          if (allowed.contains(caller)) {
            EXPECT_NE(code, grpc::StatusCode::UNAUTHENTICATED) << path;
            EXPECT_NE(code, grpc::StatusCode::PERMISSION_DENIED) << path;
          } else {
            EXPECT_EQ(code, grpc::StatusCode::PERMISSION_DENIED) << path << " as " << token;
          }
        }
        const grpc::StatusCode admin = CallWithEmptyRequest(channel_, path, Bearer(stack_->admin_token())).error_code();
        EXPECT_NE(admin, grpc::StatusCode::UNAUTHENTICATED) << path;
        EXPECT_NE(admin, grpc::StatusCode::PERMISSION_DENIED) << path;
      }
    }
  }
  EXPECT_GE(methods, 22) << "the walk found fewer RPCs than the API has";
}

TEST_F(AuthE2eTest, RevokedTokenIsRefusedWithinTheCacheLifetimeAndNoTokenIsLogged) {
  const char* build_dir = std::getenv("EXPSVC_BUILD_DIR");
  ASSERT_NE(build_dir, nullptr);
  const std::string scheduler = absl::StrCat(build_dir, "/server/expsvc-scheduler");
  CommandResult created = RunCommand(
      {scheduler, "create-token", absl::StrCat("--db=", stack_->conninfo()), "--role=user", "--name=leaving"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string token = std::string(absl::StripAsciiWhitespace(created.out));
  const std::string list_sweeps = "/expsvc.v1.SweepService/ListSweeps";
  ASSERT_TRUE(CallWithEmptyRequest(channel_, list_sweeps, Bearer(token)).ok());

  CommandResult revoked =
      RunCommand({scheduler, "revoke-token", absl::StrCat("--db=", stack_->conninfo()), "--name=leaving"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  const auto revoked_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor(
      [&] {
        return CallWithEmptyRequest(channel_, list_sweeps, Bearer(token)).error_code() ==
               grpc::StatusCode::UNAUTHENTICATED;
      },
      5));
  EXPECT_LE(std::chrono::steady_clock::now() - revoked_at, std::chrono::milliseconds(1000 + 500))
      << "refused later than --token_cache_ms";
  CommandResult again =
      RunCommand({scheduler, "revoke-token", absl::StrCat("--db=", stack_->conninfo()), "--name=leaving"});
  EXPECT_EQ(again.exit_code, 1) << "nothing left to revoke must say so";

  // Run a job so the worker logs too, then look for every token in every log.
  ASSERT_TRUE(stack_->StartWorker(1, "auth-test").ok());
  const std::string path = absl::StrCat(stack_->directory(), "/one.yaml");
  std::ofstream(path) << "name: one\nstages:\n  - {name: a, kind: noop}\n";
  CommandResult submitted = stack_->Expctl({"submit", path});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  CommandResult watched = stack_->Expctl({"watch", "1", "--interval", "200"});
  EXPECT_EQ(watched.exit_code, 0) << watched.out << watched.err;
  std::string logs = ::expsvc::fs::ReadFile(absl::StrCat(stack_->directory(), "/scheduler.log")).value_or("");
  logs += ::expsvc::fs::ReadFile(stack_->WorkerLog(0)).value_or("");
  ASSERT_FALSE(logs.empty());
  for (const std::string& secret :
       {stack_->user_token(), stack_->worker_token(), stack_->admin_token(), token, std::string("not-a-token")}) {
    EXPECT_EQ(logs.find(secret), std::string::npos) << "a token was written to a log";
  }
}

}  // namespace
}  // namespace expsvc::testing
