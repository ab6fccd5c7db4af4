#pragma once
// Read-only view of one .safetensors file, memory-mapped.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//  "__metadata__": {"key": "value"}}, then the data buffer; offsets are
// relative to the buffer. Open() checks everything before any view is handed
// out: the header length against the file, the JSON, each dtype, each shape
// (non-negative, no overflow), each byte range against the buffer and against
// shape × dtype size, and that the ranges tile the buffer exactly (no overlap,
// no hole, nothing unindexed), as the format requires. Errors name the file
// and, where there is one, the tensor.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/lm/checkpoint/dtype.h"

namespace expsvc::lm {

// Headers larger than this are refused (the reference implementation's limit).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;

// One tensor inside an open file; valid while the file object lives.
struct TensorView {
  std::string_view name;
  DType dtype = DType::kF32;
  std::span<const int64_t> shape;
  // Row-major, little-endian elements. Not necessarily aligned to the
  // element size: copy (memcpy) rather than reinterpret.
  std::span<const std::byte> bytes;

  int64_t num_elements() const;
};

class SafetensorsFile {
 public:
  // Maps `path` and validates its header.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::filesystem::path& path);
  // Validates an in-memory image (kept by the object); `source_name` is used
  // in error messages in place of a path.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> FromBytes(std::string bytes, std::string source_name);

  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  // The path given to Open (or the source name of FromBytes).
  const std::string& source() const { return source_; }

  // Every tensor, sorted by name.
  const std::vector<TensorView>& tensors() const { return views_; }
  std::vector<std::string> names() const;
  // nullptr when absent.
  const TensorView* Find(std::string_view name) const;
  // NotFound naming the file and the tensor when absent.
  absl::StatusOr<TensorView> Get(std::string_view name) const;

  // The "__metadata__" strings (empty when the header has none).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t begin;
    uint64_t end;
  };

  SafetensorsFile() = default;
  absl::Status Parse(std::span<const std::byte> file_bytes);

  std::string source_;
  // Exactly one of the two backs the views: a mapping or an owned copy.
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  std::string owned_bytes_;

  std::vector<Entry> entries_;  // sorted by name; never resized after Parse
  std::vector<TensorView> views_;
  std::map<std::string, size_t, std::less<>> index_by_name_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace expsvc::lm
