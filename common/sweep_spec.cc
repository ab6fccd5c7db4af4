#include "common/sweep_spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/job_kind_catalog.h"
#include "common/status_macros.h"

namespace expsvc {
namespace {

using Json = nlohmann::json;
using Fields = std::map<std::string, YAML::Node>;

// Limits that keep hostile or mistaken files (alias bombs, self-referencing
// anchors, deep nesting, quadratic dependencies) from exhausting memory or
// the stack. They sit far above any real sweep.
constexpr int64_t kMaxDocumentValues = 250'000;  // YAML values, aliases expanded
constexpr int kMaxNesting = 100;
constexpr int64_t kMaxExpandedValues = 50'000'000;  // JSON values over all jobs' params
constexpr int64_t kMaxDependencyEdges = 10'000'000;
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();

int64_t SaturatingMul(int64_t a, int64_t b) {
  int64_t product;
  return __builtin_mul_overflow(a, b, &product) ? kInt64Max : product;
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  return __builtin_add_overflow(a, b, &sum) ? kInt64Max : sum;
}

// Never throws: invalid UTF-8 is replaced rather than reported.
std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Axis values compare as JSON values, so 2 and 2.0 must give the same key.
std::string MatchKey(const Json& value) {
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (std::nearbyint(number) == number && std::fabs(number) < 9e15) {
      return absl::StrCat(static_cast<int64_t>(number));
    }
  }
  return Dump(value);
}

// A param absent from a job (an explicit null is dropped) reads as null.
const Json& ParamOrNull(const Json& params, const std::string& name) {
  static const Json* const kNull = new Json(nullptr);
  auto it = params.find(name);
  return it == params.end() ? *kNull : *it;
}

int64_t CountValues(const Json& value) {
  int64_t count = 1;
  if (value.is_structured()) {
    for (const Json& child : value) count += CountValues(child);
  }
  return count;
}

// Strings end up in PostgreSQL jsonb, which rejects invalid UTF-8.
bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t extra;
    uint32_t code;
    if ((lead >> 5) == 0x6) {
      extra = 1, code = lead & 0x1F;
    } else if ((lead >> 4) == 0xE) {
      extra = 2, code = lead & 0x0F;
    } else if ((lead >> 3) == 0x1E) {
      extra = 3, code = lead & 0x07;
    } else {
      return false;
    }
    if (text.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next >> 6) != 0x2) return false;
      code = (code << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
    if (code < kSmallest[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

bool IsDecimalInteger(absl::string_view text) {
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) text.remove_prefix(1);
  return !text.empty() && std::all_of(text.begin(), text.end(), IsDigit);
}

// YAML 1.2 core schema: [-+]? (\.[0-9]+ | [0-9]+(\.[0-9]*)?) ([eE][-+]?[0-9]+)?
bool IsDecimalFloat(absl::string_view text) {
  size_t i = 0;
  auto skip_digits = [&] {
    const size_t start = i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    return i - start;
  };
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  size_t mantissa_digits = skip_digits();
  if (i < text.size() && text[i] == '.') {
    ++i;
    mantissa_digits += skip_digits();
  }
  if (mantissa_digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (skip_digits() == 0) return false;
  }
  return i == text.size();
}

template <typename Number>
std::optional<Number> ParseNumber(absl::string_view text, int base = 10) {
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);  // from_chars takes no '+'
  Number number{};
  std::from_chars_result result;
  if constexpr (std::is_floating_point_v<Number>) {
    result = std::from_chars(text.data(), text.data() + text.size(), number);
  } else {
    result = std::from_chars(text.data(), text.data() + text.size(), number, base);
  }
  if (result.ec != std::errc() || result.ptr != text.data() + text.size()) return std::nullopt;
  return number;
}

// Resolves an untagged plain scalar the way YAML 1.2's core schema does.
// nullopt: a number that does not fit (an int64 or a double).
std::optional<Json> ResolvePlainScalar(absl::string_view text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return Json(nullptr);
  if (text == "true" || text == "True" || text == "TRUE") return Json(true);
  if (text == "false" || text == "False" || text == "FALSE") return Json(false);
  auto as_json = [](auto number) { return number ? std::optional<Json>(*number) : std::nullopt; };
  if (IsDecimalInteger(text)) return as_json(ParseNumber<int64_t>(text));
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'o')) {
    std::optional<int64_t> number = ParseNumber<int64_t>(text.substr(2), text[1] == 'x' ? 16 : 8);
    if (number) return Json(*number);
  }
  if (IsDecimalFloat(text)) return as_json(ParseNumber<double>(text));
  const absl::string_view unsigned_text = text[0] == '+' || text[0] == '-' ? text.substr(1) : text;
  if (unsigned_text == ".inf" || unsigned_text == ".Inf" || unsigned_text == ".INF") {
    return Json(text[0] == '-' ? -HUGE_VAL : HUGE_VAL);
  }
  if (text == ".nan" || text == ".NaN" || text == ".NAN") return Json(std::nan(""));
  return Json(std::string(text));
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: {
      constexpr size_t kShown = 60;  // keeps error messages readable
      const std::string& text = node.Scalar();
      return text.size() <= kShown ? absl::StrCat("'", text, "'") : absl::StrCat("'", text.substr(0, kShown), "...'");
    }
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    default: return "nothing";
  }
}

