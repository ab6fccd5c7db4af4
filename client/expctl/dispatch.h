#pragma once
// expctl's entry point as a function: picks the command from the words,
// parses its flags, runs it, prints a failure and returns the exit code.
// main() only adapts argv; tests call this directly.

#include <iosfwd>
#include <string>
#include <vector>

#include "client/expctl/connection.h"

namespace expsvc::expctl {

// `words` excludes the program name.
int RunExpctl(const std::vector<std::string>& words, std::ostream& out, std::ostream& err, const EnvLookup& env);

// Flags every command accepts: --addr, --token, --tls-ca, --timeout, -h.
std::vector<FlagSpec> GlobalFlags();

}  // namespace expsvc::expctl
