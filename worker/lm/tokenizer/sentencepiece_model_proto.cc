#include "worker/lm/tokenizer/sentencepiece_model_proto.h"

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace expsvc::lm {
namespace {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// One field of a protobuf message.
struct Field {
  uint32_t number = 0;
  WireType wire_type = kVarint;
  uint64_t varint = 0;      // kVarint, kFixed64
  uint32_t fixed32 = 0;     // kFixed32
  absl::string_view bytes;  // kLengthDelimited
};

// Walks the fields of one message.
class FieldReader {
 public:
  FieldReader(absl::string_view message, absl::string_view name) : rest_(message), name_(name) {}

  bool done() const { return rest_.empty(); }

  absl::StatusOr<Field> Next() {
    Field field;
    EXPSVC_ASSIGN_OR_RETURN(const uint64_t key, ReadVarint());
    field.number = static_cast<uint32_t>(key >> 3);
    field.wire_type = static_cast<WireType>(key & 7);
    if (field.number == 0) return Corrupt("field number 0");
    switch (field.wire_type) {
      case kVarint: {
        EXPSVC_ASSIGN_OR_RETURN(field.varint, ReadVarint());
        break;
      }
      case kFixed64:
        if (rest_.size() < 8) return Corrupt("truncated 64-bit field");
        std::memcpy(&field.varint, rest_.data(), 8);
        rest_.remove_prefix(8);
        break;
      case kLengthDelimited: {
        EXPSVC_ASSIGN_OR_RETURN(const uint64_t length, ReadVarint());
        if (length > rest_.size()) return Corrupt("length-delimited field runs past the end");
        field.bytes = rest_.substr(0, length);
        rest_.remove_prefix(length);
        break;
      }
      case kFixed32:
        if (rest_.size() < 4) return Corrupt("truncated 32-bit field");
        std::memcpy(&field.fixed32, rest_.data(), 4);  // little-endian hosts only (x86, arm64)
        rest_.remove_prefix(4);
        break;
      default: return Corrupt(absl::StrCat("unsupported wire type ", static_cast<int>(field.wire_type)));
    }
    return field;
  }

 private:
  absl::StatusOr<uint64_t> ReadVarint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (rest_.empty()) return Corrupt("truncated varint");
      const auto byte = static_cast<unsigned char>(rest_[0]);
      rest_.remove_prefix(1);
      value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    return Corrupt("varint longer than 10 bytes");
  }

  absl::Status Corrupt(absl::string_view what) const {
    return absl::DataLossError(absl::StrCat("not a SentencePiece model: ", name_, ": ", what));
  }

  absl::string_view rest_;
  std::string name_;
};

absl::Status CheckWireType(const Field& field, WireType expected, absl::string_view name) {
  if (field.wire_type == expected) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("not a SentencePiece model: field ", name, " has wire type ", static_cast<int>(field.wire_type)));
}

absl::StatusOr<PieceKind> KindOfType(uint64_t type) {
  switch (type) {
    case 1: return PieceKind::kNormal;
    case 2: return PieceKind::kUnknown;
    case 3: return PieceKind::kControl;
    case 4: return PieceKind::kUserDefined;
    case 5: return PieceKind::kUnused;
    case 6: return PieceKind::kByte;
    default: return absl::DataLossError(absl::StrCat("not a SentencePiece model: piece type ", type));
  }
}

absl::StatusOr<UnigramPiece> ReadPiece(absl::string_view message) {
  UnigramPiece piece;
  FieldReader reader(message, "SentencePiece");
  while (!reader.done()) {
    EXPSVC_ASSIGN_OR_RETURN(const Field field, reader.Next());
    if (field.number == 1) {
      EXPSVC_RETURN_IF_ERROR(CheckWireType(field, kLengthDelimited, "piece"));
      piece.text = std::string(field.bytes);
    } else if (field.number == 2) {
      EXPSVC_RETURN_IF_ERROR(CheckWireType(field, kFixed32, "score"));
      std::memcpy(&piece.score, &field.fixed32, 4);
    } else if (field.number == 3) {
      EXPSVC_RETURN_IF_ERROR(CheckWireType(field, kVarint, "type"));
      EXPSVC_ASSIGN_OR_RETURN(piece.kind, KindOfType(field.varint));
    }
  }
  return piece;
}

absl::Status ReadTrainerSpec(absl::string_view message, SentencePieceModelInfo* info) {
  FieldReader reader(message, "TrainerSpec");
  while (!reader.done()) {
    EXPSVC_ASSIGN_OR_RETURN(const Field field, reader.Next());
    if (field.wire_type != kVarint) continue;
    // int32 fields carry negative values as 64-bit two's complement.
    const auto as_int32 = static_cast<int32_t>(static_cast<int64_t>(field.varint));
    switch (field.number) {
      case 3: info->model_type = as_int32; break;
      case 24: info->treat_whitespace_as_suffix = field.varint != 0; break;
      case 35: info->byte_fallback = field.varint != 0; break;
      case 40: info->unk_id = as_int32; break;
      case 41: info->bos_id = as_int32; break;
      case 42: info->eos_id = as_int32; break;
      case 43: info->pad_id = as_int32; break;
      default: break;
    }
  }
  return absl::OkStatus();
}

absl::Status ReadNormalizerSpec(absl::string_view message, SentencePieceModelInfo* info) {
  FieldReader reader(message, "NormalizerSpec");
  while (!reader.done()) {
    EXPSVC_ASSIGN_OR_RETURN(const Field field, reader.Next());
    switch (field.number) {
      case 1:
        EXPSVC_RETURN_IF_ERROR(CheckWireType(field, kLengthDelimited, "name"));
        info->normalizer_name = std::string(field.bytes);
        break;
      case 2:
        EXPSVC_RETURN_IF_ERROR(CheckWireType(field, kLengthDelimited, "precompiled_charsmap"));
        info->precompiled_charsmap_bytes = field.bytes.size();
        break;
      case 3: info->add_dummy_prefix = field.varint != 0; break;
      case 4: info->remove_extra_whitespaces = field.varint != 0; break;
      case 5: info->escape_whitespaces = field.varint != 0; break;
      default: break;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SentencePieceModelInfo> ReadSentencePieceModel(absl::string_view serialized) {
  SentencePieceModelInfo info;
  FieldReader reader(serialized, "ModelProto");
  while (!reader.done()) {
    EXPSVC_ASSIGN_OR_RETURN(const Field field, reader.Next());
    if (field.number > 5) continue;  // fields this code has no use for
    EXPSVC_RETURN_IF_ERROR(CheckWireType(field, kLengthDelimited, "ModelProto message"));
    switch (field.number) {
      case 1: {
        EXPSVC_ASSIGN_OR_RETURN(UnigramPiece piece, ReadPiece(field.bytes));
        info.pieces.push_back(std::move(piece));
        break;
      }
      case 2: EXPSVC_RETURN_IF_ERROR(ReadTrainerSpec(field.bytes, &info)); break;
      case 3: EXPSVC_RETURN_IF_ERROR(ReadNormalizerSpec(field.bytes, &info)); break;
      default: break;
    }
  }
  if (info.pieces.empty()) {
    return absl::DataLossError("not a SentencePiece model: no pieces");
  }
  return info;
}

}  // namespace expsvc::lm
