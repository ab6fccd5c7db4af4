#include "worker/lm/checkpoint/dtype.h"

#include <array>
#include <utility>

#include "absl/strings/str_cat.h"

namespace expsvc::lm {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  int64_t size;
  bool floating_point;
};

constexpr std::array<DTypeInfo, 6> kDTypes = {{
    {DType::kF64, "F64", 8, true},
    {DType::kF32, "F32", 4, true},
    {DType::kF16, "F16", 2, true},
    {DType::kBF16, "BF16", 2, true},
    {DType::kI64, "I64", 8, false},
    {DType::kI32, "I32", 4, false},
}};

const DTypeInfo& Info(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info;
  }
  return kDTypes[1];  // unreachable: every enumerator is in the table
}

}  // namespace

std::string_view DTypeName(DType dtype) {
  return Info(dtype).name;
}

int64_t DTypeSize(DType dtype) {
  return Info(dtype).size;
}

bool IsFloatingPoint(DType dtype) {
  return Info(dtype).floating_point;
}

absl::StatusOr<DType> ParseDType(std::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.name == name) return info.dtype;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype \"", std::string(name), "\" (known: F64, F32, F16, BF16, I64, I32)"));
}

}  // namespace expsvc::lm
