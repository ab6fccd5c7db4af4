// SAE folders: both layouts round-trip bit for bit, foreign and damaged
// folders give errors that name the file and the field.
#include "worker/lm/sae/sae_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"
#include "worker/lm/checkpoint/safetensors_file.h"
#include "worker/lm/checkpoint/safetensors_writer.h"

namespace expsvc::lm {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr int64_t kDIn = 12;
constexpr int64_t kLatents = 40;
constexpr int64_t kK = 5;

// An SAE whose four tensors all carry random bits (a fresh one has zero biases).
TopKSae RandomSae(torch::Dtype dtype, uint64_t seed) {
  torch::manual_seed(seed);
  TopKSae sae(TopKSaeOptions(kDIn, kLatents, kK).dtype(dtype).seed(seed));
  torch::NoGradGuard no_grad;
  sae->w_enc.add_(torch::randn({kLatents, kDIn}) * 0.3);
  sae->b_enc.copy_(torch::randn({kLatents}) * 0.1);
  sae->b_pre.copy_(torch::randn({kDIn}) * 0.1);
  return sae;
}

SaeFileInfo Info(SaeFileLayout layout) {
  SaeFileInfo info;
  info.layer = 3;
  info.hookpoint = DefaultSaeHookpoint(layout, info.layer);
  info.model_name = "llm-jp/llm-jp-3-1.8b";
  info.context_size = 129;
  info.dataset_path = "expsvc/bilingual-test";
  return info;
}

// The dense code [N, n]: the same for any order of the top-k pairs.
torch::Tensor DenseCode(const TopKSae& sae, const torch::Tensor& x) {
  const TopKCodes codes = sae->Encode(x);
  return torch::zeros({x.size(0), kLatents}).scatter(1, codes.indices, codes.values);
}

void ExpectSameSae(const TopKSae& loaded, const TopKSae& original) {
  EXPECT_EQ(loaded->options().d_in(), original->options().d_in());
  EXPECT_EQ(loaded->options().n_latents(), original->options().n_latents());
  EXPECT_EQ(loaded->options().k(), original->options().k());
  EXPECT_EQ(loaded->options().dtype(), original->options().dtype());
  EXPECT_TRUE(torch::equal(loaded->w_enc, original->w_enc));
  EXPECT_TRUE(torch::equal(loaded->b_enc, original->b_enc));
  EXPECT_TRUE(torch::equal(loaded->w_dec, original->w_dec));
  EXPECT_TRUE(torch::equal(loaded->b_pre, original->b_pre));
  const torch::Tensor x = torch::randn({64, kDIn});
  EXPECT_TRUE(torch::equal(DenseCode(loaded, x), DenseCode(original, x)));
}

class SaeFilesRoundTrip : public ::testing::TestWithParam<std::tuple<SaeFileLayout, torch::Dtype>> {};

TEST_P(SaeFilesRoundTrip, EveryTensorBitEqualAndTheSameCodes) {
  const auto [layout, dtype] = GetParam();
  fs::TempDir dir("sae_files");
  const TopKSae sae = RandomSae(dtype, 7);
  const SaeFileInfo info = Info(layout);
  const std::filesystem::path folder = dir.path() / info.hookpoint;
  ASSERT_TRUE(SaveSae(sae, layout, info, folder).ok());
  EXPECT_TRUE(std::filesystem::exists(folder / SaeWeightsFileName(layout)));
  EXPECT_TRUE(std::filesystem::exists(folder / kSaeConfigFileName));

  absl::StatusOr<LoadedSae> loaded = LoadSae(folder);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->layout, layout);
  ExpectSameSae(loaded->sae, sae);
  EXPECT_EQ(loaded->info.hookpoint, info.hookpoint);
  EXPECT_EQ(loaded->info.model_name, info.model_name);
  EXPECT_EQ(loaded->info.layer, info.layer);
  EXPECT_EQ(loaded->info.context_size, info.context_size);
  EXPECT_EQ(loaded->info.dataset_path, info.dataset_path);
  EXPECT_TRUE(loaded->info.prepend_bos);
  EXPECT_TRUE(loaded->info.inputs_l2_normalized);
}

INSTANTIATE_TEST_SUITE_P(Layouts, SaeFilesRoundTrip,
                         ::testing::Combine(::testing::Values(SaeFileLayout::kSaeLens, SaeFileLayout::kSparsify),
                                            ::testing::Values(torch::kFloat32, torch::kBFloat16)));

