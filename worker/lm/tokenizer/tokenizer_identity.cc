#include "worker/lm/tokenizer/tokenizer_identity.h"

#include <openssl/evp.h>

#include <bit>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/hex.h"
#include "common/status_macros.h"
#include "worker/lm/tokenizer/hf_tokenizer.h"
#include "worker/lm/tokenizer/sentencepiece_model_proto.h"

namespace expsvc::lm {
namespace {

constexpr absl::string_view kDomain = "expsvc-tokenizer-identity/1";

// OpenSSL directly rather than common/sha256.h: that library carries
// libprotobuf (expsvc_proto), which must not meet libsentencepiece's bundled
// copy in one process (see CMakeLists.txt).
class Sha256 {
 public:
  Sha256() : context_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr); }
  void Update(absl::string_view bytes) { EVP_DigestUpdate(context_.get(), bytes.data(), bytes.size()); }
  void Little(uint64_t value, int width) {
    char bytes[8];
    for (int i = 0; i < width; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
    Update(absl::string_view(bytes, static_cast<size_t>(width)));
  }
  std::string FinishHex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(context_.get(), digest, &length);
    return LowerHex(std::string_view(reinterpret_cast<const char*>(digest), length));
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> context_;
};

uint8_t TypeNumber(PieceKind kind) {
  switch (kind) {
    case PieceKind::kNormal: return 1;
    case PieceKind::kUnknown: return 2;
    case PieceKind::kControl: return 3;
    case PieceKind::kUserDefined: return 4;
    case PieceKind::kUnused: return 5;
    case PieceKind::kByte: return 6;
  }
  return 0;
}

absl::StatusOr<std::string> IdentityOfModelFile(const std::string& bytes) {
  EXPSVC_ASSIGN_OR_RETURN(const SentencePieceModelInfo info, ReadSentencePieceModel(bytes));
  const auto id_or_absent = [&](int32_t id) -> TokenId {
    return id >= 0 && id < static_cast<int32_t>(info.pieces.size()) ? id : -1;
  };
  return TokenizerIdentityOf(info.pieces, {.unk = id_or_absent(info.unk_id),
                                           .bos = id_or_absent(info.bos_id),
                                           .eos = id_or_absent(info.eos_id),
                                           .pad = id_or_absent(info.pad_id)});
}

}  // namespace

std::string TokenizerIdentityOf(absl::Span<const UnigramPiece> pieces, const SpecialTokenIds& special) {
  Sha256 hash;
  hash.Update(kDomain);
  hash.Little(pieces.size(), 4);
  for (TokenId id : {special.unk, special.bos, special.eos, special.pad}) hash.Little(static_cast<uint32_t>(id), 4);
  for (const UnigramPiece& piece : pieces) {
    hash.Little(TypeNumber(piece.kind), 1);
    hash.Little(std::bit_cast<uint32_t>(piece.score), 4);
    const absl::string_view text = piece.kind == PieceKind::kControl ? absl::string_view() : piece.text;
    hash.Little(text.size(), 4);
    hash.Update(text);
  }
  return hash.FinishHex();
}

absl::StatusOr<std::string> TokenizerIdentity(const Tokenizer& tokenizer) {
  EXPSVC_ASSIGN_OR_RETURN(const std::vector<UnigramPiece> pieces, tokenizer.Vocabulary());
  return TokenizerIdentityOf(pieces, tokenizer.special_ids());
}

absl::StatusOr<std::string> TokenizerIdentityOfFile(const std::filesystem::path& path) {
  const std::string extension = path.extension().string();
  if (extension != ".model" && extension != ".json") {
    return absl::InvalidArgumentError(absl::StrCat(path.string(),
                                                   ": not a tokenizer file (expected a .model or .json file, e.g. ",
                                                   kSentencePieceModelFile, " or ", kTokenizerJsonFile, ")"));
  }
  EXPSVC_ASSIGN_OR_RETURN(const std::string bytes, fs::ReadFile(path));
  absl::StatusOr<std::string> identity;
  if (extension == ".model") {
    identity = IdentityOfModelFile(bytes);
  } else {
    absl::StatusOr<std::unique_ptr<HfUnigramTokenizer>> tokenizer = HfUnigramTokenizer::FromJson(bytes);
    identity = tokenizer.ok() ? TokenizerIdentity(**tokenizer) : tokenizer.status();
  }
  if (!identity.ok()) {
    return absl::Status(identity.status().code(), absl::StrCat(path.string(), ": ", identity.status().message()));
  }
  return identity;
}

bool IsTokenizerIdentity(absl::string_view text) {
  if (text.size() != kTokenizerIdentityLength) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

std::string ShortTokenizerIdentity(absl::string_view identity) {
  if (identity.empty()) return "(none)";
  return std::string(identity.substr(0, 12));
}

}  // namespace expsvc::lm
