#include "worker/lm/tokenizer/hf_json_fields.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace expsvc::lm::hf_json {
namespace {

const nlohmann::json* Find(const nlohmann::json& object, absl::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

absl::StatusOr<std::string> ComponentType(const nlohmann::json& component, absl::string_view context) {
  if (!component.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": expected an object, got ", component.type_name()));
  }
  return RequiredString(component, "type", context);
}

absl::StatusOr<std::string> RequiredString(const nlohmann::json& object, absl::string_view key,
                                           absl::string_view context) {
  const nlohmann::json* value = Find(object, key);
  if (value == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": missing field \"", key, "\""));
  }
  if (!value->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": field \"", key, "\" must be a string, got ", value->type_name()));
  }
  return value->get<std::string>();
}

absl::StatusOr<bool> OptionalBool(const nlohmann::json& object, absl::string_view key, bool fallback,
                                  absl::string_view context) {
  const nlohmann::json* value = Find(object, key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": field \"", key, "\" must be true or false, got ", value->type_name()));
  }
  return value->get<bool>();
}

absl::StatusOr<int64_t> RequiredInteger(const nlohmann::json& object, absl::string_view key,
                                        absl::string_view context) {
  const nlohmann::json* value = Find(object, key);
  if (value == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": missing field \"", key, "\""));
  }
  if (!value->is_number_integer()) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": field \"", key, "\" must be an integer, got ", value->type_name()));
  }
  return value->get<int64_t>();
}

absl::StatusOr<const nlohmann::json*> RequiredArray(const nlohmann::json& object, absl::string_view key,
                                                    absl::string_view context) {
  const nlohmann::json* value = Find(object, key);
  if (value == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": missing field \"", key, "\""));
  }
  if (!value->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": field \"", key, "\" must be an array, got ", value->type_name()));
  }
  return value;
}

}  // namespace expsvc::lm::hf_json
