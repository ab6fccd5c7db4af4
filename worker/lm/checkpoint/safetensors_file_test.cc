#include "worker/lm/checkpoint/safetensors_file.h"

#include <cstring>
#include <fstream>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/fs/testing/temp_dir.h"
#include "worker/lm/checkpoint/safetensors_writer.h"

namespace expsvc::lm {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::vector<std::byte> PatternBytes(size_t count, int seed) {
  std::vector<std::byte> bytes(count);
  for (size_t i = 0; i < count; ++i) bytes[i] = static_cast<std::byte>((i * 31 + seed * 7) & 0xff);
  return bytes;
}

// A file image from a header text and a data buffer, as the format lays it out.
std::string Craft(std::string_view header, std::string_view data) {
  std::string image(8, '\0');
  const uint64_t length = header.size();
  std::memcpy(image.data(), &length, 8);
  image += header;
  image += data;
  return image;
}

absl::Status ParseImage(std::string image) {
  return SafetensorsFile::FromBytes(std::move(image), "crafted.safetensors").status();
}

TEST(SafetensorsFileTest, RoundTripsEveryDtypeThroughAFile) {
  struct Spec {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
  };
  const std::vector<Spec> specs = {
      {"a.f64", DType::kF64, {3}},      {"b.f32", DType::kF32, {2, 3}},   {"c.f16", DType::kF16, {5}},
      {"d.bf16", DType::kBF16, {1, 3}}, {"e.i64", DType::kI64, {2}},      {"f.i32", DType::kI32, {3, 1}},
      {"g.scalar", DType::kF32, {}},    {"h.empty", DType::kF16, {0, 4}},
  };
  std::vector<std::vector<std::byte>> storage;
  std::vector<TensorToWrite> tensors;
  for (size_t i = 0; i < specs.size(); ++i) {
    int64_t elements = 1;
    for (int64_t dim : specs[i].shape) elements *= dim;
    storage.push_back(PatternBytes(elements * DTypeSize(specs[i].dtype), static_cast<int>(i)));
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    tensors.push_back({specs[i].name, specs[i].dtype, specs[i].shape, storage[i]});
  }
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"step", "1000"}};

  fs::TempDir dir("roundtrip");
  const std::filesystem::path path = dir.path() / "all.safetensors";
  ASSERT_TRUE(WriteSafetensorsFile(path, tensors, metadata).ok());
  // Nothing but the file: the temporary was renamed, not left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->metadata(), metadata);
  ASSERT_EQ((*file)->tensors().size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    absl::StatusOr<TensorView> view = (*file)->Get(specs[i].name);
    ASSERT_TRUE(view.ok()) << view.status();
    EXPECT_EQ(view->name, specs[i].name);
    EXPECT_EQ(view->dtype, specs[i].dtype);
    EXPECT_EQ(std::vector<int64_t>(view->shape.begin(), view->shape.end()), specs[i].shape);
    ASSERT_EQ(view->bytes.size(), storage[i].size());
    EXPECT_EQ(std::memcmp(view->bytes.data(), storage[i].data(), storage[i].size()), 0);
    // The mapping is page-aligned, the header padded to 8: elements are aligned.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(view->bytes.data()) % DTypeSize(specs[i].dtype), 0u) << specs[i].name;
  }
  EXPECT_EQ((*file)->Find("missing"), nullptr);
  EXPECT_THAT((*file)->Get("missing").status().message(), AllOf(HasSubstr("all.safetensors"), HasSubstr("missing")));

  absl::StatusOr<std::string> image = fs::ReadFile(path);
  ASSERT_TRUE(image.ok());
  uint64_t header_length = 0;
  std::memcpy(&header_length, image->data(), 8);
  EXPECT_EQ(header_length % 8, 0u);
  EXPECT_EQ(*image, *SerializeSafetensors(tensors, metadata));
}

TEST(SafetensorsFileTest, ReadsAHandWrittenFile) {
  const float values[2] = {1.5f, -2.0f};
  const std::string data(reinterpret_cast<const char*>(values), sizeof(values));
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::FromBytes(
      Craft(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}})", data), "hand");
  ASSERT_TRUE(file.ok()) << file.status();
  const TensorView view = *(*file)->Get("w");
  float read[2];
  std::memcpy(read, view.bytes.data(), sizeof(read));
  EXPECT_EQ(read[0], 1.5f);
  EXPECT_EQ(read[1], -2.0f);
  EXPECT_EQ((*file)->metadata().at("k"), "v");
}

