#pragma once
// SHA-256 in lower-case hex, for artifact checksums and token hashes.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace expsvc {

std::string Sha256Hex(std::string_view data);
absl::StatusOr<std::string> Sha256HexOfFile(const std::string& path);

// Incremental form for streamed content.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  void Update(std::string_view data);
  std::string FinishHex();

 private:
  void* ctx_;
};

}  // namespace expsvc
