// expsvc-lm-corpus-stats: builds the bilingual LM corpus into a folder and
// prints documents and windows per split and language and the time taken.
//
//   expsvc-lm-corpus-stats --output=/tmp/lm-corpus
//       [--debian_reference_dir=/usr/share/debian-reference | --text_folder=ROOT]
//       [--vocab_size=8000 | --tokenizer=FILE.model|FILE.json] [--tokens_per_window=64] [--seed=1] [--threads=1]
//       [--list_documents] [--show_document=KEY]

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "worker/lm/corpus/corpus_builder.h"
#include "worker/lm/corpus/corpus_file_format.h"
#include "worker/lm/corpus/debian_reference_source.h"
#include "worker/lm/corpus/text_folder_source.h"

ABSL_FLAG(std::string, output, "", "folder to write tokenizer/ and corpus.bin into (required)");
ABSL_FLAG(std::string, debian_reference_dir, expsvc::lm::kDefaultDebianReferenceFolder,
          "folder holding debian-reference.{en,ja}.txt.gz");
ABSL_FLAG(std::string, text_folder, "",
          "use this folder of en/ and ja/ plain-text files instead of the Debian Reference");
ABSL_FLAG(int32_t, vocab_size, 8000, "tokenizer vocabulary size (upper bound)");
ABSL_FLAG(std::string, tokenizer, "",
          "tokenise with this tokenizer.model or tokenizer.json instead of training one (--vocab_size is then unused)");
ABSL_FLAG(int32_t, tokens_per_window, 64, "tokens after BOS in each window");
ABSL_FLAG(uint64_t, seed, 1, "seed of the train/valid/test split and of the tokenizer trainer");
ABSL_FLAG(int32_t, threads, 1, "tokenizer training threads");
ABSL_FLAG(int32_t, min_document_width, 200,
          "Debian Reference sections with less body text (display width) are dropped");
ABSL_FLAG(bool, keep_table_rows, true, "keep the rows of the manual's tables as paragraphs");
ABSL_FLAG(bool, list_documents, false, "print one line per document");
ABSL_FLAG(std::string, show_document, "",
          "print the paragraphs of the documents with this key (e.g. ch1/1.1.10) and continue");

