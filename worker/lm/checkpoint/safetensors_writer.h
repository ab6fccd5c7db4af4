#pragma once
// Writes .safetensors files: header length, JSON header padded with spaces
// to a multiple of 8 bytes (so the data buffer starts 8-aligned), then the
// tensors' bytes back to back. Tensors are laid out by element size, largest
// first, then by name, so every tensor starts aligned to its element size.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/lm/checkpoint/dtype.h"

namespace expsvc::lm {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  // Row-major little-endian elements; must stay valid until the write returns.
  std::span<const std::byte> bytes;
};

// Checks names (unique, non-empty, not "__metadata__"), shapes and byte
// counts, then writes `path` atomically (temporary file + rename).
absl::Status WriteSafetensorsFile(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                                  const std::map<std::string, std::string>& metadata = {});

// The same file image, in memory.
absl::StatusOr<std::string> SerializeSafetensors(std::span<const TensorToWrite> tensors,
                                                 const std::map<std::string, std::string>& metadata = {});

}  // namespace expsvc::lm
