#include "worker/lm/checkpoint/safetensors_writer.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <numeric>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"

namespace expsvc::lm {
namespace {

using Json = nlohmann::json;

static_assert(std::endian::native == std::endian::little, "the header length is written as is");

struct Layout {
  std::string prefix;         // 8-byte length + padded JSON header
  std::vector<size_t> order;  // indices into the tensors, in data order
};

absl::Status CheckTensor(const TensorToWrite& tensor) {
  if (tensor.name.empty()) return absl::InvalidArgumentError("tensor with an empty name");
  if (tensor.name == "__metadata__") {
    return absl::InvalidArgumentError("a tensor cannot be named __metadata__");
  }
  uint64_t elements = 1;
  for (int64_t dim : tensor.shape) {
    if (dim < 0 || __builtin_mul_overflow(elements, static_cast<uint64_t>(dim), &elements)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name, "' has an invalid shape"));
    }
  }
  if (elements * static_cast<uint64_t>(DTypeSize(tensor.dtype)) != tensor.bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name, "' has ", tensor.bytes.size(),
                                                   " bytes, its shape and dtype need ",
                                                   elements * DTypeSize(tensor.dtype)));
  }
  return absl::OkStatus();
}

absl::StatusOr<Layout> PlanLayout(std::span<const TensorToWrite> tensors,
                                  const std::map<std::string, std::string>& metadata) {
  std::set<std::string_view> names;
  for (const TensorToWrite& tensor : tensors) {
    EXPSVC_RETURN_IF_ERROR(CheckTensor(tensor));
    if (!names.insert(tensor.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name, "' is given twice"));
    }
  }
  Layout layout;
  layout.order.resize(tensors.size());
  std::iota(layout.order.begin(), layout.order.end(), 0);
  std::sort(layout.order.begin(), layout.order.end(), [&](size_t a, size_t b) {
    const int64_t size_a = DTypeSize(tensors[a].dtype);
    const int64_t size_b = DTypeSize(tensors[b].dtype);
    if (size_a != size_b) return size_a > size_b;
    return tensors[a].name < tensors[b].name;
  });

  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (size_t index : layout.order) {
    const TensorToWrite& tensor = tensors[index];
    const uint64_t end = offset + tensor.bytes.size();
    header[tensor.name] = {
        {"dtype", std::string(DTypeName(tensor.dtype))}, {"shape", tensor.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& error) {  // e.g. a name that is not valid UTF-8
    return absl::InvalidArgumentError(absl::StrCat("cannot encode the safetensors header: ", error.what()));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t header_length = text.size();
  layout.prefix.resize(8);
  std::memcpy(layout.prefix.data(), &header_length, 8);
  layout.prefix += text;
  return layout;
}

}  // namespace

absl::Status WriteSafetensorsFile(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                                  const std::map<std::string, std::string>& metadata) {
  absl::StatusOr<Layout> layout = PlanLayout(tensors, metadata);
  if (!layout.ok()) {
    return absl::Status(layout.status().code(), absl::StrCat(path.string(), ": ", layout.status().message()));
  }
  EXPSVC_ASSIGN_OR_RETURN(fs::AtomicFileWriter writer, fs::AtomicFileWriter::Create(path));
  EXPSVC_RETURN_IF_ERROR(writer.Write(layout->prefix));
  for (size_t index : layout->order) EXPSVC_RETURN_IF_ERROR(writer.Write(tensors[index].bytes));
  return writer.Commit();
}

absl::StatusOr<std::string> SerializeSafetensors(std::span<const TensorToWrite> tensors,
                                                 const std::map<std::string, std::string>& metadata) {
  EXPSVC_ASSIGN_OR_RETURN(Layout layout, PlanLayout(tensors, metadata));
  std::string image = std::move(layout.prefix);
  for (size_t index : layout.order) {
    const std::span<const std::byte> bytes = tensors[index].bytes;
    image.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  return image;
}

}  // namespace expsvc::lm
