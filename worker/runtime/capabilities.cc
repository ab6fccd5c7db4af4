#include "worker/runtime/capabilities.h"

#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace expsvc::worker {

int DetectCpuCores() {
  unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int>(cores);
}

int64_t DetectMemoryMb() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    // "MemTotal:       131891236 kB"
    std::istringstream fields(line);
    std::string label;
    int64_t kilobytes = 0;
    if (fields >> label >> kilobytes && label == "MemTotal:") return kilobytes / 1024;
  }
  return 0;
}

}  // namespace expsvc::worker
