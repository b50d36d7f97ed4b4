// Unique Pupil Numbers (England): format and mod-23 check letter, as the
// DfE's "Unique Pupil Number 2.0" standard defines them. Importers warn on a
// bad UPN and keep the pupil (the records issue); this is the check itself.
#pragma once

#include <string>
#include <string_view>

namespace coffer::vault {

struct UpnCheck {
  std::string normalised;    // trimmed, spaces removed, upper case
  bool well_formed = false;  // 13 chars: letter, 11 digits, digit or letter
  bool temporary = false;    // ends in a letter
  char expected = '\0';      // the check letter the 12 trailing chars give
  // A malformed UPN that starts with a digit: its check letter (the first
  // character) is missing or was typed as a digit.
  bool leading_digit = false;
  bool valid() const { return well_formed && !normalised.empty() && normalised[0] == expected; }
};

UpnCheck check_upn(std::string_view text);

}  // namespace coffer::vault
