#include "common/net/scheduler_target.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace expsvc::net {
namespace {

struct HostPort {
  std::string host;
  std::string port;
  bool ipv6 = false;
};

absl::StatusOr<HostPort> SplitHostPort(const std::string& address) {
  HostPort parsed;
  if (!address.empty() && address.front() == '[') {  // [v6]:port
    const size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("scheduler address '", address, "': expected [IPv6]:port"));
    }
    parsed.host = address.substr(1, close - 1);
    parsed.port = address.substr(close + 2);
    parsed.ipv6 = true;
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return absl::InvalidArgumentError(absl::StrCat("scheduler address '", address, "': expected host:port"));
    }
    parsed.host = address.substr(0, colon);
    parsed.port = address.substr(colon + 1);
  }
  if (parsed.port.empty() || parsed.port.find_first_not_of("0123456789") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler address '", address, "': the port is not a number"));
  }
  return parsed;
}

// An IPv4 literal as is; a name resolved to all its IPv4 addresses.
absl::StatusOr<std::vector<std::string>> Ipv4sOf(const std::string& host) {
  in_addr literal{};
  if (inet_pton(AF_INET, host.c_str(), &literal) == 1) return std::vector<std::string>{host};
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int error = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (error != 0 || found == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("scheduler host '", host, "' does not resolve to an IPv4 address: ", gai_strerror(error)));
  }
  std::vector<std::string> addresses;
  for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(entry->ai_addr)->sin_addr, text, sizeof(text));
    if (std::find(addresses.begin(), addresses.end(), text) == addresses.end()) addresses.emplace_back(text);
  }
  freeaddrinfo(found);
  return addresses;
}

}  // namespace

absl::StatusOr<std::string> SchedulerTarget(const std::string& addresses, std::vector<std::string>* skipped) {
  if (addresses.find(',') == std::string::npos) {
    if (addresses.empty()) return absl::InvalidArgumentError("the scheduler address is empty");
    return addresses;
  }
  std::vector<HostPort> replicas;
  for (absl::string_view part : absl::StrSplit(addresses, ',')) {
    const std::string address(absl::StripAsciiWhitespace(part));
    if (address.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("scheduler addresses '", addresses, "': an empty entry"));
    }
    auto parsed = SplitHostPort(address);
    if (!parsed.ok()) return parsed.status();
    replicas.push_back(*std::move(parsed));
  }
  const bool ipv6 = replicas.front().ipv6;
  std::vector<std::string> entries;
  absl::Status last_error;
  for (HostPort& replica : replicas) {
    if (replica.ipv6 != ipv6) {
      return absl::InvalidArgumentError(
          absl::StrCat("scheduler addresses '", addresses, "': IPv4 and IPv6 replicas cannot share one list"));
    }
    if (ipv6) {
      entries.push_back(absl::StrCat("[", replica.host, "]:", replica.port));
      continue;
    }
    auto ips = Ipv4sOf(replica.host);
    if (!ips.ok()) {
      // One replica's name gone must not stop the others being used.
      if (skipped != nullptr) skipped->push_back(std::string(ips.status().message()));
      last_error = ips.status();
      continue;
    }
    for (const std::string& ip : *ips) entries.push_back(absl::StrCat(ip, ":", replica.port));
  }
  if (entries.empty()) return last_error;
  return absl::StrCat(ipv6 ? "ipv6:" : "ipv4:", absl::StrJoin(entries, ","));
}

std::string SchedulerTlsName(const std::string& addresses) {
  if (addresses.find(',') == std::string::npos) return "";
  const std::string first(absl::StripAsciiWhitespace(addresses.substr(0, addresses.find(','))));
  auto parsed = SplitHostPort(first);
  return parsed.ok() ? parsed->host : "";
}

}  // namespace expsvc::net