TEST(SafetensorsFileTest, RejectsAFileShorterThanTheHeaderLength) {
  EXPECT_THAT(ParseImage("abc").message(), AllOf(HasSubstr("crafted.safetensors"), HasSubstr("too short")));
  EXPECT_THAT(ParseImage("").message(), HasSubstr("too short"));
}

TEST(SafetensorsFileTest, RejectsAHeaderLengthPastTheEnd) {
  std::string image = Craft(R"({})", "");
  const uint64_t huge = 1ull << 62;
  std::memcpy(image.data(), &huge, 8);
  EXPECT_THAT(ParseImage(image).message(), HasSubstr("runs past the end of the file"));
  const uint64_t one_more = image.size() - 8 + 1;
  std::memcpy(image.data(), &one_more, 8);
  EXPECT_THAT(ParseImage(image).message(), HasSubstr("runs past the end of the file"));
}

TEST(SafetensorsFileTest, RejectsATruncatedFile) {
  const std::vector<std::byte> bytes = PatternBytes(64, 1);
  const TensorToWrite tensor{"layer.weight", DType::kF32, {4, 4}, bytes};
  const std::string image = *SerializeSafetensors(std::span(&tensor, 1));
  const absl::Status status = ParseImage(image.substr(0, image.size() - 4));
  EXPECT_THAT(status.message(), AllOf(HasSubstr("crafted.safetensors"), HasSubstr("'layer.weight'"),
                                      HasSubstr("run past the end of the data")));
  // Every shorter prefix fails cleanly, never crashes.
  for (size_t length = 0; length < image.size(); ++length) {
    EXPECT_FALSE(ParseImage(image.substr(0, length)).ok()) << length;
  }
}

TEST(SafetensorsFileTest, RejectsOffsetsPastTheEnd) {
  const absl::Status status =
      ParseImage(Craft(R"({"t":{"dtype":"F32","shape":[25],"data_offsets":[0,100]}})", std::string(16, 'x')));
  EXPECT_THAT(status.message(), AllOf(HasSubstr("tensor 't'"), HasSubstr("[0, 100] run past the end")));
}

TEST(SafetensorsFileTest, RejectsOffsetsThatDoNotMatchShapeAndDtype) {
  const absl::Status status =
      ParseImage(Craft(R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})", std::string(8, 'x')));
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("tensor 't'"), HasSubstr("hold 8 bytes but shape [2, 2] of F32 needs 16")));
  EXPECT_THAT(
      ParseImage(Craft(R"({"t":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}})", std::string(8, 'x'))).message(),
      HasSubstr("needs 6"));
}

TEST(SafetensorsFileTest, RejectsOverlapHolesAndUnindexedBytes) {
  EXPECT_THAT(ParseImage(Craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                               std::string(12, 'x')))
                  .message(),
              AllOf(HasSubstr("'b'"), HasSubstr("overlaps tensor 'a'")));
  EXPECT_THAT(ParseImage(Craft(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                               std::string(12, 'x')))
                  .message(),
              HasSubstr("bytes 4..8 of the data, before tensor 'b', belong to no tensor"));
  EXPECT_THAT(
      ParseImage(Craft(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(12, 'x'))).message(),
      HasSubstr("the last 8 bytes of the data belong to no tensor"));
  EXPECT_THAT(
      ParseImage(Craft(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", std::string(4, 'x'))).message(),
      HasSubstr("end before they begin"));
}

TEST(SafetensorsFileTest, RejectsBadJson) {
  EXPECT_THAT(ParseImage(Craft(R"({"t": {"dtype": )", "")).message(),
              AllOf(HasSubstr("crafted.safetensors"), HasSubstr("invalid JSON header")));
  EXPECT_THAT(ParseImage(Craft("[1, 2]", "")).message(), HasSubstr("not an object"));
  EXPECT_THAT(ParseImage(Craft("", "")).message(), HasSubstr("invalid JSON header"));
  EXPECT_THAT(ParseImage(Craft("{\"\xff\": 1}", "")).message(), HasSubstr("invalid JSON header"));
}

TEST(SafetensorsFileTest, RejectsUnknownDtype) {
  const absl::Status status =
      ParseImage(Craft(R"({"t":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})", std::string(4, 'x')));
  EXPECT_THAT(status.message(), AllOf(HasSubstr("tensor 't'"), HasSubstr("unknown dtype \"F8_E4M3\"")));
}

TEST(SafetensorsFileTest, RejectsMalformedEntries) {
  const auto message = [](std::string_view entry, size_t data_size = 4) {
    return std::string(
        ParseImage(Craft(absl::StrCat(R"({"t":)", std::string(entry), "}"), std::string(data_size, 'x'))).message());
  };
  EXPECT_THAT(message(R"({"shape":[1],"data_offsets":[0,4]})"), HasSubstr("\"dtype\""));
  EXPECT_THAT(message(R"({"dtype":"F32","data_offsets":[0,4]})"), HasSubstr("\"shape\""));
  EXPECT_THAT(message(R"({"dtype":"F32","shape":[1]})"), HasSubstr("\"data_offsets\""));
  EXPECT_THAT(message(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4,8]})"), HasSubstr("[begin, end]"));
  EXPECT_THAT(message(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), HasSubstr("non-negative integer"));
  EXPECT_THAT(message(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})"), HasSubstr("non-negative integer"));
  EXPECT_THAT(message(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,4]})"), HasSubstr("non-negative integer"));
  EXPECT_THAT(message(R"({"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]})"),
              HasSubstr("overflows"));
  EXPECT_THAT(message(R"({"dtype":"I64","shape":[2305843009213693952],"data_offsets":[0,4]})"), HasSubstr("overflows"));
  EXPECT_THAT(message("7"), HasSubstr("not an object"));
  EXPECT_THAT(ParseImage(Craft(R"({"__metadata__":{"k":1}})", "")).message(), HasSubstr("not a string"));
  EXPECT_THAT(ParseImage(Craft(R"({"__metadata__":[1]})", "")).message(), HasSubstr("__metadata__"));
  EXPECT_THAT(ParseImage(Craft(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                               R"("t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                               std::string(4, 'x')))
                  .message(),
              HasSubstr("'t' appears twice"));
}

