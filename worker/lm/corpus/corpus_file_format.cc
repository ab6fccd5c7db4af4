#include "worker/lm/corpus/corpus_file_format.h"

#include <zlib.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"

namespace expsvc::lm {
namespace {

constexpr size_t kHeaderBytes = 72;
constexpr size_t kWindowLabelBytes = 8;
constexpr size_t kChecksumBytes = 4;
constexpr uint64_t kMaxWindows = uint64_t{1} << 40;  // keeps size arithmetic far from overflow

uint32_t Crc32(absl::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // crc32_z takes a size_t length, so a file over 4 GiB needs no chunking.
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size());
  return static_cast<uint32_t>(crc);
}

class Writer {
 public:
  void U8(uint8_t value) { bytes_.push_back(static_cast<char>(value)); }
  void U16(uint16_t value) { Little(value, 2); }
  void U32(uint32_t value) { Little(value, 4); }
  void U64(uint64_t value) { Little(value, 8); }
  void Text(absl::string_view text) {
    U32(static_cast<uint32_t>(text.size()));
    bytes_.append(text.data(), text.size());
  }
  void Raw(absl::string_view raw) { bytes_.append(raw.data(), raw.size()); }
  std::string& bytes() { return bytes_; }

 private:
  void Little(uint64_t value, int width) {
    for (int i = 0; i < width; ++i) bytes_.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
  std::string bytes_;
};

class Reader {
 public:
  explicit Reader(absl::string_view bytes) : bytes_(bytes) {}

  size_t offset() const { return offset_; }
  bool Has(size_t count) const { return bytes_.size() - offset_ >= count; }

  uint64_t Little(int width) {
    uint64_t value = 0;
    for (int i = 0; i < width; ++i) {
      value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes_[offset_ + i])) << (8 * i);
    }
    offset_ += width;
    return value;
  }
  uint8_t U8() { return static_cast<uint8_t>(Little(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Little(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Little(4)); }
  uint64_t U64() { return Little(8); }
  absl::string_view Raw(size_t count) {
    absl::string_view raw = bytes_.substr(offset_, count);
    offset_ += count;
    return raw;
  }

 private:
  absl::string_view bytes_;
  size_t offset_ = 0;
};

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("corrupt corpus file: ", what));
}

}  // namespace

absl::StatusOr<std::string> EncodeCorpusFile(const LmCorpus& corpus) {
  EXPSVC_RETURN_IF_ERROR(corpus.Validate());
  const uint32_t token_width = corpus.vocab_size() <= 65536 ? 2 : 4;
  Writer out;
  out.Raw(kCorpusFileMagic);
  out.U32(kCorpusFileVersion);
  out.U32(token_width);
  out.U32(static_cast<uint32_t>(corpus.vocab_size()));
  out.U32(static_cast<uint32_t>(corpus.bos_id()));
  out.U32(static_cast<uint32_t>(corpus.window_length()));
  out.U32(kLanguageCount);
  out.U64(corpus.split_seed());
  for (Split split : kAllSplits) out.U64(static_cast<uint64_t>(corpus.window_count(split)));
  out.U32(static_cast<uint32_t>(corpus.documents().size()));
  out.U32(0);
  for (const CorpusDocumentInfo& document : corpus.documents()) {
    out.U8(static_cast<uint8_t>(document.language));
    out.U8(static_cast<uint8_t>(document.split));
    out.U16(0);
    out.Text(document.key);
    out.Text(document.title);
  }
  for (Split split : kAllSplits) {
    for (uint32_t document : corpus.split_documents(split)) {
      out.U8(static_cast<uint8_t>(corpus.documents()[document].language));
      out.U8(static_cast<uint8_t>(split));
      out.U16(0);
      out.U32(document);
    }
  }
  for (Split split : kAllSplits) {
    for (TokenId id : corpus.split_tokens(split)) {
      if (token_width == 2) {
        out.U16(static_cast<uint16_t>(id));
      } else {
        out.U32(static_cast<uint32_t>(id));
      }
    }
  }
  out.U32(Crc32(out.bytes()));
  return std::move(out.bytes());
}