struct Axis {
  std::string name;
  std::vector<Json> values;
  int64_t max_value_size = 1;  // in JSON values, for the size estimate
};

struct StageSettings {
  int32_t priority = 0;
  int32_t max_attempts = 3;
  JobResources resources;
};

struct Stage {
  std::string name;
  YAML::Mark mark;
  const JobKindSpec* kind = nullptr;
  Json fixed_params = Json::object();
  std::vector<Axis> grid;
  std::vector<Axis> zip;
  std::vector<std::string> group_by;
  std::vector<std::pair<std::string, YAML::Mark>> depends_on;
  std::vector<int> parents;  // indices into the stages, in file order
  StageSettings settings;
  // The keys every job's params may carry: fixed, axes and kind defaults.
  std::set<std::string> param_names;
  int64_t job_count = 0;
};

class SweepParser {
 public:
  SweepParser(std::string file_name, const ExpandOptions& options) : file_(std::move(file_name)), options_(options) {}

  absl::StatusOr<SweepPlan> Parse(const std::string& yaml_text);

 private:
  absl::Status Error(absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ": ", message));
  }
  absl::Status ErrorAt(const YAML::Mark& mark, absl::string_view message) const {
    if (mark.is_null()) return Error(message);
    return absl::InvalidArgumentError(absl::StrCat(file_, ":", mark.line + 1, ":", mark.column + 1, ": ", message));
  }

  absl::StatusOr<Json> ToJson(const YAML::Node& node, int depth = 0);
  absl::StatusOr<Json> ScalarToJson(const YAML::Node& node);
  absl::StatusOr<std::string> ReadString(const YAML::Node& node, absl::string_view what);
  absl::StatusOr<int64_t> ReadInt(const YAML::Node& node, absl::string_view what, int64_t min, int64_t max);
  absl::StatusOr<std::vector<std::pair<std::string, YAML::Mark>>> ReadNames(const YAML::Node& node,
                                                                            absl::string_view what);
  absl::StatusOr<Fields> ReadFields(const YAML::Node& node, absl::string_view what,
                                    std::initializer_list<absl::string_view> known);
  absl::Status ReadSettings(const Fields& fields, absl::string_view what, StageSettings& settings);
  absl::StatusOr<std::vector<Axis>> ReadAxes(const YAML::Node& node, absl::string_view what);
  absl::StatusOr<Stage> ReadStage(const YAML::Node& node, const StageSettings& defaults);
  absl::StatusOr<std::vector<int>> TopologicalOrder(const std::vector<Stage>& stages) const;
  absl::Status CheckSize(const std::vector<Stage>& stages) const;
  absl::Status Expand(const std::vector<Stage>& stages, const std::vector<int>& order, SweepPlan& plan) const;

  const std::string file_;
  const ExpandOptions options_;
  int64_t values_left_ = kMaxDocumentValues;
};

absl::StatusOr<Json> SweepParser::ScalarToJson(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (!IsValidUtf8(text)) return ErrorAt(node.Mark(), "text is not valid UTF-8");
  // Quoted scalars carry the non-specific tag "!" and stay strings: "1" is not 1.
  if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return Json(text);
  std::optional<Json> value = ResolvePlainScalar(text);
  if (!value) return ErrorAt(node.Mark(), absl::StrCat("number ", text, " is out of range"));
  return *std::move(value);
}

