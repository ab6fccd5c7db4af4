// expsvc-dashboard: the web dashboard on the results database.
//
//   expsvc-dashboard --db="host=... dbname=expsvc user=expsvc_reader" \
//       [--listen=127.0.0.1:8080] [--artifact_root=DIR] [--static_dir=DIR] \
//       [--scheduler=HOST:PORT --scheduler_token_file=FILE]   (the listening-test form)

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "client/web/dashboard_server.h"
#include "common/fs/file_io.h"

namespace {
// build/client/web/expsvc-dashboard -> build/client/web/dist.
std::string DefaultStaticDir() {
  std::error_code error;
  const std::filesystem::path executable = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "";
  const std::filesystem::path dist = executable.parent_path() / "dist";
  return std::filesystem::exists(dist / "index.html", error) ? dist.string() : "";
}

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}
}  // namespace

ABSL_FLAG(std::string, db, EnvOr("EXPSVC_READER_DB", ""),
          "libpq connection string of the read-only role expsvc_reader (default: $EXPSVC_READER_DB).");
ABSL_FLAG(std::string, listen, "127.0.0.1:8080",
          "host:port to serve on (port 0: any free port). Any address but loopback requires user tokens.");
ABSL_FLAG(std::string, artifact_root, EnvOr("EXPSVC_ARTIFACT_ROOT", ""),
          "The scheduler's --artifact_root, for downloads (default: $EXPSVC_ARTIFACT_ROOT).");
ABSL_FLAG(std::string, static_dir, "",
          "The built front end to serve at / (default: dist/ beside this binary, where the build puts it; "
          "none there: the API only).");
ABSL_FLAG(std::string, scheduler, EnvOr("EXPSVC_ADDR", ""),
          "host:port of the scheduler that stores listening-test ratings (default: $EXPSVC_ADDR; empty: the "
          "rating form is off).");
ABSL_FLAG(std::string, scheduler_token_file, "",
          "File holding the user token ratings are sent with when the browser sends none (never the token "
          "itself on the command line).");
ABSL_FLAG(std::string, scheduler_tls_ca, EnvOr("EXPSVC_TLS_CA", ""),
          "PEM of the CA that signed the scheduler's certificate (default: $EXPSVC_TLS_CA; empty: plaintext).");
ABSL_FLAG(int64_t, worker_offline_after_ms, 30000, "A worker not seen for this long is shown offline.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Serves the expsvc dashboard: a read-only JSON API and the web front end.");
  absl::ParseCommandLine(argc, argv);
  expsvc::web::DashboardOptions options;
  options.database = absl::GetFlag(FLAGS_db);
  const std::string listen = absl::GetFlag(FLAGS_listen);
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &options.port) || options.port < 0 ||
      options.port > 65535) {
    std::fprintf(stderr, "expsvc-dashboard: --listen must be host:port, got '%s'\n", listen.c_str());
    return 2;
  }
  options.host = listen.substr(0, colon);
  if (options.host.size() > 2 && options.host.front() == '[') options.host = options.host.substr(1, options.host.size() - 2);
  options.artifact_root = absl::GetFlag(FLAGS_artifact_root);
  options.static_dir = absl::GetFlag(FLAGS_static_dir).empty() ? DefaultStaticDir() : absl::GetFlag(FLAGS_static_dir);
  options.worker_offline_after_ms = absl::GetFlag(FLAGS_worker_offline_after_ms);
  options.scheduler_address = absl::GetFlag(FLAGS_scheduler);
  options.scheduler_tls_ca_file = absl::GetFlag(FLAGS_scheduler_tls_ca);
  if (const std::string path = absl::GetFlag(FLAGS_scheduler_token_file); !path.empty()) {
    absl::StatusOr<std::string> token = expsvc::fs::ReadFile(path);
    if (!token.ok()) {
      std::fprintf(stderr, "expsvc-dashboard: --scheduler_token_file: %s\n", std::string(token.status().message()).c_str());
      return 2;
    }
    options.scheduler_token = std::string(absl::StripAsciiWhitespace(*token));
  }

  // SIGTERM/SIGINT are blocked in every thread and taken by sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = expsvc::web::DashboardServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "expsvc-dashboard: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "expsvc-dashboard: serving http://%s:%d/%s%s\n", options.host.c_str(), (*server)->port(),
               (*server)->requires_token() ? " (API calls need a user token)" : "",
               options.static_dir.empty() ? " (API only: the front end is not built)" : "");
  // The server runs in its own thread; this one waits for SIGTERM/SIGINT.
  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::fprintf(stderr, "expsvc-dashboard: stopping (signal %d)\n", signal);
  (*server)->Stop();
  return 0;
}
