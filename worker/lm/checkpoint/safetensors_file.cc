#include "worker/lm/checkpoint/safetensors_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace expsvc::lm {
namespace {

using Json = nlohmann::json;

static_assert(std::endian::native == std::endian::little,
              "the header length and the data are little-endian; this reader uses them as is");

constexpr std::string_view kMetadataKey = "__metadata__";

std::string ShapeString(std::span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Closes a file descriptor on every return path.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { ::close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

// Parses the JSON header, refusing a repeated top-level key (nlohmann would
// silently keep the last, so two tensors could claim one name).
absl::StatusOr<Json> ParseHeaderJson(std::string_view text, const std::string& source) {
  std::set<std::string> top_level_keys;
  std::string duplicate;
  const Json::parser_callback_t reject_duplicates = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth == 1 && event == Json::parse_event_t::key && parsed.is_string()) {
      if (!top_level_keys.insert(parsed.get<std::string>()).second && duplicate.empty()) {
        duplicate = parsed.get<std::string>();
      }
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(text.begin(), text.end(), reject_duplicates);
  } catch (const Json::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid JSON header: ", error.what()));
  }
  if (!duplicate.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": tensor '", duplicate, "' appears twice in the header"));
  }
  if (!header.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": the JSON header is not an object"));
  }
  return header;
}

absl::StatusOr<uint64_t> ReadUnsigned(const Json& value, std::string_view what, const std::string& context) {
  if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<int64_t>() >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": ", std::string(what), " must be a non-negative integer, got ", value.dump()));
  }
  return value.get<uint64_t>();
}

}  // namespace

int64_t TensorView::num_elements() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::filesystem::path& path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->source_ = path.string();

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    const std::string message = absl::StrCat("cannot open ", file->source_, ": ", std::strerror(error));
    return error == ENOENT ? absl::NotFoundError(message) : absl::InternalError(message);
  }
  FdCloser closer(fd);
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    return absl::InternalError(absl::StrCat("cannot stat ", file->source_, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(file->source_, " is not a regular file"));
  }
  const size_t size = static_cast<size_t>(info.st_size);
  std::span<const std::byte> bytes;
  if (size > 0) {  // mmap refuses length 0; an empty file fails Parse below
    void* mapping = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      return absl::InternalError(absl::StrCat("cannot map ", file->source_, ": ", std::strerror(errno)));
    }
    file->mapping_ = mapping;
    file->mapping_size_ = size;
    bytes = std::span<const std::byte>(static_cast<const std::byte*>(mapping), size);
  }
  EXPSVC_RETURN_IF_ERROR(file->Parse(bytes));
  return file;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::FromBytes(std::string bytes,
                                                                            std::string source_name) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->source_ = std::move(source_name);
  file->owned_bytes_ = std::move(bytes);
  EXPSVC_RETURN_IF_ERROR(file->Parse(std::as_bytes(std::span<const char>(file->owned_bytes_))));
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