absl::StatusOr<LmCorpus> DecodeCorpusFile(absl::string_view bytes) {
  if (bytes.size() < kHeaderBytes + kChecksumBytes) {
    return Corrupt(
        absl::StrCat("truncated: ", bytes.size(), " bytes, the header alone needs ", kHeaderBytes + kChecksumBytes));
  }
  Reader in(bytes);
  if (in.Raw(kCorpusFileMagic.size()) != kCorpusFileMagic) {
    return Corrupt("bad magic (not an expsvc LM corpus file)");
  }
  const uint32_t version = in.U32();
  if (version != kCorpusFileVersion) {
    return Corrupt(absl::StrCat("format version ", version, ", this reader knows ", kCorpusFileVersion));
  }
  const uint32_t token_width = in.U32();
  const uint32_t vocab_size = in.U32();
  const uint32_t bos_id = in.U32();
  const uint32_t window_length = in.U32();
  const uint32_t language_count = in.U32();
  const uint64_t split_seed = in.U64();
  uint64_t windows[kSplitCount];
  uint64_t total_windows = 0;
  for (uint64_t& count : windows) {
    count = in.U64();
    if (count > kMaxWindows) return Corrupt(absl::StrCat("window count ", count));
    total_windows += count;
  }
  const uint32_t document_count = in.U32();
  in.U32();  // zero
  if (token_width != 2 && token_width != 4) {
    return Corrupt(absl::StrCat("token width ", token_width, " (expected 2 or 4)"));
  }
  if (vocab_size == 0 || vocab_size > (uint32_t{1} << 30) || (token_width == 2 && vocab_size > 65536)) {
    return Corrupt(absl::StrCat("vocab size ", vocab_size, " with ", token_width, "-byte ids"));
  }
  if (window_length < 2 || window_length > (1u << 20)) {
    return Corrupt(absl::StrCat("window length ", window_length));
  }
  if (language_count == 0 || language_count > kLanguageCount) {
    return Corrupt(absl::StrCat("language count ", language_count, " (this reader knows ", kLanguageCount, ")"));
  }

  LmCorpus corpus(static_cast<int32_t>(vocab_size), static_cast<TokenId>(bos_id), static_cast<int32_t>(window_length),
                  split_seed);
  for (uint32_t d = 0; d < document_count; ++d) {
    if (!in.Has(8)) return Corrupt(absl::StrCat("truncated in the table at document ", d));
    CorpusDocumentInfo document;
    const uint8_t language = in.U8();
    const uint8_t split = in.U8();
    in.U16();
    if (language >= language_count) {
      return Corrupt(absl::StrCat("document ", d, " has language label ", language));
    }
    if (split >= kSplitCount) return Corrupt(absl::StrCat("document ", d, " has split ", split));
    document.language = static_cast<Language>(language);
    document.split = static_cast<Split>(split);
    for (std::string* text : {&document.key, &document.title}) {
      if (!in.Has(4)) return Corrupt(absl::StrCat("truncated in the table at document ", d));
      const uint32_t length = in.U32();
      if (!in.Has(length)) return Corrupt(absl::StrCat("truncated in the table at document ", d));
      *text = std::string(in.Raw(length));
    }
    corpus.AddDocument(std::move(document));
  }

  const uint64_t expected_size =
      in.offset() + total_windows * kWindowLabelBytes + total_windows * window_length * token_width + kChecksumBytes;
  if (bytes.size() < expected_size) {
    return Corrupt(absl::StrCat("truncated: ", bytes.size(), " bytes, the header promises ", expected_size));
  }
  if (bytes.size() > expected_size) {
    return Corrupt(absl::StrCat(bytes.size() - expected_size, " bytes after the end"));
  }
  const absl::string_view checked = bytes.substr(0, bytes.size() - kChecksumBytes);
  Reader trailer(bytes.substr(bytes.size() - kChecksumBytes));
  const uint32_t stored = trailer.U32();
  const uint32_t computed = Crc32(checked);
  if (stored != computed) {
    return Corrupt(absl::StrCat("checksum mismatch (stored ", stored, ", computed ", computed,
                                "): the data was changed or damaged"));
  }

  // Labels first (all of them), then tokens, in the same window order.
  std::vector<uint32_t> window_documents;
  window_documents.reserve(total_windows);
  uint64_t index = 0;
  for (Split split : kAllSplits) {
    for (uint64_t w = 0; w < windows[static_cast<int>(split)]; ++w, ++index) {
      const uint8_t language = in.U8();
      const uint8_t window_split = in.U8();
      in.U16();
      const uint32_t document = in.U32();
      const std::string where = absl::StrCat(SplitName(split), " window ", w);
      if (window_split != static_cast<uint8_t>(split)) {
        return Corrupt(absl::StrCat(where, " is labelled split ", window_split));
      }
      if (document >= document_count) {
        return Corrupt(absl::StrCat(where, ": document ", document, " does not exist"));
      }
      const CorpusDocumentInfo& info = corpus.documents()[document];
      if (info.split != split) {
        return Corrupt(
            absl::StrCat(where, ": its document ", document, " is in the ", SplitName(info.split), " split"));
      }
      if (language != static_cast<uint8_t>(info.language)) {
        return Corrupt(
            absl::StrCat(where, " has language label ", language, ", its document ", static_cast<int>(info.language)));
      }
      window_documents.push_back(document);
    }
  }
  std::vector<TokenId> window(window_length);
  for (uint32_t document : window_documents) {
    for (TokenId& id : window) id = static_cast<TokenId>(in.Little(static_cast<int>(token_width)));
    EXPSVC_RETURN_IF_ERROR(corpus.AddWindow(document, window));
  }
  absl::Status valid = corpus.Validate();
  if (!valid.ok()) return Corrupt(valid.message());
  return corpus;
}

absl::Status WriteCorpusFile(const std::string& path, const LmCorpus& corpus) {
  EXPSVC_ASSIGN_OR_RETURN(const std::string bytes, EncodeCorpusFile(corpus));
  return fs::WriteFileAtomically(path, bytes);
}

absl::StatusOr<LmCorpus> ReadCorpusFile(const std::string& path) {
  EXPSVC_ASSIGN_OR_RETURN(const std::string bytes, fs::ReadFile(path));
  absl::StatusOr<LmCorpus> corpus = DecodeCorpusFile(bytes);
  if (!corpus.ok()) {
    return absl::Status(corpus.status().code(), absl::StrCat(path, ": ", corpus.status().message()));
  }
  return corpus;
}

}  // namespace expsvc::lm
