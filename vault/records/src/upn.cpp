// UPN check letter; see upn.h. Weights are character positions 2..13; a
// digit counts its value, a letter its index in the 23-letter alphabet below
// (I, O and S are never used), and the sum mod 23 picks the check letter.
#include "coffer/vault/records/upn.h"

#include <cctype>

namespace coffer::vault {
namespace {
constexpr std::string_view kLetters = "ABCDEFGHJKLMNPQRTUVWXYZ";
}

UpnCheck check_upn(std::string_view text) {
  UpnCheck r;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c)))
      r.normalised += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string& s = r.normalised;
  r.leading_digit = !s.empty() && s[0] >= '0' && s[0] <= '9';
  if (s.size() != 13 || kLetters.find(s[0]) == std::string_view::npos) return r;
  int sum = 0;
  for (std::size_t i = 1; i < 13; ++i) {
    int value;
    if (s[i] >= '0' && s[i] <= '9') {
      value = s[i] - '0';
    } else if (i == 12 && kLetters.find(s[i]) != std::string_view::npos) {
      value = static_cast<int>(kLetters.find(s[i]));
      r.temporary = true;
    } else {
      return r;
    }
    sum += static_cast<int>(i + 1) * value;
  }
  r.well_formed = true;
  r.expected = kLetters[static_cast<std::size_t>(sum % 23)];
  return r;
}

}  // namespace coffer::vault
