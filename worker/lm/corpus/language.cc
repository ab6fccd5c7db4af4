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

}  // namespace expsvc::lm
