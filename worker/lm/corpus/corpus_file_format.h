#pragma once
// The binary file of an LmCorpus (corpus.bin). Little-endian throughout:
//
//   header, 72 bytes
//     0  "EXLMCORP"                 magic
//     8  u32 format version         1 or 2 (kCorpusFileVersion, what the writer writes)
//    12  u32 token width            2 (uint16 ids, vocab <= 65536) or 4 (uint32)
//    16  u32 vocab size
//    20  u32 BOS id
//    24  u32 window length          BOS + tokens per window
//    28  u32 language count         labels the writer knew (language.h)
//    32  u64 split seed
//    40  u64 windows in train, u64 in valid, u64 in test
//    64  u32 document count, u32 zero
//   tokenizer identity (version 2 only):
//     u32 length (0 or 64), that many bytes: lower-case hex SHA-256 of the
//     tokenizer (tokenizer_identity.h); 0 when unknown
//   document table, per document:
//     u8 language, u8 split, u16 zero, u32 key length, key, u32 title length, title
//   window labels, train windows first, then valid, then test; per window:
//     u8 language, u8 split, u16 zero, u32 document index
//   padding (version 2 only): zero bytes up to a multiple of 8 from the
//     file start, so that mapped 4-byte ids are aligned
//   tokens: window length ids per window, same order
//   u32 CRC-32 (zlib) of every byte before it
//
// Version 1 files (no identity, no padding) still read, with an empty
// tokenizer_identity(). The reader checks everything and names the first
// problem: size, magic, version, header ranges, the identity, the exact
// length, the checksum, the padding, then every label (a window's split must
// be the section it is in and its document's, its language its document's),
// id range and leading BOS. The writer streams into a temporary file and
// renames it, so a reader never sees a partial file.
//
// Memory: ReadCorpusFile maps the file (mapped_file.h). 4-byte ids of a
// version-2 file are used in place: the corpus keeps the mapping, and the
// ids stay in the page cache, off the heap. 2-byte ids (and the possibly
// unaligned 4-byte ids of a version-1 file) are widened into one heap array
// of int32. The checksum is computed over the mapping in chunks.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/lm/corpus/lm_corpus.h"

namespace expsvc::lm {

inline constexpr absl::string_view kCorpusFileMagic = "EXLMCORP";
// Bump when the layout changes.
inline constexpr uint32_t kCorpusFileVersion = 2;

absl::StatusOr<std::string> EncodeCorpusFile(const LmCorpus& corpus);
// Copies the ids out of `bytes`.
absl::StatusOr<LmCorpus> DecodeCorpusFile(absl::string_view bytes);

absl::Status WriteCorpusFile(const std::string& path, const LmCorpus& corpus);
// Errors name the file.
absl::StatusOr<LmCorpus> ReadCorpusFile(const std::string& path);

}  // namespace expsvc::lm
