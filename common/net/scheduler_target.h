#pragma once
// The gRPC target for one or several scheduler replicas. "host:port" is used
// as given (gRPC resolves it). "a:p,b:q,..." becomes one channel over every
// replica ("ipv4:" / "ipv6:" target, pick_first): calls go to the first
// replica that answers, and when it goes away the channel moves to the next
// by itself. Host names in a list are resolved once, here, since gRPC's
// address-list targets take only literal addresses.

#include <string>

#include "absl/status/statusor.h"

namespace expsvc::net {

absl::StatusOr<std::string> SchedulerTarget(const std::string& addresses);

}  // namespace expsvc::net
