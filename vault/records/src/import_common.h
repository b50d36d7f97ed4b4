// Helpers every importer shares: the deny-list of source column and element
// names, value parsers that name what they accept, and the check that every
// selected pupil key and group was found. Private to vault/src.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "coffer/vault/records/import.h"

namespace coffer::vault::detail {

// True for a source column or element name that carries deny-listed data
// (ethnicity, religion, FSM, SEN, addresses, ...). Case, spaces and
// punctuation are ignored, so "Ethnicity", "ethnic_group" and
// "FSM Eligible" all match.
bool is_denied_column(std::string_view name);

// "true"/"false", "yes"/"no", "y"/"n", "1"/"0"; nullopt for empty; throws
// Error(kUsage) with `where` for anything else.
std::optional<bool> parse_flag(std::string_view text, const std::string& where);
// M/F/U (also Male, Female, Unknown, Not known, other, unspecified).
std::string parse_sex(std::string_view text, const std::string& where);
std::string parse_severity(std::string_view text, const std::string& where);
std::string parse_administered_by(std::string_view text, const std::string& where);
// A date cell (empty = nullopt); throws naming the expected form.
std::optional<Date> parse_date_cell(std::string_view text, bool uk, const std::string& where);
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
