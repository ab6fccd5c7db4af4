// Reading a sweep file: YAML → stages (every field checked, errors at their
// line and column), then sweep_expansion.cc turns the stages into jobs.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/kinds/job_kind_catalog.h"
#include "common/status_macros.h"
#include "common/sweep/sweep_expansion.h"
#include "common/sweep/sweep_spec.h"
#include "common/sweep/sweep_stage.h"
#include "common/sweep/yaml_scalars.h"

namespace expsvc {
namespace sweep {
namespace {

using Fields = std::map<std::string, YAML::Node>;

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

class SweepParser {
 public:
  SweepParser(std::string file_name, const ExpandOptions& options) : errors_(std::move(file_name)), options_(options) {}

  absl::StatusOr<SweepPlan> Parse(const std::string& yaml_text);

 private:
  absl::Status Error(absl::string_view message) const { return errors_.Error(message); }
  absl::Status ErrorAt(const YAML::Mark& mark, absl::string_view message) const {
    return errors_.ErrorAt(mark, message);
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
  absl::StatusOr<std::vector<Grid>> ReadGrids(const YAML::Node& node, absl::string_view prefix);
  absl::StatusOr<Stage> ReadStage(const YAML::Node& node, const StageSettings& defaults);

  const SweepErrors errors_;
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
                                                         {"cpu_cores", "memory_mb", "gpus", "gpu_memory_gb"}));
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
    if (auto r = resources.find("gpu_memory_gb"); r != resources.end()) {
      EXPSVC_ASSIGN_OR_RETURN(target.gpu_memory_gb, ReadInt(r->second, "gpu_memory_gb", 0, kInt32Max));
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

// `grids`: alternatives whose expansions are concatenated. They must name
// the same axes: depends_on and group_by match on axis names, which would
// otherwise mean something different in each alternative.
absl::StatusOr<std::vector<Grid>> SweepParser::ReadGrids(const YAML::Node& node, absl::string_view prefix) {
  if (!node.IsSequence()) {
    return ErrorAt(node.Mark(), absl::StrCat(prefix, "'grids' must be a list of grid maps, got ", Describe(node)));
  }
  if (node.size() == 0) {
    return ErrorAt(node.Mark(), absl::StrCat(prefix, "'grids' is an empty list; give at least one grid map"));
  }
  auto names_of = [](const std::vector<Axis>& axes) {
    std::set<std::string> names;
    for (const Axis& axis : axes) names.insert(axis.name);
    return names;
  };
  std::vector<Grid> grids;
  for (const YAML::Node& entry : node) {
    const std::string what = absl::StrCat(prefix, "grids entry ", grids.size() + 1);
    Grid& grid = grids.emplace_back();
    if (entry.IsNull()) return ErrorAt(entry.Mark(), absl::StrCat(what, " must be a map, got nothing"));
    EXPSVC_ASSIGN_OR_RETURN(grid.axes, ReadAxes(entry, what));
    if (grid.axes.empty()) return ErrorAt(entry.Mark(), absl::StrCat(what, " names no axis"));
    const std::set<std::string> names = names_of(grid.axes);
    if (const std::set<std::string> first = names_of(grids.front().axes); names != first) {
      return ErrorAt(entry.Mark(),
                     absl::StrCat(what, " has the axes (", absl::StrJoin(names, ", "), "), entry 1 has (",
                                  absl::StrJoin(first, ", "), "); every entry of 'grids' must name the same axes"));
    }
  }
  return grids;
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
                                                    {"name", "kind", "params", "grid", "grids", "zip", "group_by",
                                                     "depends_on", "resources", "priority", "max_attempts"}));
  Stage stage;
  stage.mark = node.Mark();
  auto field = [&fields](const std::string& key) {
    auto it = fields.find(key);
    return it == fields.end() ? YAML::Node() : it->second;
  };

