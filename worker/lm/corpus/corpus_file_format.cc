#include "worker/lm/corpus/corpus_file_format.h"

#include <zlib.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/fs/file_io.h"
#include "common/status_macros.h"
#include "worker/lm/corpus/mapped_file.h"
#include "worker/lm/tokenizer/tokenizer_identity.h"

namespace expsvc::lm {
namespace {

constexpr uint32_t kFirstVersion = 1;
constexpr size_t kHeaderBytes = 72;
constexpr size_t kWindowLabelBytes = 8;
constexpr size_t kChecksumBytes = 4;
constexpr size_t kTokenAlignment = 8;                // version 2
constexpr uint64_t kMaxWindows = uint64_t{1} << 40;  // keeps size arithmetic far from overflow
constexpr uint64_t kMaxTokens = uint64_t{1} << 56;
constexpr size_t kChunkBytes = size_t{8} << 20;  // checksum and write buffer

uint32_t UpdateCrc32(uint32_t crc, absl::string_view bytes) {
  return static_cast<uint32_t>(crc32_z(crc, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

uint32_t Crc32(absl::string_view bytes) {
  uint32_t crc = static_cast<uint32_t>(crc32(0L, Z_NULL, 0));
  for (size_t offset = 0; offset < bytes.size(); offset += kChunkBytes) {
    crc = UpdateCrc32(crc, bytes.substr(offset, kChunkBytes));
  }
  return crc;
}

size_t PaddingBefore(uint64_t offset) {
  return static_cast<size_t>((kTokenAlignment - offset % kTokenAlignment) % kTokenAlignment);
}

// Buffers little-endian fields and hands them to `sink` in chunks, keeping
// the running CRC, so a large corpus never exists twice in memory.
class Writer {
 public:
  using Sink = std::function<absl::Status(absl::string_view)>;
  explicit Writer(Sink sink) : sink_(std::move(sink)), crc_(static_cast<uint32_t>(crc32(0L, Z_NULL, 0))) {}

  void U8(uint8_t value) { Little(value, 1); }
  void U16(uint16_t value) { Little(value, 2); }
  void U32(uint32_t value) { Little(value, 4); }
  void U64(uint64_t value) { Little(value, 8); }
  void Text(absl::string_view text) {
    U32(static_cast<uint32_t>(text.size()));
    Raw(text);
  }
  void Raw(absl::string_view raw) {
    buffer_.append(raw.data(), raw.size());
    MaybeFlush();
  }
  uint64_t offset() const { return flushed_ + buffer_.size(); }

  // Flushes, then appends the CRC of everything written.
  absl::Status Finish() {
    Flush();
    const uint32_t crc = crc_;
    Little(crc, 4);
    if (status_.ok()) status_ = sink_(buffer_);
    buffer_.clear();
    return status_;
  }

 private:
  void Little(uint64_t value, int width) {
    for (int i = 0; i < width; ++i) buffer_.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
    MaybeFlush();
  }
  void MaybeFlush() {
    if (buffer_.size() >= kChunkBytes) Flush();
  }
  void Flush() {
    crc_ = UpdateCrc32(crc_, buffer_);
    if (status_.ok()) status_ = sink_(buffer_);
    flushed_ += buffer_.size();
    buffer_.clear();
  }

  Sink sink_;
  std::string buffer_;
  uint64_t flushed_ = 0;
  uint32_t crc_;
  absl::Status status_;
};

absl::Status Encode(const LmCorpus& corpus, Writer& out) {
  EXPSVC_RETURN_IF_ERROR(corpus.Validate());
  const uint32_t token_width = corpus.vocab_size() <= 65536 ? 2 : 4;
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
  out.Text(corpus.tokenizer_identity());
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
  for (size_t pad = PaddingBefore(out.offset()); pad > 0; --pad) out.U8(0);
  for (Split split : kAllSplits) {
    for (TokenId id : corpus.split_tokens(split)) {
      if (token_width == 2) {
        out.U16(static_cast<uint16_t>(id));
      } else {
        out.U32(static_cast<uint32_t>(id));
      }
    }
  }
  return out.Finish();
}

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

// `storage`, when given, owns `bytes` and lets aligned 4-byte ids be used in
// place; otherwise the ids are copied.
absl::StatusOr<LmCorpus> Decode(absl::string_view bytes, std::shared_ptr<const void> storage) {
  if (bytes.size() < kHeaderBytes + kChecksumBytes) {
    return Corrupt(
        absl::StrCat("truncated: ", bytes.size(), " bytes, the header alone needs ", kHeaderBytes + kChecksumBytes));
  }
  Reader in(bytes);
  if (in.Raw(kCorpusFileMagic.size()) != kCorpusFileMagic) {
    return Corrupt("bad magic (not an expsvc LM corpus file)");
  }
  const uint32_t version = in.U32();
  if (version < kFirstVersion || version > kCorpusFileVersion) {
    return Corrupt(
        absl::StrCat("format version ", version, ", this reader knows ", kFirstVersion, " to ", kCorpusFileVersion));
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
  const uint64_t total_tokens = total_windows * window_length;
  if (total_tokens > kMaxTokens) return Corrupt(absl::StrCat(total_tokens, " tokens"));

  LmCorpus corpus(static_cast<int32_t>(vocab_size), static_cast<TokenId>(bos_id), static_cast<int32_t>(window_length),
                  split_seed);
  if (version >= 2) {
    if (!in.Has(4)) return Corrupt("truncated in the tokenizer identity");
    const uint32_t length = in.U32();
    if (length != 0 && length != kTokenizerIdentityLength) {
      return Corrupt(
          absl::StrCat("tokenizer identity of ", length, " bytes (expected 0 or ", kTokenizerIdentityLength, ")"));
    }
    if (!in.Has(length)) return Corrupt("truncated in the tokenizer identity");
    const absl::string_view identity = in.Raw(length);
    if (length > 0 && !IsTokenizerIdentity(identity)) {
      return Corrupt("the tokenizer identity is not lower-case hex");
    }
    corpus.set_tokenizer_identity(std::string(identity));
  }
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

  const uint64_t labels_end = in.offset() + total_windows * kWindowLabelBytes;
  const size_t padding = version >= 2 ? PaddingBefore(labels_end) : 0;
  const uint64_t tokens_offset = labels_end + padding;
  const uint64_t expected_size = tokens_offset + total_tokens * token_width + kChecksumBytes;
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
  std::vector<uint32_t> split_documents[kSplitCount];
  for (Split split : kAllSplits) {
    std::vector<uint32_t>& documents = split_documents[static_cast<int>(split)];
    documents.reserve(windows[static_cast<int>(split)]);
    for (uint64_t w = 0; w < windows[static_cast<int>(split)]; ++w) {
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
      documents.push_back(document);
    }
  }
  for (size_t i = 0; i < padding; ++i) {
    if (in.U8() != 0) return Corrupt("non-zero padding before the tokens");
  }

  // 4-byte little-endian ids below 2^30 are int32 TokenIds as they lie.
  static_assert(std::endian::native == std::endian::little, "in-place ids assume a little-endian host");
  static_assert(sizeof(TokenId) == 4);
  const char* token_bytes = bytes.data() + tokens_offset;
  const TokenId* ids = nullptr;
  std::shared_ptr<const void> token_storage;
  if (storage != nullptr && token_width == 4 && reinterpret_cast<uintptr_t>(token_bytes) % alignof(TokenId) == 0) {
    ids = reinterpret_cast<const TokenId*>(token_bytes);
    token_storage = std::move(storage);
  } else {
    auto widened = std::make_shared<std::vector<TokenId>>(total_tokens);
    for (uint64_t i = 0; i < total_tokens; ++i) {
      if (token_width == 2) {
        uint16_t id;
        std::memcpy(&id, token_bytes + 2 * i, 2);
        (*widened)[i] = id;
      } else {
        uint32_t id;
        std::memcpy(&id, token_bytes + 4 * i, 4);
        (*widened)[i] = static_cast<TokenId>(id);
      }
    }
    ids = widened->data();
    token_storage = std::move(widened);
  }
  uint64_t offset = 0;
  for (Split split : kAllSplits) {
    const uint64_t count = windows[static_cast<int>(split)] * window_length;
    EXPSVC_RETURN_IF_ERROR(corpus.AdoptWindows(split, absl::MakeConstSpan(ids + offset, count),
                                               std::move(split_documents[static_cast<int>(split)]), token_storage));
    offset += count;
  }
  absl::Status valid = corpus.Validate();
  if (!valid.ok()) return Corrupt(valid.message());
  return corpus;
}

}  // namespace

absl::StatusOr<std::string> EncodeCorpusFile(const LmCorpus& corpus) {
  std::string bytes;
  Writer out([&bytes](absl::string_view chunk) {
    bytes.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  });
  EXPSVC_RETURN_IF_ERROR(Encode(corpus, out));
  return bytes;
}

absl::StatusOr<LmCorpus> DecodeCorpusFile(absl::string_view bytes) {
  return Decode(bytes, nullptr);
}

absl::Status WriteCorpusFile(const std::string& path, const LmCorpus& corpus) {
  EXPSVC_ASSIGN_OR_RETURN(fs::AtomicFileWriter file, fs::AtomicFileWriter::Create(path));
  Writer out([&file](absl::string_view chunk) { return file.Write(std::string_view(chunk.data(), chunk.size())); });
  // On an error the writer is dropped without Commit and removes its temporary file.
  EXPSVC_RETURN_IF_ERROR(Encode(corpus, out));
  return file.Commit();
}

absl::StatusOr<LmCorpus> ReadCorpusFile(const std::string& path) {
  EXPSVC_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(path));
  const absl::string_view bytes = file->bytes();
  absl::StatusOr<LmCorpus> corpus = Decode(bytes, std::move(file));
  if (!corpus.ok()) {
    return absl::Status(corpus.status().code(), absl::StrCat(path, ": ", corpus.status().message()));
  }
  return corpus;
}

}  // namespace expsvc::lm
