#pragma once
// How a job kind's parameters are defined once: a plain params struct whose
// member initialisers are the defaults, and one KindDefinition that binds
// each parameter's name to its member with its help text, range or choices.
// From that single definition come the schema the scheduler validates
// against (defaults read off a default-constructed struct), the choice order
// expctl sorts report rows by, and the typed struct the job itself runs on:
//
//   struct TrainLmParams { int64_t layers = 4; ... };
//   KindDefinition<TrainLmParams> def("train_lm", "Trains ...");
//   def.Int("layers", &TrainLmParams::layers, "Decoder blocks.", {1, 256});
//   absl::StatusOr<TrainLmParams> p = def.Parse(job_params);

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kinds/param_schema.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace expsvc::kinds {

// Inclusive bounds of a numeric parameter; either may be absent.
struct Range {
  std::optional<double> min;
  std::optional<double> max;
};

template <typename Params>
class KindDefinition {
 public:
  KindDefinition(std::string name, std::string description, bool accepts_extra_params = false) {
    spec_.name = std::move(name);
    spec_.description = std::move(description);
    spec_.accepts_extra_params = accepts_extra_params;
  }

  // Owner is Params or one of its bases, so shared parameter sets (e.g. the
  // music sampling options) are bound once for every kind that has them.
  template <typename Owner>
  KindDefinition& Int(std::string name, int64_t Owner::*member, std::string help, Range range = {}) {
    return Bind(std::move(name), ParamType::kInt, static_cast<int64_t Params::*>(member), std::move(help), range);
  }
  template <typename Owner>
  KindDefinition& Double(std::string name, double Owner::*member, std::string help, Range range = {}) {
    return Bind(std::move(name), ParamType::kDouble, static_cast<double Params::*>(member), std::move(help), range);
  }
  template <typename Owner>
  KindDefinition& String(std::string name, std::string Owner::*member, std::string help) {
    return Bind(std::move(name), ParamType::kString, static_cast<std::string Params::*>(member), std::move(help), {});
  }
  template <typename Owner>
  KindDefinition& Choice(std::string name, std::string Owner::*member, std::vector<std::string> choices,
                         std::string help) {
    Bind(std::move(name), ParamType::kString, static_cast<std::string Params::*>(member), std::move(help), {});
    spec_.params.back().choices = std::move(choices);
    return *this;
  }
  // Labels: no default; absent stays nullopt (and null in the stored params).
  template <typename Owner>
  KindDefinition& OptionalString(std::string name, std::optional<std::string> Owner::*member, std::string help,
                                 std::vector<std::string> choices = {}) {
    Bind(std::move(name), ParamType::kString, static_cast<std::optional<std::string> Params::*>(member),
         std::move(help), {});
    spec_.params.back().choices = std::move(choices);
    return *this;
  }
  template <typename Owner>
  KindDefinition& OptionalDouble(std::string name, std::optional<double> Owner::*member, std::string help,
                                 Range range = {}) {
    return Bind(std::move(name), ParamType::kDouble, static_cast<std::optional<double> Params::*>(member),
                std::move(help), range);
  }

  // A list of strings the job must be given (no default).
  template <typename Owner>
  KindDefinition& RequiredStringList(std::string name, std::vector<std::string> Owner::*member, std::string help) {
    Bind(std::move(name), ParamType::kStringList, static_cast<std::vector<std::string> Params::*>(member),
         std::move(help), {});
    spec_.params.back().required = true;
    spec_.params.back().default_value = nullptr;
    return *this;
  }

  const JobKindSpec& spec() const { return spec_; }

  // Validates `params` against the schema (filling defaults) and reads every
  // parameter into the struct.
  absl::StatusOr<Params> Parse(const nlohmann::json& params) const {
    EXPSVC_ASSIGN_OR_RETURN(nlohmann::json full, ValidateJobParams(spec_, params));
    Params parsed;
    for (const auto& read : readers_) read(full, parsed);
    return parsed;
  }

 private:
  template <typename T>
  KindDefinition& Bind(std::string name, ParamType type, T Params::*member, std::string help, Range range) {
    ParamSpec param;
    param.name = std::move(name);
    param.type = type;
    param.help = std::move(help);
    param.min = range.min;
    param.max = range.max;
    const T default_value = Params{}.*member;
    if constexpr (IsOptional<T>::value) {
      if (default_value.has_value()) param.default_value = *default_value;
    } else {
      param.default_value = default_value;
    }
    readers_.push_back([key = param.name, member](const nlohmann::json& full, Params& out) {
      auto it = full.find(key);
      if (it == full.end() || it->is_null()) return;
      if constexpr (IsOptional<T>::value) {
        out.*member = it->template get<typename T::value_type>();
      } else {
        out.*member = it->template get<T>();
      }
    });
    spec_.params.push_back(std::move(param));
    return *this;
  }

  template <typename T>
  struct IsOptional : std::false_type {};
  template <typename T>
  struct IsOptional<std::optional<T>> : std::true_type {};

  JobKindSpec spec_;
  std::vector<std::function<void(const nlohmann::json&, Params&)>> readers_;
};

}  // namespace expsvc::kinds
