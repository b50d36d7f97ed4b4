// The deny-list: source column and element names no coffer may ever carry
// (special-category and high-risk data: ethnicity, religion, SEN and US
// special-education flags, free meals and free lunch, care status, EAL/ELL,
// addresses, passwords, ...; research §6.2 and issue 16). Every importer
// asks it about every header it meets, before reading a cell; a denied
// column is dropped and reported by name, never by value, and a mapping can
// never name one. docs/IMPORT.md has the table of every stem. Private to
// vault/records/src.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coffer::vault::detail {

// Why a source column or element name is on the deny-list ("special
// educational needs or disability (SEN, EHCP, IEP, Section 504)"), or
// nullopt when it is not. Names are matched on their words and on their
// folded form (lower case, letters and digits only):
//  - short codes (fsm, sen, lac, cla, cin, eal, ell, lep, esl, esol, iep,
//    504, frl) only as a whole word, the words split at anything not a
//    letter or digit, between letters and digits and at camelCase
//    boundaries: "isELL", "ell_status", "IEPDate", "has504Plan" and "LEP
//    Status" match; "Spelling", "Telephone" and "Lactose" do not;
//  - longer stems anywhere in the folded name ("Free Lunch", "free_lunch",
//    "isFreeLunchEligible", "userFlags", "guardianEmail", "birthCity");
//  - a few stems only at the start ("FSMeligible", "raceCodes") and a few
//    exact names (OneRoster's race columns "asian", "white").
std::optional<std::string> deny_reason(std::string_view name);

// deny_reason(name).has_value().
bool is_denied_column(std::string_view name);

// The words of a name as deny_reason splits them, lower-cased ("isELL" ->
// is, ell; "Ever6FSM" -> ever, 6, fsm). Exposed for tests.
std::vector<std::string> name_words(std::string_view name);

}  // namespace coffer::vault::detail
