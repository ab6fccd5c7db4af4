#include "common/kinds/param_schema.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace expsvc {
namespace {

using Json = nlohmann::json;

// Never throws: invalid UTF-8 is replaced rather than reported.
std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Bounds are doubles; print integral ones without an exponent (1000000, not 1e+06).
std::string FormatBound(double bound) {
  if (std::nearbyint(bound) == bound && std::fabs(bound) < 9e15) {
    return absl::StrCat(static_cast<int64_t>(bound));
  }
  return absl::StrCat(bound);
}

bool IsListType(ParamType type) {
  return type == ParamType::kIntList || type == ParamType::kDoubleList || type == ParamType::kStringList;
}

ParamType ElementType(ParamType list_type) {
  switch (list_type) {
    case ParamType::kIntList: return ParamType::kInt;
    case ParamType::kDoubleList: return ParamType::kDouble;
    default: return ParamType::kString;
  }
}

// Checks one scalar value (a whole parameter or one list element); the
// returned message is completed by the caller with the parameter's name.
std::string CheckScalar(const ParamSpec& spec, ParamType type, const Json& value) {
  switch (type) {
    case ParamType::kInt:
      if (value.is_number_float()) {
        return absl::StrCat("expected an integer, got ", Dump(value),
                            " (a floating-point value is not accepted for an integer, even a whole one)");
      }
      if (!value.is_number_integer()) return absl::StrCat("expected an integer, got ", Dump(value));
      if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()}) {
        return absl::StrCat("integer ", Dump(value), " does not fit in 64 bits");
      }
      break;
    case ParamType::kDouble:
      if (!value.is_number()) return absl::StrCat("expected a number, got ", Dump(value));
      if (!std::isfinite(value.get<double>())) return absl::StrCat("expected a finite number, got ", Dump(value));
      break;
    case ParamType::kString:
      if (!value.is_string()) return absl::StrCat("expected a string, got ", Dump(value));
      if (!spec.choices.empty()) {
        const auto& text = value.get_ref<const std::string&>();
        bool allowed = false;
        for (const std::string& choice : spec.choices) allowed = allowed || choice == text;
        if (!allowed) {
          return absl::StrCat(Dump(value), " is not one of the choices: ", absl::StrJoin(spec.choices, ", "));
        }
      }
      return "";
    case ParamType::kBool: return value.is_boolean() ? "" : absl::StrCat("expected true or false, got ", Dump(value));
    case ParamType::kObject: return value.is_object() ? "" : absl::StrCat("expected an object, got ", Dump(value));
    default: return "internal error: list type checked as a scalar";
  }
  // Numbers only from here on.
  const double number = value.get<double>();
  if (spec.min && number < *spec.min) {
    return absl::StrCat(Dump(value), " is below the minimum ", FormatBound(*spec.min));
  }
  if (spec.max && number > *spec.max) {
    return absl::StrCat(Dump(value), " is above the maximum ", FormatBound(*spec.max));
  }
  return "";
}

std::string CheckValue(const ParamSpec& spec, const Json& value) {
  if (!IsListType(spec.type)) return CheckScalar(spec, spec.type, value);
  if (!value.is_array()) return absl::StrCat("expected a list, got ", Dump(value));
  for (size_t i = 0; i < value.size(); ++i) {
    std::string problem = CheckScalar(spec, ElementType(spec.type), value[i]);
    if (!problem.empty()) return absl::StrCat("element ", i, ": ", problem);
  }
  return "";
}

absl::Status CheckGivenParam(const JobKindSpec& kind, const std::string& name, const Json& value) {
  const ParamSpec* spec = kind.FindParam(name);
  if (spec == nullptr && kind.accepts_extra_params) return absl::OkStatus();
  if (spec == nullptr) {
    std::vector<std::string> known;
    for (const ParamSpec& candidate : kind.params) known.push_back(candidate.name);
    return absl::InvalidArgumentError(absl::StrCat("kind '", kind.name, "' has no parameter '", name, "' (known: ",
                                                   known.empty() ? "none" : absl::StrJoin(known, ", "), ")"));
  }
  if (value.is_null()) return absl::OkStatus();
  std::string problem = CheckValue(*spec, value);
  if (problem.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("parameter '", name, "' of kind '", kind.name, "': ", problem));
}

}  // namespace

const ParamSpec* JobKindSpec::FindParam(std::string_view param_name) const {
  for (const ParamSpec& spec : params) {
    if (spec.name == param_name) return &spec;
  }
  return nullptr;
}

std::string_view ParamTypeName(ParamType type) {
  switch (type) {
    case ParamType::kInt: return "int";
    case ParamType::kDouble: return "double";
    case ParamType::kString: return "string";
    case ParamType::kBool: return "bool";
    case ParamType::kIntList: return "list of int";
    case ParamType::kDoubleList: return "list of double";
    case ParamType::kStringList: return "list of string";
    case ParamType::kObject: return "object";
  }
  return "unknown";
}

absl::StatusOr<Json> ValidateJobParams(const JobKindSpec& kind, const Json& params) {
  // Null stands for "no parameters" (e.g. a job submitted without any).
  if (!params.is_object() && !params.is_null()) {
    return absl::InvalidArgumentError(
        absl::StrCat("params of kind '", kind.name, "' must be a JSON object, got ", Dump(params)));
  }
  Json result = Json::object();
  if (params.is_object()) {
    for (const auto& [name, value] : params.items()) {
      EXPSVC_RETURN_IF_ERROR(CheckGivenParam(kind, name, value));
      // An explicit null means "not given", as a null default does.
      if (!value.is_null()) result[name] = value;
    }
  }
  for (const ParamSpec& spec : kind.params) {
    if (result.contains(spec.name)) continue;
    if (spec.required) {
      return absl::InvalidArgumentError(absl::StrCat("kind '", kind.name, "': missing required parameter '", spec.name,
                                                     "' (", std::string(ParamTypeName(spec.type)), ")"));
    }
    if (!spec.default_value.is_null()) result[spec.name] = spec.default_value;
  }
  return result;
}

}  // namespace expsvc
