// Everything an importer returns, as one string, so importer tests can
// assert that no value of a dropped column leaked anywhere into the result.
#pragma once

#include <sstream>
#include <string>

#include "coffer/vault/records/import.h"

namespace coffer::vault::testing {

inline std::string dump(const SourceData& d) {
  std::ostringstream o;
  o << d.format << '|' << d.source_pupils << '|';
  for (auto& s : d.dropped) o << s << ',';
  for (auto& s : d.unmapped) o << s << ',';
  for (auto& s : d.warnings) o << s << ',';
  for (auto& s : d.matched_groups) o << s << ',';
  for (auto& p : d.pupils) {
    o << p.key << p.upn << p.surname << p.forename << p.preferred_surname << p.preferred_forename
      << (p.dob ? format_date(*p.dob) : "") << p.sex << p.year_group << p.reg_group;
    for (auto& c : p.classes) o << c;
    for (auto& c : p.contacts) {
      o << c.priority << c.name << c.relationship << c.ranked;
      for (auto& ph : c.phones) o << ph.kind << ph.number << ph.display;
    }
    for (auto& c : p.conditions) o << c;
    for (auto& a : p.allergies) o << a.what << a.severity;
    for (auto& m : p.medication) o << m.what << m.administered_by;
    for (auto& x : p.dietary) o << x;
    for (auto& x : p.activity_notes) o << x;
    o << p.care_plan << p.emergency_consent << p.swimming << p.support_note << p.photo;
  }
  return o.str();
}

}  // namespace coffer::vault::testing