absl::Status SafetensorsFile::Parse(std::span<const std::byte> file_bytes) {
  if (file_bytes.size() < 8) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": file is ", file_bytes.size(), " bytes, too short for the 8-byte header length"));
  }
  uint64_t header_length = 0;
  std::memcpy(&header_length, file_bytes.data(), 8);
  const uint64_t after_length = file_bytes.size() - 8;
  if (header_length > after_length) {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": header length ", header_length,
                                                   " runs past the end of the file (", file_bytes.size(),
                                                   " bytes): truncated or not a safetensors file"));
  }
  if (header_length > kMaxSafetensorsHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": header length ", header_length, " exceeds the limit of ",
                                                   kMaxSafetensorsHeaderBytes, " bytes"));
  }
  const std::string_view header_text(reinterpret_cast<const char*>(file_bytes.data() + 8), header_length);
  const std::span<const std::byte> data = file_bytes.subspan(8 + header_length);

  EXPSVC_ASSIGN_OR_RETURN(const Json header, ParseHeaderJson(header_text, source_));

  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      if (value.is_null()) continue;
      if (!value.is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(source_, ": __metadata__ is not an object"));
      }
      for (const auto& [key, text] : value.items()) {
        if (!text.is_string()) {
          return absl::InvalidArgumentError(
              absl::StrCat(source_, ": __metadata__ value of '", key, "' is not a string"));
        }
        metadata_[key] = text.get<std::string>();
      }
      continue;
    }
    const std::string context = absl::StrCat(source_, ": tensor '", name, "'");
    if (!value.is_object()) return absl::InvalidArgumentError(absl::StrCat(context, ": entry is not an object"));
    const auto dtype_field = value.find("dtype");
    const auto shape_field = value.find("shape");
    const auto offsets_field = value.find("data_offsets");
    if (dtype_field == value.end() || !dtype_field->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": missing or non-string \"dtype\""));
    }
    if (shape_field == value.end() || !shape_field->is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": missing or non-array \"shape\""));
    }
    if (offsets_field == value.end() || !offsets_field->is_array() || offsets_field->size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": \"data_offsets\" must be an array [begin, end]"));
    }
    absl::StatusOr<DType> dtype = ParseDType(dtype_field->get<std::string>());
    if (!dtype.ok()) return absl::InvalidArgumentError(absl::StrCat(context, ": ", dtype.status().message()));

    Entry entry{name, *dtype, {}, 0, 0};
    uint64_t element_count = 1;
    for (const Json& dim_value : *shape_field) {
      EXPSVC_ASSIGN_OR_RETURN(const uint64_t dim, ReadUnsigned(dim_value, "shape entry", context));
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          __builtin_mul_overflow(element_count, dim, &element_count)) {
        return absl::InvalidArgumentError(absl::StrCat(context, ": shape ", shape_field->dump(), " overflows"));
      }
      entry.shape.push_back(static_cast<int64_t>(dim));
    }
    uint64_t expected_bytes = 0;
    if (__builtin_mul_overflow(element_count, static_cast<uint64_t>(DTypeSize(*dtype)), &expected_bytes) ||
        element_count > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": shape ", shape_field->dump(), " overflows"));
    }
    EXPSVC_ASSIGN_OR_RETURN(entry.begin, ReadUnsigned((*offsets_field)[0], "data_offsets begin", context));
    EXPSVC_ASSIGN_OR_RETURN(entry.end, ReadUnsigned((*offsets_field)[1], "data_offsets end", context));
    if (entry.begin > entry.end) {
      return absl::InvalidArgumentError(
          absl::StrCat(context, ": data_offsets [", entry.begin, ", ", entry.end, "] end before they begin"));
    }
    if (entry.end > data.size()) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": data_offsets [", entry.begin, ", ", entry.end,
                                                     "] run past the end of the data (", data.size(), " bytes)"));
    }
    if (entry.end - entry.begin != expected_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": data_offsets [", entry.begin, ", ", entry.end,
                                                     "] hold ", entry.end - entry.begin, " bytes but shape ",
                                                     ShapeString(entry.shape), " of ", std::string(DTypeName(*dtype)),
                                                     " needs ", expected_bytes));
    }
    entries_.push_back(std::move(entry));
  }

  // The ranges must tile the buffer: sorted by position, each starts where
  // the previous one ended (empty tensors sit anywhere on that chain).
  std::vector<const Entry*> by_position;
  for (const Entry& entry : entries_) by_position.push_back(&entry);
  std::sort(by_position.begin(), by_position.end(),
            [](const Entry* a, const Entry* b) { return std::tie(a->begin, a->end) < std::tie(b->begin, b->end); });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry* entry : by_position) {
    if (entry->begin < covered) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ": tensor '", entry->name, "' (bytes ", entry->begin,
                                                     "..", entry->end, ") overlaps tensor '", previous->name,
                                                     "' (bytes ", previous->begin, "..", previous->end, ")"));
    }
    if (entry->begin > covered) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ": bytes ", covered, "..", entry->begin,
                                                     " of the data, before tensor '", entry->name,
                                                     "', belong to no tensor"));
    }
    covered = entry->end;
    if (entry->end > entry->begin) previous = entry;
  }
  if (covered != data.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": the last ", data.size() - covered, " bytes of the data belong to no tensor"));
  }

  // Entries come out of the JSON object sorted by name; index and views.
  views_.reserve(entries_.size());
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& entry = entries_[i];
    index_by_name_.emplace(entry.name, i);
    views_.push_back(
        TensorView{entry.name, entry.dtype, entry.shape, data.subspan(entry.begin, entry.end - entry.begin)});
  }
  return absl::OkStatus();
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const Entry& entry : entries_) names.push_back(entry.name);
  return names;
}

const TensorView* SafetensorsFile::Find(std::string_view name) const {
  const auto it = index_by_name_.find(name);
  return it == index_by_name_.end() ? nullptr : &views_[it->second];
}

absl::StatusOr<TensorView> SafetensorsFile::Get(std::string_view name) const {
  if (const TensorView* view = Find(name)) return *view;
  return absl::NotFoundError(absl::StrCat(source_, " has no tensor '", std::string(name), "'"));
}

}  // namespace expsvc::lm