absl::StatusOr<Json> SweepParser::ToJson(const YAML::Node& node, int depth) {
  if (--values_left_ < 0) {
    return ErrorAt(node.Mark(), absl::StrCat("the file holds over ", kMaxDocumentValues, " values (aliases expanded)"));
  }
  if (depth > kMaxNesting) {
    return ErrorAt(node.Mark(), absl::StrCat("values nest deeper than ", kMaxNesting, " levels"));
  }
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return ScalarToJson(node);
    case YAML::NodeType::Sequence: {
      Json list = Json::array();
      for (const YAML::Node& element : node) {
        EXPSVC_ASSIGN_OR_RETURN(Json value, ToJson(element, depth + 1));
        list.push_back(std::move(value));
      }
      return list;
    }
    case YAML::NodeType::Map: {
      Json object = Json::object();
      for (const auto& entry : node) {
        EXPSVC_ASSIGN_OR_RETURN(std::string key, ReadString(entry.first, "a map key"));
        if (object.contains(key)) return ErrorAt(entry.first.Mark(), absl::StrCat("duplicate key '", key, "'"));
        EXPSVC_ASSIGN_OR_RETURN(Json value, ToJson(entry.second, depth + 1));
        object[key] = std::move(value);
      }
      return object;
    }
    default: return Json(nullptr);
  }
}

absl::StatusOr<std::string> SweepParser::ReadString(const YAML::Node& node, absl::string_view what) {
  if (!node.IsScalar()) {
    return ErrorAt(node.Mark(), absl::StrCat(what, " must be a string, got ", Describe(node)));
  }
  if (!IsValidUtf8(node.Scalar())) return ErrorAt(node.Mark(), "text is not valid UTF-8");
  return node.Scalar();
}

absl::StatusOr<int64_t> SweepParser::ReadInt(const YAML::Node& node, absl::string_view what, int64_t min, int64_t max) {
  std::optional<Json> value;
  if (node.IsScalar()) {
    EXPSVC_ASSIGN_OR_RETURN(value, ScalarToJson(node));
  }
  if (!value || !value->is_number_integer() || value->is_number_unsigned() || value->get<int64_t>() < min ||
      value->get<int64_t>() > max) {
    return ErrorAt(node.Mark(), absl::StrCat("'", what, "' must be an integer in [", min, ", ", max, "], got ",
                                             value ? Dump(*value) : Describe(node)));
  }
  return value->get<int64_t>();
}

// A name or a list of names (depends_on, group_by), with where each stands.
absl::StatusOr<std::vector<std::pair<std::string, YAML::Mark>>> SweepParser::ReadNames(const YAML::Node& node,
                                                                                       absl::string_view what) {
  std::vector<std::pair<std::string, YAML::Mark>> names;
  if (node.IsNull()) return names;
  if (node.IsScalar()) {
    EXPSVC_ASSIGN_OR_RETURN(std::string name, ReadString(node, what));
    names.emplace_back(std::move(name), node.Mark());
    return names;
  }
  if (!node.IsSequence()) {
    return ErrorAt(node.Mark(), absl::StrCat(what, " must be a name or a list of names, got ", Describe(node)));
  }
  for (const YAML::Node& element : node) {
    EXPSVC_ASSIGN_OR_RETURN(std::string name, ReadString(element, absl::StrCat("an entry of ", what)));
    names.emplace_back(std::move(name), element.Mark());
  }
  return names;
}

absl::StatusOr<Fields> SweepParser::ReadFields(const YAML::Node& node, absl::string_view what,
                                               std::initializer_list<absl::string_view> known) {
  if (!node.IsMap()) return ErrorAt(node.Mark(), absl::StrCat(what, " must be a map, got ", Describe(node)));
  Fields fields;
  for (const auto& entry : node) {
    EXPSVC_ASSIGN_OR_RETURN(std::string key, ReadString(entry.first, "a key"));
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return ErrorAt(entry.first.Mark(),
                     absl::StrCat("unknown key '", key, "' in ", what, " (known: ", absl::StrJoin(known, ", "), ")"));
    }
    if (!fields.emplace(key, entry.second).second) {
      return ErrorAt(entry.first.Mark(), absl::StrCat("duplicate key '", key, "' in ", what));
    }
  }
  return fields;
}

