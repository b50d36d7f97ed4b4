// Helpers every importer shares: the deny-list (deny_list.h) of source
// column and element names, value parsers that name what they accept, and the check that every
// selected pupil key and group was found. Private to vault/src.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "coffer/vault/records/import.h"
#include "deny_list.h"

namespace coffer::vault::detail {

// "true"/"false", "yes"/"no", "y"/"n", "1"/"0"; nullopt for empty; throws
// Error(kUsage) with `where` for anything else.
std::optional<bool> parse_flag(std::string_view text, const std::string& where);
// M/F/U (also Male, Female, Unknown, Not known, other, unspecified).
std::string parse_sex(std::string_view text, const std::string& where);
std::string parse_severity(std::string_view text, const std::string& where);
std::string parse_administered_by(std::string_view text, const std::string& where);
// A date cell (empty = nullopt); throws naming the expected form and how to
// declare DD/MM/YYYY dates: the "# dates:" comment of a coffer-csv file, or,
// when `mapping` names a mapped CSV's mapping file, its date_format key.
std::optional<Date> parse_date_cell(std::string_view text, bool uk, const std::string& where,
                                    std::string_view mapping = {});
// Adds a UPN warning when the UPN is malformed or its check letter wrong;
// returns the normalised UPN.
std::string check_upn_cell(std::string_view text, const std::string& where, std::vector<std::string>& warnings);

// Whether the selection takes this pupil (judged on key, reg_group and
// classes only, so call it before reading the rest of a row); records the
// selection groups it matched. An empty selection takes everyone.
bool select_pupil(SourceData& data, const Selection& selection, const Pupil& pupil);

// Throws Error(kUsage) naming selected
// pupil keys or groups that the source does not contain.
void require_selection_found(const SourceData& data, const Selection& selection, const std::string& source_name);

// CEDS grade code (OneRoster users.grades, SDS roles.grade) -> England
// National Curriculum year, by age (England year = CEDS grade + 1: a Year 5
// pupil is 9-10, like a US 4th grader; research §2.2 "Year 5 ≈ 04"):
// "01".."12" -> "2".."13", "KG" -> "1" (age 5-6), "PK" -> "R" (Reception,
// 4-5), "PR" -> "N" (preschool/nursery). Nullopt for any other value (IT,
// TK, 13, PS, UG, Other, a vendor's own): the importer keeps it as written
// and warns once per distinct value.
std::optional<std::string> england_year(std::string_view ceds);

// Notes in data.provided the source fields these canonical coffer-csv
// columns carry (contact: the Contact<N>. columns).
template <typename Columns>
void note_provided(SourceData& data, const Columns& canonical_columns, bool contact = false) {
  for (auto& c : canonical_columns)
    if (auto* f = source_field_of_column(c.first, contact)) data.provided.emplace(f->name);
}

// Sorts contacts by priority (stable: file order breaks ties).
void sort_contacts(Pupil& pupil);

}  // namespace coffer::vault::detail