  if (!fields.contains("name")) return ErrorAt(node.Mark(), "a stage has no 'name'");
  EXPSVC_ASSIGN_OR_RETURN(stage.name, ReadString(field("name"), "a stage's 'name'"));
  if (stage.name.empty() || !std::all_of(stage.name.begin(), stage.name.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
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
  if (fields.contains("grid") && fields.contains("grids")) {
    return ErrorAt(field("grids").Mark(), absl::StrCat(prefix, "give either 'grid' or 'grids', not both"));
  }
  if (fields.contains("grids")) {
    EXPSVC_ASSIGN_OR_RETURN(stage.grids, ReadGrids(field("grids"), prefix));
  } else {
    EXPSVC_ASSIGN_OR_RETURN(stage.grids.emplace_back().axes, ReadAxes(field("grid"), absl::StrCat(prefix, "grid")));
  }
  EXPSVC_ASSIGN_OR_RETURN(stage.zip, ReadAxes(field("zip"), absl::StrCat(prefix, "zip")));

  for (const Axis& axis : stage.zip) {
    if (axis.values.size() != stage.zip.front().values.size()) {
      return ErrorAt(field("zip").Mark(), absl::StrCat(prefix, "zip lists differ in length: '", stage.zip.front().name,
                                                       "' has ", stage.zip.front().values.size(), " values, '",
                                                       axis.name, "' has ", axis.values.size()));
    }
  }
  // Every alternative names the same axes (ReadGrids), so the first stands for all.
  for (const Axis& axis : stage.grids.front().axes) {
    for (const Axis& zip_axis : stage.zip) {
      if (axis.name == zip_axis.name) {
        return ErrorAt(field("zip").Mark(), absl::StrCat(prefix, "'", axis.name, "' is both a grid and a zip axis"));
      }
    }
  }
  for (const std::vector<Axis>* axes : {&stage.grids.front().axes, &stage.zip}) {
    for (const Axis& axis : *axes) {
      if (stage.fixed_params.contains(axis.name)) {
        return ErrorAt(field("params").Mark(),
                       absl::StrCat(prefix, "'", axis.name, "' is both a fixed parameter and an axis"));
      }
      stage.param_names.insert(axis.name);
    }
  }
  const int64_t zip_rows = stage.zip.empty() ? 1 : static_cast<int64_t>(stage.zip.front().values.size());
  for (Grid& grid : stage.grids) {
    grid.job_count = zip_rows;
    for (const Axis& axis : grid.axes) grid.job_count = SaturatingMul(grid.job_count, axis.values.size());
    stage.job_count = SaturatingAdd(stage.job_count, grid.job_count);
  }

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
  if (stage.settings.resources.gpu_memory_gb > 0 && stage.settings.resources.gpus == 0) {
    return ErrorAt(stage.mark, absl::StrCat("stage '", stage.name, "' asks for gpu_memory_gb: ",
                                            stage.settings.resources.gpu_memory_gb,
                                            " but no GPU (add gpus: 1 to its resources)"));
  }
  return stage;
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

  EXPSVC_ASSIGN_OR_RETURN(std::vector<int> order, TopologicalOrder(errors_, stages));
  EXPSVC_RETURN_IF_ERROR(CheckSize(errors_, stages, options_));
  EXPSVC_RETURN_IF_ERROR(ExpandStages(errors_, stages, order, plan));
  return plan;
}

}  // namespace
}  // namespace sweep

absl::Status CheckSweepTextIsUtf8(std::string_view yaml_text, std::string_view file_name) {
  const size_t bad = sweep::FirstInvalidUtf8Byte(absl::string_view(yaml_text.data(), yaml_text.size()));
  if (bad == std::string_view::npos) return absl::OkStatus();
  const std::string_view before = yaml_text.substr(0, bad);
  const size_t line = static_cast<size_t>(std::count(before.begin(), before.end(), '\n')) + 1;
  const size_t line_start = before.rfind('\n');
  const size_t column = bad - (line_start == std::string_view::npos ? 0 : line_start + 1) + 1;
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(file_name), ":", line, ":", column, ": the file is not valid UTF-8 (byte ", bad, ")"));
}

absl::StatusOr<SweepPlan> ParseSweep(std::string_view yaml_text, std::string_view file_name,
                                     const ExpandOptions& options) {
  // yaml-cpp reports malformed YAML (and accessors misused on shapes the
  // checks did not foresee) by throwing; no exception may escape.
  EXPSVC_RETURN_IF_ERROR(CheckSweepTextIsUtf8(yaml_text, file_name));
  try {
    return sweep::SweepParser(std::string(file_name), options).Parse(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    // yaml-cpp's depth guard (DeepRecursion, not an exported type) says only "bad file".
    const std::string message = e.msg == "bad file" ? "values nest too deeply" : e.msg;
    const std::string location = e.mark.is_null() ? "" : absl::StrCat(":", e.mark.line + 1, ":", e.mark.column + 1);
    return absl::InvalidArgumentError(absl::StrCat(std::string(file_name), location, ": ", message));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(file_name), ": cannot read the sweep: ", e.what()));
  }
}

std::string ReplaceSweepDir(std::string text, const std::string& sweep_dir) {
  for (size_t at = text.find(kSweepDirPlaceholder); at != std::string::npos;
       at = text.find(kSweepDirPlaceholder, at + sweep_dir.size())) {
    text.replace(at, kSweepDirPlaceholder.size(), sweep_dir);
  }
  return text;
}

}  // namespace expsvc
