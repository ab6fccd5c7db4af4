#pragma once
// libpq waits on the network as long as TCP does: a query sent to a database
// host whose link is cut (not restarted, which resets connections at once)
// sits in retransmission for many minutes, and a new connection to it waits
// as long. A scheduler must instead answer UNAVAILABLE within seconds and
// recover by itself when the host is back, so every service connection gets
// time limits unless its conninfo sets its own.

#include <string>

#include "absl/status/statusor.h"

namespace expsvc::storage {

// The limits added (libpq keywords); each applies only where the conninfo (or,
// for connect_timeout, PGCONNECT_TIMEOUT) does not set it already.
struct NetworkTimeouts {
  // Seconds to open a connection.
  int connect_timeout_s = 5;
  // Sent data left unacknowledged this long closes the connection. It does not
  // limit a long query: the server acknowledges the request at once.
  int tcp_user_timeout_ms = 5000;
  // An idle connection (the LISTEN one) is probed after this long...
  int keepalives_idle_s = 5;
  // ...every this long, and dropped after this many unanswered probes.
  int keepalives_interval_s = 2;
  int keepalives_count = 3;
};

// `conninfo` (keyword=value or a postgresql:// URI) as keyword=value with the
// limits above added; InvalidArgument naming the problem when libpq cannot
// parse it.
absl::StatusOr<std::string> WithNetworkTimeouts(const std::string& conninfo, const NetworkTimeouts& limits = {});

}  // namespace expsvc::storage
