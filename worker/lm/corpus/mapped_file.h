#pragma once
// A whole file mapped read-only into memory (mmap), so large files (the
// study's corpus.bin holds ~100M token ids) are read through the page cache
// instead of being copied onto the heap. Pages are loaded on first touch and
// can be dropped by the kernel under memory pressure.

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace expsvc::lm {

class MappedFile {
 public:
  // NotFound when the file does not exist; errors name the file. An empty
  // file maps to empty bytes.
  static absl::StatusOr<std::shared_ptr<const MappedFile>> Open(const std::string& path);

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  // Valid while this object lives; page-aligned.
  absl::string_view bytes() const { return absl::string_view(static_cast<const char*>(data_), size_); }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, void* data, size_t size) : path_(std::move(path)), data_(data), size_(size) {}

  std::string path_;
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace expsvc::lm
