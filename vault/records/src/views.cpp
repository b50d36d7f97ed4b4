// Record views; see views.h.
#include "coffer/vault/records/views.h"

#include <algorithm>
#include <optional>

namespace coffer::vault {
namespace {

bool has(const std::vector<std::string>& fields, std::string_view g) {
  return std::find(fields.begin(), fields.end(), g) != fields.end();
}

// RFC 4180 quoting, and a leading quote mark on cells a spreadsheet would
// run as a formula (=, +, -, @): a name in an export must not become code.
std::string csv_cell(std::string v) {
  if (!v.empty() && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r'))
    v.insert(0, "'");
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

std::string allergy_text(const Allergy& a) { return a.severity.empty() ? a.what : a.what + " (" + a.severity + ")"; }

std::string medication_text(const Medication& m) {
  if (m.administered_by == "self") return m.what + " (self-administered)";
  if (m.administered_by == "staff") return m.what + " (given by staff)";
  return m.what;
}

std::string phones_text(const Contact& c) {
  std::vector<std::string> v;
  for (auto& p : c.phones) v.push_back(p.kind.empty() ? p.display : p.kind + " " + p.display);
  return join(v, ", ");
}

std::string contact_heading(const Contact& c) {
  std::string s = c.name;
  std::vector<std::string> about;
  if (!c.relationship.empty()) about.push_back(c.relationship);
  if (c.parental_responsibility)
    about.push_back(*c.parental_responsibility ? "parental responsibility" : "no parental responsibility");
  if (!about.empty()) s += " (" + join(about, ", ") + ")";
  return s;
}

// Why a field the profile carries is empty when its source did not provide
// it (or when nobody knows whether it did); nullopt when the source has the
// column, so empty means "none recorded".
std::optional<std::string> not_there(const Pupil& p, std::string_view field) {
  auto provided = source_provides(p, field);
  if (provided && *provided) return std::nullopt;
  if (provided) return "not provided by " + (p.source.empty() ? std::string("the source") : p.source);
  return std::string("not known (imported before coffer recorded what its source provides)");
}

std::string not_there_line(const std::string& heading, const std::string& why) {
  return heading + ": " + why + " \u2014 check with the school office";
}

}  // namespace

std::string pupil_folder_name(const PupilEntry& e) {
  // Cuts s to at most n bytes on a UTF-8 character boundary.
  auto cut = [](std::string s, std::size_t n) {
    if (s.size() <= n) return s;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return s.substr(0, n);
  };
  // The key makes the name unique, so a long name loses its end, not the key.
  std::string tail = " (" + cut(e.key, 200) + ")";
  std::string name = cut(e.display_name, 255 - tail.size()) + tail;
  for (auto& c : name)
    if (c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '_';
  return name;
}

std::string roster_csv(const std::vector<Pupil>& pupils, const std::vector<std::string>& f) {
  struct Column {
    const char* group;
    const char* name;
    std::string (*get)(const Pupil&);
    const char* source_field = nullptr;  // an empty cell is NOT PROVIDED unless the source has it
  };
  static const Column kColumns[] = {
      {"names", "PupilKey", [](const Pupil& p) { return p.key; }},
      {"names", "Surname", [](const Pupil& p) { return p.surname; }},
      {"names", "Forename", [](const Pupil& p) { return p.forename; }},
      {"preferred_names", "PreferredName",
       [](const Pupil& p) {
         std::string f = p.preferred_forename.empty() ? p.forename : p.preferred_forename;
         std::string s = p.preferred_surname.empty() ? p.surname : p.preferred_surname;
         return f + " " + s;
       }},
      {"year_group", "Year", [](const Pupil& p) { return p.year_group; }, "year_group"},
      {"reg_group", "RegGroup", [](const Pupil& p) { return p.reg_group; }, "reg_group"},
      {"classes", "Classes", [](const Pupil& p) { return join(p.classes, "; "); }, "classes"},
      {"upn", "UPN", [](const Pupil& p) { return p.upn; }, "upn"},
      {"dob", "DOB", [](const Pupil& p) { return p.dob ? format_date(*p.dob) : std::string(); }, "dob"},
      {"sex", "Sex", [](const Pupil& p) { return p.sex; }, "sex"},
      {"medical", "Allergies",
       [](const Pupil& p) {
         std::vector<std::string> v;
         for (auto& a : p.allergies) v.push_back(allergy_text(a));
         return join(v, "; ");
       },
       "allergies"},
      {"medical", "Medical", [](const Pupil& p) { return join(p.conditions, "; "); }, "conditions"},
      {"medical", "Medication",
       [](const Pupil& p) {
         std::vector<std::string> v;
         for (auto& m : p.medication) v.push_back(medication_text(m));
         return join(v, "; ");
       },
       "medication"},
      {"medical", "EmergencyTreatmentConsent", [](const Pupil& p) { return p.emergency_consent; }, "emergency_consent"},
      {"dietary", "Dietary", [](const Pupil& p) { return join(p.dietary, "; "); }, "dietary"},
      {"activity_notes", "Swimming", [](const Pupil& p) { return p.swimming; }, "swimming"},
      {"emergency_contacts", "FirstContact",
       [](const Pupil& p) { return p.contacts.empty() ? std::string() : contact_heading(p.contacts.front()); },
       "contacts"},
      {"emergency_contacts", "FirstContactPhones",
       [](const Pupil& p) { return p.contacts.empty() ? std::string() : phones_text(p.contacts.front()); },
       "contact_phones"},
      {"photo", "Photo", [](const Pupil& p) { return p.photo; }, "photo"},
  };
  std::vector<const Column*> cols;
  for (auto& c : kColumns)
    if (has(f, c.group)) cols.push_back(&c);
  std::string out;
  for (std::size_t i = 0; i < cols.size(); ++i) out += (i ? "," : "") + std::string(cols[i]->name);
  out += "\r\n";
  for (auto& p : pupils) {
    for (std::size_t i = 0; i < cols.size(); ++i) {
      std::string v = cols[i]->get(p);
      // Empty because the source never had it: say so, never a blank a
      // reader takes for "none".
      if (v.empty() && cols[i]->source_field) {
        auto provided = source_provides(p, cols[i]->source_field);
        if (!provided) v = "NOT KNOWN";
        else if (!*provided) v = "NOT PROVIDED";
      }
      out += (i ? "," : "") + csv_cell(v);
    }
    out += "\r\n";
  }
  return out;
}

std::string profile_txt(const Pupil& p, const std::vector<std::string>& f) {
  std::string out;
  auto line = [&](const std::string& s = "") { out += s + "\n"; };
  auto item = [&](const std::string& s) { line("   - " + s); };

  line(p.display_name() + "  (" + p.key + ")");
  std::vector<std::string> groups;
  if (!p.year_group.empty()) groups.push_back("Year " + p.year_group);
  if (!p.reg_group.empty()) groups.push_back("registration group " + p.reg_group);
  if (!groups.empty()) line(join(groups, ", "));
  line(std::string(60, '='));

  if (has(f, "medical")) {
    line();
    if (p.allergies.empty()) {
      auto why = not_there(p, "allergies");
      line(why ? not_there_line("ALLERGIES", *why) : "ALLERGIES: none recorded");
    } else {
      line("!! ALLERGIES");
      for (auto& a : p.allergies) {
        std::string sev = a.severity;
        std::transform(sev.begin(), sev.end(), sev.begin(), ::toupper);
        item(a.what + (sev.empty() ? "" : ": " + sev));
      }
    }
    line();
    bool any = !p.conditions.empty() || !p.medication.empty() || !p.care_plan.empty();
    auto no_conditions = not_there(p, "conditions"), no_medication = not_there(p, "medication");
    if (!any && no_conditions && no_medication && not_there(p, "care_plan") && *no_conditions == *no_medication) {
      line(not_there_line("MEDICAL", *no_conditions));
    } else {
      line(any ? "!! MEDICAL" : "MEDICAL: no conditions or medication recorded");
      // A source with a conditions column but none for medication (or the
      // other way round) says which part is missing.
      if (p.conditions.empty() && no_conditions) item(not_there_line("Conditions", *no_conditions));
      if (p.medication.empty() && no_medication) item(not_there_line("Medication", *no_medication));
    }
    for (auto& c : p.conditions) item(c);
    for (auto& m : p.medication) item("Medication: " + medication_text(m));
    if (!p.care_plan.empty()) item("Care plan: " + p.care_plan);
    line("   Emergency treatment consent: " +
         (p.emergency_consent.empty() ? std::string("not recorded - ask the school") : p.emergency_consent));
  }
  if (has(f, "emergency_contacts")) {
    line();
    if (p.contacts.empty()) {
      auto why = not_there(p, "contacts");
      line(why ? not_there_line("EMERGENCY CONTACTS", *why)
               : std::string("EMERGENCY CONTACTS: NONE RECORDED - ask the school office"));
    } else {
      bool ranked = std::all_of(p.contacts.begin(), p.contacts.end(), [](const Contact& c) { return c.ranked; });
      line(ranked ? "EMERGENCY CONTACTS (call in this order)" : "EMERGENCY CONTACTS (the source gave no order)");
      int n = 0;
      for (auto& c : p.contacts) {
        line("   " + std::to_string(++n) + ". " + contact_heading(c));
        if (c.do_not_release) line("      !! DO NOT RELEASE the pupil to this person");
        auto why = not_there(p, "contact_phones");
        line("      " + (!c.phones.empty() ? phones_text(c)
                         : why             ? not_there_line("phone", *why)
                                           : std::string("no phone number recorded")));
      }
    }
  }
  if (has(f, "dietary")) {
    line();
    auto why = not_there(p, "dietary");
    if (p.dietary.empty()) line(why ? not_there_line("DIETARY", *why) : "DIETARY: none recorded");
    else {
      line("DIETARY");
      for (auto& d : p.dietary) item(d);
    }
  }
  // Records are minimised before they are stored; the checks here keep the
  // sheet to the profile even so.
  std::vector<std::string> details;
  if (has(f, "preferred_names") && (!p.preferred_forename.empty() || !p.preferred_surname.empty()))
    details.push_back("Legal name: " + p.forename + " " + p.surname);
  if (p.dob && has(f, "dob")) details.push_back("Date of birth: " + format_date(*p.dob));
  if (!p.sex.empty() && has(f, "sex")) details.push_back("Sex: " + p.sex);
  if (!p.upn.empty() && has(f, "upn")) details.push_back("UPN: " + p.upn);
  if (!p.classes.empty() && has(f, "classes")) details.push_back("Classes: " + join(p.classes, ", "));
  if (!p.photo.empty() && has(f, "photo")) details.push_back("Photo: " + p.photo);
  if (p.expires) details.push_back("This record expires: " + format_date(*p.expires));
  if (!details.empty()) {
    line();
    line("DETAILS");
    for (auto& d : details) line("   " + d);
  }
  const bool notes = has(f, "activity_notes") && (!p.swimming.empty() || !p.activity_notes.empty());
  const bool support = has(f, "support_note") && !p.support_note.empty();
  if (notes || support) {
    line();
    line("NOTES");
    if (notes && !p.swimming.empty()) line("   Swimming: " + p.swimming);
    if (notes)
      for (auto& a : p.activity_notes) item(a);
    if (support) line("   Support: " + p.support_note);
  }
  return out;
}

}  // namespace coffer::vault