TEST(SaeFilesTest, WritesTheToolsNamesShapesAndFields) {
  fs::TempDir dir("sae_files");
  const TopKSae sae = RandomSae(torch::kFloat32, 1);
  for (SaeFileLayout layout : {SaeFileLayout::kSaeLens, SaeFileLayout::kSparsify}) {
    const std::filesystem::path folder = dir.path() / std::string(SaeFileLayoutName(layout));
    ASSERT_TRUE(SaveSae(sae, layout, Info(layout), folder).ok());
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(folder / SaeWeightsFileName(layout));
    ASSERT_TRUE(file.ok()) << file.status();
    absl::StatusOr<std::string> text = fs::ReadFile(folder / kSaeConfigFileName);
    ASSERT_TRUE(text.ok());
    const Json cfg = Json::parse(*text);
    const auto shape = [&](const char* name) {
      const TensorView* view = (*file)->Find(name);
      return view == nullptr ? std::vector<int64_t>{} : std::vector<int64_t>(view->shape.begin(), view->shape.end());
    };
    if (layout == SaeFileLayout::kSaeLens) {
      EXPECT_THAT((*file)->names(), ::testing::ElementsAre("W_dec", "W_enc", "b_dec", "b_enc"));
      EXPECT_EQ(shape("W_enc"), (std::vector<int64_t>{kDIn, kLatents}));
      EXPECT_EQ(shape("W_dec"), (std::vector<int64_t>{kLatents, kDIn}));
      EXPECT_EQ(cfg["architecture"], "topk");
      EXPECT_EQ(cfg["d_sae"], kLatents);
      EXPECT_EQ(cfg["k"], kK);
      EXPECT_EQ(cfg["activation_fn_kwargs"]["k"], kK);
      EXPECT_EQ(cfg["metadata"]["hook_name"], "blocks.3.hook_resid_post");
      EXPECT_EQ(cfg["metadata"]["sae_lens_version"], "6.18.0");
    } else {
      EXPECT_THAT((*file)->names(), ::testing::ElementsAre("W_dec", "b_dec", "encoder.bias", "encoder.weight"));
      EXPECT_EQ(shape("encoder.weight"), (std::vector<int64_t>{kLatents, kDIn}));
      EXPECT_EQ(cfg["d_in"], kDIn);
      EXPECT_EQ(cfg["num_latents"], kLatents);
      EXPECT_EQ(cfg["k"], kK);
      EXPECT_EQ((*file)->metadata().at("hookpoint"), "layers.3");
    }
  }
}

TEST(SaeFilesTest, SavingTheOtherLayoutReplacesTheFirst) {
  fs::TempDir dir("sae_files");
  const TopKSae sae = RandomSae(torch::kFloat32, 2);
  ASSERT_TRUE(SaveSae(sae, SaeFileLayout::kSaeLens, Info(SaeFileLayout::kSaeLens), dir.path()).ok());
  ASSERT_TRUE(SaveSae(sae, SaeFileLayout::kSparsify, Info(SaeFileLayout::kSparsify), dir.path()).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / SaeWeightsFileName(SaeFileLayout::kSaeLens)));
  absl::StatusOr<LoadedSae> loaded = LoadSae(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->layout, SaeFileLayout::kSparsify);
}

TEST(SaeFilesTest, TruncatedWeightsNameTheFile) {
  for (SaeFileLayout layout : {SaeFileLayout::kSaeLens, SaeFileLayout::kSparsify}) {
    fs::TempDir dir("sae_files");
    ASSERT_TRUE(SaveSae(RandomSae(torch::kFloat32, 3), layout, Info(layout), dir.path()).ok());
    const std::filesystem::path weights = dir.path() / SaeWeightsFileName(layout);
    std::filesystem::resize_file(weights, std::filesystem::file_size(weights) / 2);
    const absl::Status status = LoadSae(dir.path()).status();
    EXPECT_FALSE(status.ok());
    EXPECT_THAT(status.message(), HasSubstr(weights.string()));
  }
}

// Rewrites one field of cfg.json (a null value removes it).
void EditConfig(const std::filesystem::path& folder, const std::string& field, const Json& value) {
  const std::filesystem::path path = folder / kSaeConfigFileName;
  Json cfg = Json::parse(*fs::ReadFile(path));
  if (value.is_null()) {
    cfg.erase(field);
  } else {
    cfg[field] = value;
  }
  ASSERT_TRUE(fs::WriteFileAtomically(path, cfg.dump()).ok());
}