// priority, max_attempts and resources, shared by `defaults` and stages;
// each given field overrides the one inherited.
absl::Status SweepParser::ReadSettings(const Fields& fields, absl::string_view what, StageSettings& settings) {
  if (auto it = fields.find("priority"); it != fields.end()) {
    EXPSVC_ASSIGN_OR_RETURN(settings.priority, ReadInt(it->second, "priority", kInt32Min, kInt32Max));
  }
  if (auto it = fields.find("max_attempts"); it != fields.end()) {
    EXPSVC_ASSIGN_OR_RETURN(settings.max_attempts, ReadInt(it->second, "max_attempts", 1, kInt32Max));
  }
  if (auto it = fields.find("resources"); it != fields.end() && !it->second.IsNull()) {
    EXPSVC_ASSIGN_OR_RETURN(Fields resources, ReadFields(it->second, absl::StrCat("the resources of ", what),
                                                         {"cpu_cores", "memory_mb", "gpus"}));
    JobResources& target = settings.resources;
    if (auto r = resources.find("cpu_cores"); r != resources.end()) {
      EXPSVC_ASSIGN_OR_RETURN(target.cpu_cores, ReadInt(r->second, "cpu_cores", 0, kInt32Max));
    }
    if (auto r = resources.find("memory_mb"); r != resources.end()) {
      EXPSVC_ASSIGN_OR_RETURN(target.memory_mb, ReadInt(r->second, "memory_mb", 0, kInt64Max));
    }
    if (auto r = resources.find("gpus"); r != resources.end()) {
      EXPSVC_ASSIGN_OR_RETURN(target.gpus, ReadInt(r->second, "gpus", 0, kInt32Max));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Axis>> SweepParser::ReadAxes(const YAML::Node& node, absl::string_view what) {
  std::vector<Axis> axes;
  if (node.IsNull()) return axes;
  if (!node.IsMap()) return ErrorAt(node.Mark(), absl::StrCat(what, " must be a map, got ", Describe(node)));
  for (const auto& entry : node) {
    Axis axis;
    EXPSVC_ASSIGN_OR_RETURN(axis.name, ReadString(entry.first, "an axis name"));
    for (const Axis& earlier : axes) {
      if (earlier.name == axis.name) {
        return ErrorAt(entry.first.Mark(), absl::StrCat(what, " names axis '", axis.name, "' twice"));
      }
    }
    if (!entry.second.IsSequence() || entry.second.size() == 0) {
      return ErrorAt(entry.second.Mark(), absl::StrCat(what, " axis '", axis.name, "' must be a non-empty list, got ",
                                                       Describe(entry.second)));
    }
    for (const YAML::Node& element : entry.second) {
      EXPSVC_ASSIGN_OR_RETURN(Json value, ToJson(element, 1));
      axis.max_value_size = std::max(axis.max_value_size, CountValues(value));
      axis.values.push_back(std::move(value));
    }
    axes.push_back(std::move(axis));
  }
  return axes;
}

absl::StatusOr<Stage> SweepParser::ReadStage(const YAML::Node& node, const StageSettings& defaults) {
  std::string what = "a stage";
  if (node.IsMap()) {
    // A const lookup of a missing key gives an invalid node, which throws on
    // anything but IsDefined().
    const YAML::Node name = node["name"];
    if (name.IsDefined() && name.IsScalar()) what = absl::StrCat("stage '", name.Scalar(), "'");
  }
  EXPSVC_ASSIGN_OR_RETURN(Fields fields, ReadFields(node, what,
                                                    {"name", "kind", "params", "grid", "zip", "group_by", "depends_on",
                                                     "resources", "priority", "max_attempts"}));
  Stage stage;
  stage.mark = node.Mark();
  auto field = [&fields](const std::string& key) {
    auto it = fields.find(key);
    return it == fields.end() ? YAML::Node() : it->second;
  };

  if (!fields.contains("name")) return ErrorAt(node.Mark(), "a stage has no 'name'");
  EXPSVC_ASSIGN_OR_RETURN(stage.name, ReadString(field("name"), "a stage's 'name'"));
  if (stage.name.empty() || !std::all_of(stage.name.begin(), stage.name.end(), [](char c) {
        return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
      })) {
    return ErrorAt(field("name").Mark(),
                   absl::StrCat("stage name '", stage.name, "' must be letters, digits, '_' or '-'"));
  }
  const std::string prefix = absl::StrCat("stage '", stage.name, "': ");

  if (!fields.contains("kind")) return ErrorAt(node.Mark(), absl::StrCat(prefix, "missing 'kind'"));
  EXPSVC_ASSIGN_OR_RETURN(std::string kind, ReadString(field("kind"), absl::StrCat(prefix, "'kind'")));
  stage.kind = FindJobKind(kind);
  if (stage.kind == nullptr) {
    std::vector<absl::string_view> known;
    for (const JobKindSpec& spec : AllJobKinds()) known.push_back(spec.name);
    return ErrorAt(field("kind").Mark(),
                   absl::StrCat(prefix, "unknown kind '", kind, "' (known: ", absl::StrJoin(known, ", "), ")"));
  }

  if (YAML::Node params = field("params"); params.IsDefined() && !params.IsNull()) {
    if (!params.IsMap()) {
      return ErrorAt(params.Mark(), absl::StrCat(prefix, "'params' must be a map, got ", Describe(params)));
    }
    EXPSVC_ASSIGN_OR_RETURN(stage.fixed_params, ToJson(params));
  }
  EXPSVC_ASSIGN_OR_RETURN(stage.grid, ReadAxes(field("grid"), absl::StrCat(prefix, "grid")));
  EXPSVC_ASSIGN_OR_RETURN(stage.zip, ReadAxes(field("zip"), absl::StrCat(prefix, "zip")));

  for (const Axis& axis : stage.zip) {
    if (axis.values.size() != stage.zip.front().values.size()) {
      return ErrorAt(field("zip").Mark(), absl::StrCat(prefix, "zip lists differ in length: '", stage.zip.front().name,
                                                       "' has ", stage.zip.front().values.size(), " values, '",
                                                       axis.name, "' has ", axis.values.size()));
    }
  }
  for (const Axis& axis : stage.grid) {
    for (const Axis& zip_axis : stage.zip) {
      if (axis.name == zip_axis.name) {
        return ErrorAt(field("zip").Mark(), absl::StrCat(prefix, "'", axis.name, "' is both a grid and a zip axis"));
      }
    }
  }
  stage.job_count = 1;
  for (const std::vector<Axis>* axes : {&stage.grid, &stage.zip}) {
    for (const Axis& axis : *axes) {
      if (stage.fixed_params.contains(axis.name)) {
        return ErrorAt(field("params").Mark(),
                       absl::StrCat(prefix, "'", axis.name, "' is both a fixed parameter and an axis"));
      }
      stage.param_names.insert(axis.name);
    }
  }
  for (const Axis& axis : stage.grid) stage.job_count = SaturatingMul(stage.job_count, axis.values.size());
  if (!stage.zip.empty()) stage.job_count = SaturatingMul(stage.job_count, stage.zip.front().values.size());

  for (const auto& [name, value] : stage.fixed_params.items()) {
    if (!value.is_null()) stage.param_names.insert(name);
  }
  for (const ParamSpec& spec : stage.kind->params) {
    if (!spec.default_value.is_null()) stage.param_names.insert(spec.name);
  }

  EXPSVC_ASSIGN_OR_RETURN(auto group_by, ReadNames(field("group_by"), absl::StrCat(prefix, "'group_by'")));
  for (auto& [name, mark] : group_by) {
    if (!stage.param_names.contains(name)) {
      return ErrorAt(mark, absl::StrCat(prefix, "group_by names '", name, "', which is not a parameter of its jobs (",
                                        absl::StrJoin(stage.param_names, ", "), ")"));
    }
    stage.group_by.push_back(std::move(name));
  }
  EXPSVC_ASSIGN_OR_RETURN(stage.depends_on, ReadNames(field("depends_on"), absl::StrCat(prefix, "'depends_on'")));

  stage.settings = defaults;
  EXPSVC_RETURN_IF_ERROR(ReadSettings(fields, absl::StrCat("stage '", stage.name, "'"), stage.settings));
  return stage;
}

// Kahn's algorithm, always taking the earliest stage in the file that is
// ready, so independent stages keep their file order.
absl::StatusOr<std::vector<int>> SweepParser::TopologicalOrder(const std::vector<Stage>& stages) const {
  const int count = static_cast<int>(stages.size());
  std::vector<int> parents_left(count);
  std::vector<std::vector<int>> children(count);
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < count; ++i) {
    parents_left[i] = static_cast<int>(stages[i].parents.size());
    for (int parent : stages[i].parents) children[parent].push_back(i);
    if (parents_left[i] == 0) ready.push(i);
  }
  std::vector<int> order;
  while (!ready.empty()) {
    const int next = ready.top();
    ready.pop();
    order.push_back(next);
    for (int child : children[next]) {
      if (--parents_left[child] == 0) ready.push(child);
    }
  }
  if (static_cast<int>(order.size()) == count) return order;

  // Every stage left has a parent left: follow parents until one repeats.
  std::vector<int> position_in_path(count, -1);
  std::vector<int> path;
  int current = static_cast<int>(
      std::find_if(parents_left.begin(), parents_left.end(), [](int left) { return left > 0; }) - parents_left.begin());
  while (position_in_path[current] < 0) {
    position_in_path[current] = static_cast<int>(path.size());
    path.push_back(current);
    for (int parent : stages[current].parents) {
      if (parents_left[parent] > 0) {
        current = parent;
        break;
      }
    }
  }
  std::vector<int> cycle(path.begin() + position_in_path[current], path.end());
  std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
  cycle.push_back(cycle.front());
  std::vector<absl::string_view> names;
  for (int stage : cycle) names.push_back(stages[stage].name);
  return ErrorAt(stages[cycle.front()].mark,
                 absl::StrCat("dependency cycle: ", absl::StrJoin(names, " -> "), " (each stage depends on the next)"));
}

// Refuses oversized sweeps from counts alone, before any job is built.
absl::Status SweepParser::CheckSize(const std::vector<Stage>& stages) const {
  int64_t total_jobs = 0;
  int64_t total_values = 0;
  for (const Stage& stage : stages) {
    total_jobs = SaturatingAdd(total_jobs, stage.job_count);
    int64_t values_per_job = CountValues(stage.fixed_params) + static_cast<int64_t>(stage.kind->params.size());
    for (const std::vector<Axis>* axes : {&stage.grid, &stage.zip}) {
      for (const Axis& axis : *axes) values_per_job += axis.max_value_size;
    }
    total_values = SaturatingAdd(total_values, SaturatingMul(stage.job_count, values_per_job));
  }
  if (total_jobs > options_.max_jobs) {
    return Error(absl::StrCat("sweep expands to ", total_jobs == kInt64Max ? "over 9e18" : absl::StrCat(total_jobs),
                              " jobs, over the limit of ", options_.max_jobs));
  }
  if (total_values > kMaxExpandedValues) {
    return Error(absl::StrCat("sweep expands to over ", kMaxExpandedValues,
                              " parameter values in all; make the fixed parameters or axis values smaller"));
  }
  return absl::OkStatus();
}

absl::Status SweepParser::Expand(const std::vector<Stage>& stages, const std::vector<int>& order,
                                 SweepPlan& plan) const {
  // Where each stage's jobs lie in plan.jobs: [first, end).
  std::vector<std::pair<int64_t, int64_t>> job_ranges(stages.size());
  int64_t edges = 0;
  for (int stage_index : order) {
    const Stage& stage = stages[stage_index];
    const std::string prefix = absl::StrCat("stage '", stage.name, "' job ");

    // Per parent stage: its axes that this stage's jobs also carry, and its
    // jobs indexed by their values on them.
    struct ParentLookup {
      const Stage* stage = nullptr;
      std::vector<std::string> keys;
      std::unordered_map<std::string, std::vector<int64_t>> jobs_by_key;
      std::vector<int64_t> all_jobs;
    };
    auto key_of = [](const Json& params, const std::vector<std::string>& keys) {
      std::string key;
      for (const std::string& name : keys) absl::StrAppend(&key, MatchKey(ParamOrNull(params, name)), "\x1f");
      return key;
    };
    std::vector<ParentLookup> lookups;
    for (int parent_index : stage.parents) {
      const Stage& parent = stages[parent_index];
      ParentLookup& lookup = lookups.emplace_back();
      lookup.stage = &parent;
      for (const std::vector<Axis>* axes : {&parent.grid, &parent.zip}) {
        for (const Axis& axis : *axes) {
          if (stage.param_names.contains(axis.name)) lookup.keys.push_back(axis.name);
        }
      }
      for (int64_t job = job_ranges[parent_index].first; job < job_ranges[parent_index].second; ++job) {
        lookup.all_jobs.push_back(job);
        if (!lookup.keys.empty()) lookup.jobs_by_key[key_of(plan.jobs[job].params, lookup.keys)].push_back(job);
      }
    }

    const int64_t first_job = static_cast<int64_t>(plan.jobs.size());
    const int64_t zip_rows = stage.zip.empty() ? 1 : static_cast<int64_t>(stage.zip.front().values.size());
    std::unordered_set<std::string> groups;
    for (int64_t n = 0; n < stage.job_count; ++n) {
      // n in mixed radix: first grid axis outermost, zip rows innermost.
      Json params = stage.fixed_params;
      int64_t rest = n;
      const int64_t zip_row = rest % zip_rows;
      rest /= zip_rows;
      for (auto axis = stage.grid.rbegin(); axis != stage.grid.rend(); ++axis) {
        const auto size = static_cast<int64_t>(axis->values.size());
        params[axis->name] = axis->values[rest % size];
        rest /= size;
      }
      for (const Axis& axis : stage.zip) params[axis.name] = axis.values[zip_row];

      absl::StatusOr<Json> validated = ValidateJobParams(*stage.kind, params);
      if (!validated.ok()) {
        return ErrorAt(stage.mark, absl::StrCat(prefix, Dump(params), ": ", validated.status().message()));
      }
      PlannedJob job;
      job.stage = stage.name;
      job.kind = stage.kind->name;
      job.params = *std::move(validated);
      job.priority = stage.settings.priority;
      job.max_attempts = stage.settings.max_attempts;
      job.resources = stage.settings.resources;
      if (!stage.group_by.empty()) {
        job.group_key = stage.name;
        for (const std::string& name : stage.group_by) {
          absl::StrAppend(&job.group_key, "|", name, "=", Dump(ParamOrNull(job.params, name)));
        }
        groups.insert(job.group_key);
      }
      for (const ParentLookup& lookup : lookups) {
        const std::vector<int64_t>* parents = &lookup.all_jobs;
        if (!lookup.keys.empty()) {
          auto it = lookup.jobs_by_key.find(key_of(job.params, lookup.keys));
          if (it == lookup.jobs_by_key.end()) {
            std::vector<std::string> wanted;
            for (const std::string& name : lookup.keys) {
              wanted.push_back(absl::StrCat(name, "=", Dump(ParamOrNull(job.params, name))));
            }
            return ErrorAt(stage.mark, absl::StrCat(prefix, Dump(job.params), ": no job of stage '", lookup.stage->name,
                                                    "' has ", absl::StrJoin(wanted, ", ")));
          }
          parents = &it->second;
        }
        edges += static_cast<int64_t>(parents->size());
        if (edges > kMaxDependencyEdges) {
          return Error(absl::StrCat("sweep has over ", kMaxDependencyEdges,
                                    " dependencies between jobs; share an axis between a stage and its parents so "
                                    "each job depends on fewer"));
        }
        job.parents.insert(job.parents.end(), parents->begin(), parents->end());
      }
      plan.jobs.push_back(std::move(job));
    }
    job_ranges[stage_index] = {first_job, static_cast<int64_t>(plan.jobs.size())};
    plan.stages.push_back(StageSummary{.name = stage.name,
                                       .kind = stage.kind->name,
                                       .jobs = stage.job_count,
                                       .groups = static_cast<int64_t>(groups.size())});
    // Group keys start with the stage name, so no two stages share one.
    plan.groups += static_cast<int64_t>(groups.size());
  }
  return absl::OkStatus();
}

absl::StatusOr<SweepPlan> SweepParser::Parse(const std::string& yaml_text) {
  // Malformed YAML throws; ParseSweep turns that into an error at its mark.
  const YAML::Node root = YAML::Load(yaml_text);
  if (!root.IsDefined() || root.IsNull()) return Error("the file is empty; a sweep needs 'name' and 'stages'");
  EXPSVC_ASSIGN_OR_RETURN(Fields fields, ReadFields(root, "the sweep", {"name", "description", "defaults", "stages"}));

  SweepPlan plan;
  if (!fields.contains("name")) return ErrorAt(root.Mark(), "the sweep has no 'name'");
  EXPSVC_ASSIGN_OR_RETURN(plan.name, ReadString(fields["name"], "'name'"));
  if (plan.name.empty()) return ErrorAt(fields["name"].Mark(), "'name' must not be empty");
  if (fields.contains("description") && !fields["description"].IsNull()) {
    EXPSVC_RETURN_IF_ERROR(ReadString(fields["description"], "'description'").status());
  }

  StageSettings defaults;
  if (fields.contains("defaults") && !fields["defaults"].IsNull()) {
    EXPSVC_ASSIGN_OR_RETURN(Fields default_fields,
                            ReadFields(fields["defaults"], "'defaults'", {"priority", "max_attempts", "resources"}));
    EXPSVC_RETURN_IF_ERROR(ReadSettings(default_fields, "'defaults'", defaults));
  }

  if (!fields.contains("stages")) return ErrorAt(root.Mark(), "the sweep has no 'stages'");
  const YAML::Node stage_nodes = fields["stages"];
  if (!stage_nodes.IsSequence() || stage_nodes.size() == 0) {
    return ErrorAt(stage_nodes.Mark(), absl::StrCat("'stages' must be a non-empty list, got ", Describe(stage_nodes)));
  }
  std::vector<Stage> stages;
  std::map<std::string, int> stage_by_name;
  for (const YAML::Node& stage_node : stage_nodes) {
    EXPSVC_ASSIGN_OR_RETURN(Stage stage, ReadStage(stage_node, defaults));
    const int index = static_cast<int>(stages.size());
    if (auto [it, added] = stage_by_name.emplace(stage.name, index); !added) {
      return ErrorAt(stage.mark, absl::StrCat("duplicate stage name '", stage.name, "' (first at line ",
                                              stages[it->second].mark.line + 1, ")"));
    }
    stages.push_back(std::move(stage));
  }
  for (Stage& stage : stages) {
    for (const auto& [name, mark] : stage.depends_on) {
      auto it = stage_by_name.find(name);
      if (it == stage_by_name.end()) {
        std::vector<absl::string_view> known;
        for (const Stage& other : stages) known.push_back(other.name);
        return ErrorAt(mark, absl::StrCat("stage '", stage.name, "': depends_on names unknown stage '", name,
                                          "' (stages: ", absl::StrJoin(known, ", "), ")"));
      }
      if (std::find(stage.parents.begin(), stage.parents.end(), it->second) == stage.parents.end()) {
        stage.parents.push_back(it->second);
      }
    }
  }

  EXPSVC_ASSIGN_OR_RETURN(std::vector<int> order, TopologicalOrder(stages));
  EXPSVC_RETURN_IF_ERROR(CheckSize(stages));
  EXPSVC_RETURN_IF_ERROR(Expand(stages, order, plan));
  return plan;
}

}  // namespace

absl::StatusOr<SweepPlan> ParseSweep(std::string_view yaml_text, std::string_view file_name,
                                     const ExpandOptions& options) {
  // yaml-cpp reports malformed YAML (and accessors misused on shapes the
  // checks did not foresee) by throwing; no exception may escape.
  try {
    return SweepParser(std::string(file_name), options).Parse(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    // yaml-cpp's depth guard (DeepRecursion, not an exported type) says only "bad file".
    const std::string message = e.msg == "bad file" ? "values nest too deeply" : e.msg;
    const std::string location = e.mark.is_null() ? "" : absl::StrCat(":", e.mark.line + 1, ":", e.mark.column + 1);
    return absl::InvalidArgumentError(absl::StrCat(std::string(file_name), location, ": ", message));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(file_name), ": cannot read the sweep: ", e.what()));
  }
}

}  // namespace expsvc
