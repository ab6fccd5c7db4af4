#include "worker/lm/corpus/language.h"

#include <array>

namespace expsvc::lm {
namespace {

struct LanguageRow {
  Language language;
  const char* code;
  const char* name;
};

constexpr std::array<LanguageRow, kLanguageCount> kLanguages = {{
    {Language::kEnglish, "en", "English"},
    {Language::kJapanese, "ja", "Japanese"},
}};

}  // namespace

std::string LanguageCode(Language language) {
  return kLanguages[static_cast<uint8_t>(language)].code;
}

std::string LanguageName(Language language) {
  return kLanguages[static_cast<uint8_t>(language)].name;
}

std::optional<Language> LanguageFromCode(absl::string_view code) {
  for (const LanguageRow& row : kLanguages) {
    if (code == row.code) return row.language;
  }
  return std::nullopt;
}

std::optional<Language> LanguageFromLabel(uint8_t label) {
  if (label >= kLanguageCount) return std::nullopt;
  return kLanguages[label].language;
}

}  // namespace expsvc::lm