TEST(SafetensorsFileTest, RandomCorruptionNeverCrashes) {
  std::vector<std::byte> a = PatternBytes(48, 2);
  std::vector<std::byte> b = PatternBytes(10, 3);
  const std::vector<TensorToWrite> tensors = {{"a", DType::kF32, {3, 4}, a}, {"b", DType::kBF16, {5}, b}};
  const std::string image = *SerializeSafetensors(tensors, {{"format", "pt"}});
  std::mt19937 random(11);
  int accepted = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string corrupt = image;
    const int flips = 1 + trial % 3;
    for (int i = 0; i < flips; ++i) {
      corrupt[random() % corrupt.size()] = static_cast<char>(random() & 0xff);
    }
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::FromBytes(corrupt, "fuzz");
    if (!file.ok()) continue;
    ++accepted;  // e.g. a flipped data byte: still a valid file; views must stay in bounds
    for (const TensorView& view : (*file)->tensors()) {
      ASSERT_EQ(static_cast<int64_t>(view.bytes.size()), view.num_elements() * DTypeSize(view.dtype));
    }
  }
  EXPECT_GT(accepted, 0);
}

TEST(SafetensorsFileTest, OpenReportsAMissingFile) {
  fs::TempDir dir("missing");
  const absl::Status status = SafetensorsFile::Open(dir.path() / "nope.safetensors").status();
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("nope.safetensors"));
}

TEST(SafetensorsWriterTest, RejectsInconsistentTensors) {
  const std::vector<std::byte> bytes(8);
  const std::vector<TensorToWrite> duplicate = {{"x", DType::kF32, {2}, bytes}, {"x", DType::kF32, {2}, bytes}};
  EXPECT_THAT(SerializeSafetensors(duplicate).status().message(), HasSubstr("'x' is given twice"));
  const std::vector<TensorToWrite> wrong_size = {{"x", DType::kF32, {3}, bytes}};
  EXPECT_THAT(SerializeSafetensors(wrong_size).status().message(), HasSubstr("need 12"));
  const std::vector<TensorToWrite> reserved = {{"__metadata__", DType::kF32, {2}, bytes}};
  EXPECT_FALSE(SerializeSafetensors(reserved).ok());
  const std::vector<TensorToWrite> negative = {{"x", DType::kF32, {-2}, bytes}};
  EXPECT_FALSE(SerializeSafetensors(negative).ok());

  fs::TempDir dir("writer");
  EXPECT_FALSE(WriteSafetensorsFile(dir.path() / "bad.safetensors", wrong_size).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "bad.safetensors"));
  EXPECT_FALSE(WriteSafetensorsFile(dir.path() / "no-such-dir" / "x.safetensors", {}).ok());
}

}  // namespace
}  // namespace expsvc::lm