TEST(SaeFilesTest, ConfigThatDisagreesWithTheWeightsNamesTheField) {
  fs::TempDir dir("sae_files");
  const TopKSae sae = RandomSae(torch::kFloat32, 4);
  const std::filesystem::path saelens = dir.path() / "saelens";
  const std::filesystem::path sparsify = dir.path() / "sparsify";
  ASSERT_TRUE(SaveSae(sae, SaeFileLayout::kSaeLens, Info(SaeFileLayout::kSaeLens), saelens).ok());
  ASSERT_TRUE(SaveSae(sae, SaeFileLayout::kSparsify, Info(SaeFileLayout::kSparsify), sparsify).ok());

  EditConfig(saelens, "d_sae", 32);
  absl::Status status = LoadSae(saelens).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("\"d_sae\" = 32"));
  EXPECT_THAT(status.message(), HasSubstr("sae_weights.safetensors: tensor 'W_enc' has shape [12, 40]"));

  EditConfig(sparsify, "num_latents", 48);
  status = LoadSae(sparsify).status();
  EXPECT_THAT(status.message(), HasSubstr("\"num_latents\""));
  EXPECT_THAT(status.message(), HasSubstr("sae.safetensors: tensor"));

  EditConfig(sparsify, "num_latents", kLatents);
  EditConfig(sparsify, "k", kLatents + 1);
  status = LoadSae(sparsify).status();
  EXPECT_THAT(status.message(), HasSubstr("cfg.json: field \"k\" (41) must be in [1, 40]"));
}

TEST(SaeFilesTest, RefusesWhatOurEncodeDoesNotCompute) {
  fs::TempDir dir("sae_files");
  const TopKSae sae = RandomSae(torch::kFloat32, 5);
  const auto expect_field_error = [&](SaeFileLayout layout, const std::string& field, const Json& value) {
    ASSERT_TRUE(SaveSae(sae, layout, Info(layout), dir.path()).ok());
    EditConfig(dir.path(), field, value);
    const absl::Status status = LoadSae(dir.path()).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("cfg.json: field \"", field, "\""))) << status;
  };
  expect_field_error(SaeFileLayout::kSaeLens, "architecture", "jumprelu");
  expect_field_error(SaeFileLayout::kSaeLens, "apply_b_dec_to_input", false);
  expect_field_error(SaeFileLayout::kSaeLens, "normalize_activations", "layer_norm");
  expect_field_error(SaeFileLayout::kSaeLens, "rescale_acts_by_decoder_norm", true);
  expect_field_error(SaeFileLayout::kSaeLens, "d_in", "12");
  expect_field_error(SaeFileLayout::kSparsify, "activation", "groupmax");
  expect_field_error(SaeFileLayout::kSparsify, "skip_connection", true);
  expect_field_error(SaeFileLayout::kSparsify, "transcode", true);
  expect_field_error(SaeFileLayout::kSparsify, "d_in", nullptr);
}

TEST(SaeFilesTest, CorruptConfigNamesTheFile) {
  fs::TempDir dir("sae_files");
  ASSERT_TRUE(
      SaveSae(RandomSae(torch::kFloat32, 6), SaeFileLayout::kSaeLens, Info(SaeFileLayout::kSaeLens), dir.path()).ok());
  ASSERT_TRUE(fs::WriteFileAtomically(dir.path() / kSaeConfigFileName, "{\"d_in\": 12,").ok());
  const absl::Status status = LoadSae(dir.path()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr((dir.path() / "cfg.json").string() + ": invalid JSON"));
}

