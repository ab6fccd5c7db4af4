#pragma once
// "--name=value" flags of the benches and their helper tools: the last
// occurrence wins, a missing flag gives the fallback.

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace expsvc::bench {

inline const char* FlagText(int argc, char** argv, const char* name) {
  const std::string prefix = std::string("--") + name + "=";
  const char* found = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) found = argv[i] + prefix.size();
  }
  return found;
}

inline int64_t Flag(int argc, char** argv, const char* name, int64_t fallback) {
  const char* text = FlagText(argc, argv, name);
  return text != nullptr ? std::atoll(text) : fallback;
}

inline double DoubleFlag(int argc, char** argv, const char* name, double fallback) {
  const char* text = FlagText(argc, argv, name);
  return text != nullptr ? std::atof(text) : fallback;
}

inline std::string StringFlag(int argc, char** argv, const char* name, const std::string& fallback) {
  const char* text = FlagText(argc, argv, name);
  return text != nullptr ? std::string(text) : fallback;
}

}  // namespace expsvc::bench
