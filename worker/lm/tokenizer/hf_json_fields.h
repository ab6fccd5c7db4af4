#pragma once
// Typed reads of tokenizer.json fields that fail with a message naming the
// component and field instead of throwing (nlohmann's accessors throw on a
// wrong type).

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace expsvc::lm::hf_json {

// The "type" of a component object ("Metaspace", "Sequence", ...).
absl::StatusOr<std::string> ComponentType(const nlohmann::json& component, absl::string_view context);

absl::StatusOr<std::string> RequiredString(const nlohmann::json& object, absl::string_view key,
                                           absl::string_view context);

// `fallback` when the key is absent or null.
absl::StatusOr<bool> OptionalBool(const nlohmann::json& object, absl::string_view key, bool fallback,
                                  absl::string_view context);

absl::StatusOr<int64_t> RequiredInteger(const nlohmann::json& object, absl::string_view key, absl::string_view context);

// The array at `key`; an error when absent or not an array.
absl::StatusOr<const nlohmann::json*> RequiredArray(const nlohmann::json& object, absl::string_view key,
                                                    absl::string_view context);

}  // namespace expsvc::lm::hf_json
