#pragma once
// Language labels of the bilingual corpus. The numeric values are stored in
// corpus files, so they never change; a new language takes the next value
// and a row in kLanguages (language.cc).

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace expsvc::lm {

enum class Language : uint8_t {
  kEnglish = 0,
  kJapanese = 1,
};

// How many labels exist; labels are 0 .. kLanguageCount - 1.
inline constexpr int kLanguageCount = 2;

// "en", "ja".
std::string LanguageCode(Language language);
// "English", "Japanese".
std::string LanguageName(Language language);

}  // namespace expsvc::lm
