#pragma once
// A document of the bilingual corpus (the unit that is split into
// train/valid/test and cut into windows), and what a document source reports.

#include <string>
#include <vector>

#include "worker/lm/corpus/language.h"

namespace expsvc::lm {

struct Document {
  // Names the text independently of its language ("ch4/4.5.4" for a section
  // of the Debian Reference, the relative file name for a text folder), so
  // that a text and its translation share it and always land in the same
  // split.
  std::string key;
  std::string title;
  Language language = Language::kEnglish;
  // One line each, no newlines; the model sees them in order. Sources put
  // the title first.
  std::vector<std::string> paragraphs;
  // Where it came from, for messages ("debian-reference.ja.txt.gz").
  std::string source;
};

// Display width of the paragraphs: CJK characters count 2, others 1. A
// Japanese text has about half the characters of its English original, so
// size limits in width treat both languages alike.
size_t DisplayWidth(const Document& document);

// What a document source kept and dropped, for reports.
struct DocumentSourceStats {
  int documents = 0;
  int small_documents_dropped = 0;          // below the minimum size
  int paragraphs = 0;                       // kept, titles included
  int table_rows = 0;                       // table rows kept as paragraphs
  int table_rows_dropped = 0;               // unreadable or left out by option
  int contents_paragraphs_dropped = 0;      // tables of contents
  int untranslated_paragraphs_dropped = 0;  // English prose in Japanese text
};

}  // namespace expsvc::lm