TEST(SaeFilesTest, MissingFolderOrFilesAreNotFound) {
  fs::TempDir dir("sae_files");
  EXPECT_EQ(LoadSae(dir.path() / "layers.9").status().code(), absl::StatusCode::kNotFound);
  const absl::Status empty = LoadSae(dir.path()).status();
  EXPECT_EQ(empty.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(empty.message(), HasSubstr("sae_weights.safetensors"));
  ASSERT_TRUE(
      SaveSae(RandomSae(torch::kFloat32, 8), SaeFileLayout::kSparsify, Info(SaeFileLayout::kSparsify), dir.path())
          .ok());
  std::filesystem::remove(dir.path() / kSaeConfigFileName);
  const absl::Status no_cfg = LoadSae(dir.path()).status();
  EXPECT_EQ(no_cfg.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(no_cfg.message(), HasSubstr("cfg.json"));
}

// A cfg.json as SAELens 5.x wrote it: no "architecture", "k" in activation_fn_kwargs.
TEST(SaeFilesTest, ReadsPre6SaeLensConfigs) {
  fs::TempDir dir("sae_files");
  const TopKSae sae = RandomSae(torch::kFloat32, 9);
  ASSERT_TRUE(SaveSae(sae, SaeFileLayout::kSaeLens, Info(SaeFileLayout::kSaeLens), dir.path()).ok());
  const Json cfg = {
      {"d_in", kDIn},
      {"d_sae", kLatents},
      {"dtype", "torch.float32"},
      {"device", "cpu"},
      {"model_name", "gpt2"},
      {"hook_point", "blocks.4.hook_resid_pre"},
      {"activation_fn_str", "topk"},
      {"activation_fn_kwargs", {{"k", kK}}},
      {"normalize_activations", false},
  };
  ASSERT_TRUE(fs::WriteFileAtomically(dir.path() / kSaeConfigFileName, cfg.dump()).ok());
  absl::StatusOr<LoadedSae> loaded = LoadSae(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSameSae(loaded->sae, sae);
  EXPECT_EQ(loaded->info.hookpoint, "blocks.4.hook_resid_pre");
  EXPECT_EQ(loaded->info.layer, 4);
  EXPECT_EQ(loaded->info.model_name, "gpt2");
  EXPECT_FALSE(loaded->info.inputs_l2_normalized);
}

// A folder sparsify itself wrote: its own cfg.json, no header metadata, the
// hookpoint as the folder name.
TEST(SaeFilesTest, ReadsSparsifyFoldersWithoutOurMetadata) {
  fs::TempDir dir("sae_files");
  const TopKSae sae = RandomSae(torch::kFloat32, 10);
  const std::filesystem::path ours = dir.path() / "ours";
  ASSERT_TRUE(SaveSae(sae, SaeFileLayout::kSparsify, Info(SaeFileLayout::kSparsify), ours).ok());
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(ours / "sae.safetensors");
  ASSERT_TRUE(file.ok());
  std::vector<TensorToWrite> tensors;
  for (const TensorView& view : (*file)->tensors()) {
    tensors.push_back({std::string(view.name), view.dtype, {view.shape.begin(), view.shape.end()}, view.bytes});
  }
  const std::filesystem::path folder = dir.path() / "layers.7";
  std::filesystem::create_directories(folder);
  ASSERT_TRUE(WriteSafetensorsFile(folder / "sae.safetensors", tensors).ok());
  const Json cfg = {{"expansion_factor", 32},  {"normalize_decoder", true},
                    {"num_latents", kLatents}, {"k", kK},
                    {"multi_topk", false},     {"d_in", kDIn}};
  ASSERT_TRUE(fs::WriteFileAtomically(folder / kSaeConfigFileName, cfg.dump()).ok());

  absl::StatusOr<LoadedSae> loaded = LoadSae(folder);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSameSae(loaded->sae, sae);
  EXPECT_EQ(loaded->info.hookpoint, "layers.7");
  EXPECT_EQ(loaded->info.layer, 7);
  EXPECT_TRUE(loaded->info.model_name.empty());
}

TEST(SaeFilesTest, LayoutNames) {
  for (SaeFileLayout layout : {SaeFileLayout::kSaeLens, SaeFileLayout::kSparsify}) {
    absl::StatusOr<SaeFileLayout> parsed = ParseSaeFileLayout(SaeFileLayoutName(layout));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, layout);
  }
  EXPECT_EQ(SaeFileLayoutName(SaeFileLayout::kSaeLens), "saelens");
  EXPECT_THAT(ParseSaeFileLayout("SAELens").status().message(), HasSubstr("\"saelens\" or \"sparsify\""));
  EXPECT_EQ(DefaultSaeHookpoint(SaeFileLayout::kSaeLens, 2), "blocks.2.hook_resid_post");
  EXPECT_EQ(DefaultSaeHookpoint(SaeFileLayout::kSparsify, 2), "layers.2");
}

TEST(SaeFilesTest, RefusesToSaveWithoutAHookpoint) {
  fs::TempDir dir("sae_files");
  SaeFileInfo info = Info(SaeFileLayout::kSaeLens);
  info.hookpoint.clear();
  EXPECT_EQ(SaveSae(RandomSae(torch::kFloat32, 11), SaeFileLayout::kSaeLens, info, dir.path()).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace expsvc::lm
