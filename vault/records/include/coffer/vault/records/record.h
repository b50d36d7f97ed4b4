// The canonical pupil record every importer produces and the coffer stores
// (school data research §6.1), and the catalogue of field groups a purpose
// profile names, each with its sensitivity tier. Only the groups a coffer's
// profile allows survive minimise(); everything else never reaches the
// database.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/vault/records/profile.h"

namespace coffer::vault {

// S0 internal ids and groups, S1 personal data, S2 special-category data
// (UK GDPR Art. 9: health, and diet that may reveal health or religion).
enum class Tier { kS0, kS1, kS2 };

struct FieldGroup {
  std::string_view name;   // as named in profiles ("medical")
  std::string_view label;  // for people ("medical conditions, allergies, medication")
  Tier tier;
  bool special_category;
};
// Every group known_fields() lists, in display order.
const std::vector<FieldGroup>& field_groups();
const FieldGroup* find_field_group(std::string_view name);

// What a source can provide, finer than the field groups: a trip sheet must
// tell "the source has an allergies column and it is empty" (none recorded)
// from "the source has no allergies at all" (not provided: ask the school).
// Importers fill SourceData::provided with these names; the coffer keeps
// them per import (FORMAT.md §8.6).
struct SourceField {
  std::string_view name;   // stored name ("allergies")
  std::string_view label;  // for people and manifest.json ("medical conditions")
  std::string_view group;  // the profile field group it belongs to ("medical")
  bool special_category;
};
// Every source field, in display order.
const std::vector<SourceField>& source_fields();
const SourceField* find_source_field(std::string_view name);
// The source field a coffer-csv column (canonical name, contact columns
// without their "Contact<N>." prefix) carries; nullptr for keys and for
// columns that only qualify another (AllergySeverity, Order, ...).
const SourceField* source_field_of_column(std::string_view canonical_column, bool contact);

struct Phone {
  std::string kind;     // "mobile", "home", "work" or "" (unknown)
  std::string number;   // as the source wrote it
  std::string display;  // UK numbers normalised ("07700 900123"), else = number
};

struct Contact {
  int priority = 0;  // 1 = call first
  std::string name;
  std::string relationship;
  std::optional<bool> parental_responsibility;  // unknown in OneRoster
  bool ranked = true;                           // false: priority is only file order
  bool do_not_release = false;                  // never hand the pupil to this person
  std::vector<Phone> phones;
};

struct Allergy {
  std::string what;
  std::string severity;  // "", "mild", "moderate", "severe", "anaphylaxis"
};

struct Medication {
  std::string what;
  std::string administered_by;  // "", "self", "staff"
};

struct Pupil {
  std::string key;  // the source's own pupil key (PupilKey, sourcedId, UPN)
  std::string upn;
  std::string surname, forename;                      // legal names
  std::string preferred_surname, preferred_forename;  // empty = as legal
  std::optional<Date> dob;
  std::string sex;  // "M", "F", "U" or ""
  std::string year_group, reg_group;
  std::vector<std::string> classes;
  std::vector<Contact> contacts;  // sorted by priority
  // medical
  std::vector<std::string> conditions;
  std::vector<Allergy> allergies;
  std::vector<Medication> medication;
  std::string care_plan;
  std::string emergency_consent;  // "yes", "no" or ""
  // dietary
  std::vector<std::string> dietary;
  // activity notes
  std::string swimming;
  std::vector<std::string> activity_notes;
  std::string support_note;
  std::string photo;            // a reference (file name), not the image
  std::optional<Date> expires;  // a shorter expiry for this record, if any

  // Where the record came from, read from its import's log (never stored
  // per pupil): the source format ("OneRoster 1.1") and the source fields
  // it provided. nullopt: not known (imported before coffer kept this), so
  // an empty field means "not known", never "none".
  std::string source;
  std::optional<std::set<std::string>> provided;

  // "Surname, Forename" using preferred names where given.
  std::string display_name() const;
};

// Clears every field whose group the profile fields do not include.
void minimise(Pupil& pupil, const std::vector<std::string>& allowed_groups);
// The groups that carry a value in this record.
std::vector<std::string> groups_present(const Pupil& pupil);

// Whether the record's source provided this source field: true, false, or
// nullopt when not known (see Pupil::provided).
std::optional<bool> source_provides(const Pupil& pupil, std::string_view source_field);
// The labels of the special-category source fields that carry a value in
// this record ("allergies", "medical conditions", ...); names, never values.
std::vector<std::string> special_category_present(const Pupil& pupil);

// UK numbers in the usual spaced form; anything else unchanged.
std::string display_phone(std::string_view number);

// "YYYY-MM-DD"
std::string format_date(const Date& d);
// Parses "YYYY-MM-DD" (or "DD/MM/YYYY" when uk is true, where the day and
// month may also be one digit: "1/1/2005"); nullopt for anything else,
// including impossible dates such as 2026-02-30.
std::optional<Date> parse_date(std::string_view text, bool uk = false);

}  // namespace coffer::vault
