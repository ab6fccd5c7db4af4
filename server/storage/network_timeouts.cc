#include "server/storage/network_timeouts.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <map>

#include "absl/strings/str_cat.h"

namespace expsvc::storage {
namespace {

// libpq's keyword=value quoting: single quotes, with ' and \ escaped.
std::string Quote(const std::string& value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "'";
}

}  // namespace

absl::StatusOr<std::string> WithNetworkTimeouts(const std::string& conninfo, const NetworkTimeouts& limits) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    return absl::InvalidArgumentError(absl::StrCat("the database address cannot be parsed: ", message));
  }
  std::string result;
  std::map<std::string, bool> present;
  for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    present[option->keyword] = true;
    absl::StrAppend(&result, result.empty() ? "" : " ", option->keyword, "=", Quote(option->val));
  }
  PQconninfoFree(options);
  const char* connect_timeout_env = std::getenv("PGCONNECT_TIMEOUT");
  if (connect_timeout_env != nullptr && *connect_timeout_env != '\0') present["connect_timeout"] = true;
  const std::pair<const char*, int> defaults[] = {
      {"connect_timeout", limits.connect_timeout_s},     {"tcp_user_timeout", limits.tcp_user_timeout_ms},
      {"keepalives", 1},                                 {"keepalives_idle", limits.keepalives_idle_s},
      {"keepalives_interval", limits.keepalives_interval_s}, {"keepalives_count", limits.keepalives_count},
  };
  for (const auto& [keyword, value] : defaults) {
    if (!present[keyword]) absl::StrAppend(&result, result.empty() ? "" : " ", keyword, "=", value);
  }
  return result;
}

}  // namespace expsvc::storage
