#pragma once
// The gRPC target for one or several scheduler replicas. "host:port" is used
// as given (gRPC resolves it). "a:p,b:q,..." becomes one channel over every
// replica ("ipv4:" / "ipv6:" target, pick_first): calls go to the first
// replica that answers, and when it goes away the channel moves to the next
// by itself. Host names in a list are resolved once, here, since gRPC's
// address-list targets take only literal addresses: every IPv4 address of
// each name is listed, and a name that does not resolve is left out (named
// in `skipped`) as long as another replica remains.
//
// TLS: an address list gives gRPC no host name to check certificates
// against, so SchedulerTlsName gives the first entry's host, to be set as
// the channel's SSL target name; every replica's certificate must carry it.

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace expsvc::net {

absl::StatusOr<std::string> SchedulerTarget(const std::string& addresses,
                                            std::vector<std::string>* skipped = nullptr);
// The first entry's host for a list of replicas; "" for one address.
std::string SchedulerTlsName(const std::string& addresses);

}  // namespace expsvc::net