namespace {

using expsvc::lm::Document;
using expsvc::lm::DocumentSourceStats;
using expsvc::lm::Language;
using expsvc::lm::Split;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void PrintSourceStats(const DocumentSourceStats& stats) {
  std::printf(
      "  %d documents kept (%d paragraphs, %d of them table rows); dropped: %d small documents, "
      "%d table rows, %d table-of-contents paragraphs, %d untranslated English paragraphs in "
      "Japanese text\n",
      stats.documents, stats.paragraphs, stats.table_rows, stats.small_documents_dropped, stats.table_rows_dropped,
      stats.contents_paragraphs_dropped, stats.untranslated_paragraphs_dropped);
}

int Run() {
  const std::string output = absl::GetFlag(FLAGS_output);
  if (output.empty()) {
    std::fprintf(stderr, "--output is required\n");
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  DocumentSourceStats source_stats;
  absl::StatusOr<std::vector<Document>> documents;
  if (!absl::GetFlag(FLAGS_text_folder).empty()) {
    std::printf("source: text folder %s\n", absl::GetFlag(FLAGS_text_folder).c_str());
    documents = expsvc::lm::LoadBilingualTextFolder(absl::GetFlag(FLAGS_text_folder), {}, &source_stats);
  } else {
    expsvc::lm::DebianReferenceOptions source;
    source.folder = absl::GetFlag(FLAGS_debian_reference_dir);
    source.min_document_width = static_cast<size_t>(absl::GetFlag(FLAGS_min_document_width));
    source.keep_table_rows = absl::GetFlag(FLAGS_keep_table_rows);
    std::printf("source: Debian Reference in %s\n", source.folder.c_str());
    documents = expsvc::lm::LoadDebianReference(source, &source_stats);
  }
  if (!documents.ok()) {
    std::fprintf(stderr, "%s\n", documents.status().ToString().c_str());
    return 1;
  }
  const double load_seconds = SecondsSince(start);
  PrintSourceStats(source_stats);
  size_t bytes[expsvc::lm::kLanguageCount] = {};
  for (const Document& document : *documents) {
    for (const std::string& paragraph : document.paragraphs) {
      bytes[static_cast<int>(document.language)] += paragraph.size() + 1;
    }
    if (document.key == absl::GetFlag(FLAGS_show_document)) {
      std::printf("---- %s %s (%s)\n", expsvc::lm::LanguageCode(document.language).c_str(), document.key.c_str(),
                  document.source.c_str());
      for (const std::string& paragraph : document.paragraphs) {
        std::printf("%s\n\n", paragraph.c_str());
      }
    }
    if (absl::GetFlag(FLAGS_list_documents)) {
      std::printf("  %s %-14s %6zu width  %s\n", expsvc::lm::LanguageCode(document.language).c_str(),
                  document.key.c_str(), expsvc::lm::DisplayWidth(document), document.title.c_str());
    }
  }
  std::printf("  text: %zu bytes English, %zu bytes Japanese; read in %.2f s\n", bytes[0], bytes[1], load_seconds);

  expsvc::lm::CorpusBuildOptions options;
  options.tokens_per_window = absl::GetFlag(FLAGS_tokens_per_window);
  options.split_seed = absl::GetFlag(FLAGS_seed);
  options.tokenizer.vocab_size = absl::GetFlag(FLAGS_vocab_size);
  options.tokenizer.num_threads = absl::GetFlag(FLAGS_threads);
  options.tokenizer.seed = static_cast<uint32_t>(absl::GetFlag(FLAGS_seed));
  options.tokenizer_file = absl::GetFlag(FLAGS_tokenizer);
  absl::StatusOr<expsvc::lm::CorpusBuildReport> report = expsvc::lm::BuildLmCorpus(*documents, options, output);
  if (!report.ok()) {
    std::fprintf(stderr, "%s\n", report.status().ToString().c_str());
    return 1;
  }
  if (options.tokenizer_file.empty()) {
    std::printf("tokenizer: %d pieces from %lld training-split sentences in %.2f s (%d thread%s) -> %s\n",
                report->vocab_size, static_cast<long long>(report->tokenizer_sentences), report->tokenizer_seconds,
                options.tokenizer.num_threads, options.tokenizer.num_threads == 1 ? "" : "s",
                report->tokenizer_folder.c_str());
  } else {
    std::printf("tokenizer: %s, %d pieces, copied in %.2f s -> %s\n", options.tokenizer_file.c_str(),
                report->vocab_size, report->tokenizer_seconds, report->tokenizer_folder.c_str());
  }
  std::printf("tokenizer identity: %s\n", report->tokenizer_identity.c_str());
  std::printf("tokenised and cut into windows of BOS + %d in %.2f s\n", options.tokens_per_window,
              report->tokenize_seconds);
  std::printf("%-6s %-9s %9s %9s %10s %14s\n", "split", "language", "documents", "windows", "tokens", "dropped tokens");
  for (Split split : expsvc::lm::kAllSplits) {
    for (int l = 0; l < expsvc::lm::kLanguageCount; ++l) {
      const expsvc::lm::CorpusCounts& counts = report->at(split, static_cast<Language>(l));
      std::printf("%-6s %-9s %9lld %9lld %10lld %14lld\n", expsvc::lm::SplitName(split).c_str(),
                  expsvc::lm::LanguageName(static_cast<Language>(l)).c_str(), static_cast<long long>(counts.documents),
                  static_cast<long long>(counts.windows), static_cast<long long>(counts.tokens),
                  static_cast<long long>(counts.dropped_tokens));
    }
  }
  const auto read_start = std::chrono::steady_clock::now();
  absl::StatusOr<expsvc::lm::LmCorpus> corpus = expsvc::lm::ReadCorpusFile(report->corpus_path);
  if (!corpus.ok()) {
    std::fprintf(stderr, "reading back: %s\n", corpus.status().ToString().c_str());
    return 1;
  }
  std::printf("%s: %lld bytes; read back and validated in %.3f s\n", report->corpus_path.c_str(),
              static_cast<long long>(report->corpus_file_bytes), SecondsSince(read_start));
  std::printf("total %.2f s\n", SecondsSince(start));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Builds the bilingual LM corpus (tokenizer + windows) and prints its numbers.");
  absl::ParseCommandLine(argc, argv);
  return Run();
}
