// The fictional school: name pools, the shares of medical and contact data,
// and the CSV writer. Shares are rough figures for an English secondary
// school (asthma ~8%, allergies ~6%, ...), enough to look real in a demo.
//
// Determinism: every random draw is its own statement. C++ leaves the order
// of evaluating function arguments and operands of + unspecified, so
// `f(rng.below(3), rng.below(5))` could differ between compilers.
#include "school.h"

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <set>
#include <vector>

#include "rng.h"

namespace coffer::demo_school {
namespace {

using std::string_view;

const std::string_view kPupilHeader =
    "PupilKey,UPN,Surname,Forename,PreferredSurname,PreferredForename,DOB,Sex,NCyearActual,RegGroup,"
    "Classes,MedicalSummary,Allergies,AllergySeverity,Medication,MedicationAdministeredBy,CarePlan,"
    "EmergencyTreatmentConsent,DietaryNeeds,SwimmingAbility,ActivityNotes,SupportNote,PhotoFile";
// Columns a careless MIS report carries; the importer must drop them.
const std::string_view kCarelessColumns = ",Ethnicity,FSMeligible,SENProvision";
const std::string_view kContactHeader =
    "PupilKey,Order,Title,Forename,Surname,Relationship,Responsibility,MobilePhone,HomePhone,WorkPhone,"
    "DoNotRelease";

// Invented but plausible; apostrophes, hyphens and accents exercise quoting
// and UTF-8. No commas: names become folder names in a mounted coffer.
const std::array<string_view, 60> kSurnames = {
    "Ashcombe",    "Applethwaite", "Barrowclough", "Blackwood-Tate", "Brindlecombe",     "Bramblewick",
    "Carraway",    "Cheddleton",   "Colewort",     "Cresswell-Hart", "D'Abernon",        "Dunmere",
    "Eastwold",    "Elderkin",     "Farthingale",  "Fennimore",      "Foxhollow",        "Gildersleeve",
    "Greythorn",   "Hallowell",    "Hartwick",     "Hazelhurst",     "Inchbold",         "Ivybridge",
    "Jessamy",     "Kettleby",     "Kingsmere",    "Larkspur",       "Lindqvist-Moss",   "Loxley",
    "Marchbank",   "Merriweather", "Moorcroft",    "Nettlefold",     "Nightingale-Shaw", "O'Brannagh",
    "O'Dowling",   "Oakenshaw",    "Pemberthy",    "Pilkingwood",    "Quarrington",      "Quenby",
    "Ravensworth", "Adeyemi-Fox",  "Rookwood",     "Saltmarsh",      "Smith-Jones",      "Stowbridge",
    "Tansley",     "Thistlewood",  "Underhill",    "Okonkwo-Bell",   "Wainfleet",        "Lefèvre-Marsh",
    "Willowby",    "Wrenfield",    "Yarrowby",     "Núñez-Hale",     "Chaudhry-Lane",    "Müller-Brook"};

struct Forename {
  string_view name;
  string_view preferred;  // a usual short form, or empty
};

const std::array<Forename, 30> kGirls = {{
    {"Alexandra", "Alex"}, {"Amara", ""},        {"Beatrix", "Bea"},     {"Catriona", ""},    {"Chloé", ""},
    {"Delphine", ""},      {"Elowen", ""},       {"Elizabeth", "Libby"}, {"Freya", ""},       {"Georgina", "Georgie"},
    {"Hana", ""},          {"Imogen", ""},       {"Isla", ""},           {"Josephine", "Jo"}, {"Keziah", ""},
    {"Lowenna", ""},       {"Matilda", "Tilly"}, {"Niamh", ""},          {"Ottilie", ""},     {"Penelope", "Penny"},
    {"Priya", ""},         {"Rosalind", "Ros"},  {"Saoirse", ""},        {"Tamsin", ""},      {"Yara", ""},
    {"Zoë", ""},           {"Anaïs", ""},        {"Siân", ""},           {"Mei", ""},         {"Wren", ""},
}};
const std::array<Forename, 30> kBoys = {{
    {"Alistair", ""},    {"Benjamin", "Ben"},    {"Caspian", ""},       {"Christopher", "Kit"},
    {"Dafydd", ""},      {"Eamon", ""},          {"Felix", ""},         {"Frederick", "Freddie"},
    {"Gideon", ""},      {"Hamish", ""},         {"Idris", ""},         {"Jonathan", "Jon"},
    {"Kofi", ""},        {"Lorcan", ""},         {"Maximilian", "Max"}, {"Nathaniel", "Nat"},
    {"Oisín", ""},       {"Peregrine", "Perry"}, {"Rafferty", "Raff"},  {"Rohan", ""},
    {"Samuel", "Sam"},   {"Tobias", "Toby"},     {"Theodore", "Theo"},  {"Joël", ""},
    {"Wilfred", "Wilf"}, {"Zachariah", "Zac"},   {"Ezra", ""},          {"Arlo", ""},
    {"Björn", ""},       {"Tomasz", ""},
}};

const std::array<string_view, 11> kAllergens = {"peanuts",    "tree nuts",  "egg",        "milk",
                                                "sesame",     "shellfish",  "kiwi fruit", "wasp stings",
                                                "bee stings", "penicillin", "latex"};
const std::array<string_view, 7> kDiets = {"vegetarian", "vegan",  "halal",  "no pork",
                                           "dairy free", "kosher", "no beef"};
const std::array<string_view, 4> kActivityNotes = {"travel sickness", "fear of heights", "fear of water",
                                                   "sunburns easily, needs high-factor sun cream"};
// Neutral notes; one has a comma and one quotes, to exercise CSV quoting.
const std::array<string_view, 5> kSupportNotes = {
    "needs a visual timetable", "sit near the front of the class", "uses a \"time out\" card when overwhelmed",
    "prefers written instructions, one step at a time", "may need extra time to move between rooms"};
const std::array<string_view, 4> kOptionSubjects = {"Fr", "Sp", "Gg", "Hi"};
const std::array<string_view, 4> kSwimming = {"non-swimmer", "weak swimmer", "25m", "confident"};
const std::array<string_view, 14> kEthnicity = {"WBRI", "WIRI", "WOTH", "ABAN", "AIND", "APKN", "BAFR",
                                                "BCRB", "CHNE", "MWBC", "MWAS", "MOTH", "AOTH", "REFU"};
const std::array<string_view, 4> kSeverities = {"mild", "moderate", "severe", "anaphylaxis"};

// Appends fields to a line (a new one unless `continues`), quoting per RFC
// 4180 only where needed; the caller ends the line with '\n' (LF, which the
// contract allows).
void append(std::string& out, std::initializer_list<string_view> fields, bool continues = false) {
  bool first = !continues;
  for (string_view field : fields) {
    if (!first) out += ',';
    first = false;
    if (field.find_first_of(",\"\r\n") == string_view::npos) {
      out += field;
      continue;
    }
    out += '"';
    for (char c : field) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  }
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ';';
    out += item;
  }
  return out;
}

// Born in the academic year that puts the pupil in NC year `year` in
// 2026/27: Year 7 from 1 Sep 2014 to 31 Aug 2015, each year one earlier.
std::string date_of_birth(Rng& rng, int year) {
  using namespace std::chrono;
  const int born = 2014 - (year - kFirstYear);
  const sys_days first{std::chrono::year{born} / September / 1};
  const sys_days next{std::chrono::year{born + 1} / September / 1};
  const auto offset = rng.below(static_cast<std::uint64_t>((next - first).count()));
  const year_month_day d{first + days{static_cast<int>(offset)}};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                     static_cast<unsigned>(d.day()));
}

// Ofcom's drama ranges (never allocated): 07700 900000-900999, 01632
// 960000-960999, 020 7946 0000-0999. Written in several styles, as MIS
// data is, so the importer's phone normalisation gets exercised.
std::string mobile(Rng& rng) {
  const auto n = rng.below(1000);
  switch (rng.weighted({50, 30, 20})) {
    case 0:
      return fmt::format("07700 900{:03}", n);
    case 1:
      return fmt::format("07700900{:03}", n);
    default:
      return fmt::format("+44 7700 900{:03}", n);
  }
}

std::string landline(Rng& rng) {
  const auto n = rng.below(1000);
  const bool london = rng.chance(400);
  const auto style = rng.weighted({50, 30, 20});
  if (london) {
    if (style == 0) return fmt::format("020 7946 0{:03}", n);
    if (style == 1) return fmt::format("02079460{:03}", n);
    return fmt::format("+44 20 7946 0{:03}", n);
  }
  if (style == 0) return fmt::format("01632 960{:03}", n);
  if (style == 1) return fmt::format("01632960{:03}", n);
  return fmt::format("+44 1632 960{:03}", n);
}

string_view title(Rng& rng, bool female) {
  if (female) {
    static constexpr std::array<string_view, 5> kTitles = {"Mrs", "Ms", "Dr", "Mx", ""};
    return kTitles[rng.weighted({45, 30, 5, 2, 18})];
  }
  static constexpr std::array<string_view, 4> kTitles = {"Mr", "Dr", "Mx", ""};
  return kTitles[rng.weighted({75, 5, 2, 18})];
}

struct Medical {
  std::vector<std::string> conditions, allergies, severities, medication, administered_by, diets;
  bool care_plan = false;
};

Medical medical(Rng& rng) {
  Medical m;
  auto give = [&m](std::string what, std::string by) {
    m.medication.push_back(std::move(what));
    m.administered_by.push_back(std::move(by));
  };
  if (rng.chance(80)) {
    m.conditions.push_back("Asthma - uses blue inhaler");
    if (rng.chance(850)) give("Salbutamol inhaler", "self");
  }
  if (rng.chance(10)) {
    m.conditions.push_back("Epilepsy");
    give("Buccal midazolam (rescue)", "staff");
    m.care_plan = true;
  }
  if (rng.chance(10)) {
    m.conditions.push_back("Type 1 diabetes");
    give("Insulin pen", "self");
    m.care_plan = true;
  }
  if (rng.chance(30)) m.conditions.push_back("Eczema");
  if (rng.chance(10)) m.conditions.push_back("Migraine");
  bool coeliac = false;
  if (rng.chance(5)) {
    m.conditions.push_back("Coeliac disease");
    coeliac = true;
  }
  if (rng.chance(60)) {
    const std::size_t count = rng.chance(250) ? 2 : 1;
    std::set<std::size_t> taken;
    bool anaphylaxis = false;
    while (taken.size() < count) {
      const auto a = rng.below(kAllergens.size());
      if (!taken.insert(a).second) continue;
      const auto s = rng.weighted({40, 30, 15, 15});
      m.allergies.emplace_back(kAllergens[a]);
      m.severities.emplace_back(kSeverities[s]);
      anaphylaxis = anaphylaxis || s == 3;
    }
    if (anaphylaxis) {
      give("Adrenaline auto-injector x2", "self");
      m.care_plan = true;
    } else if (rng.chance(300)) {
      give("Antihistamine (cetirizine)", "staff");
    }
  }
  if (coeliac) m.diets.push_back("gluten free");
  if (rng.chance(95)) {
    const auto& diet = rng.pick(kDiets);
    m.diets.emplace_back(diet);
  }
  return m;
}

struct Person {
  string_view relationship;
  bool female;
};

// 1-3 contacts; the first is usually a parent. Parents hold parental
// responsibility; step-parents, grandparents and carers usually do not.
void write_contacts(Rng& rng, std::size_t index, const std::string& key, string_view pupil_surname, Export& out) {
  static constexpr std::array<string_view, 4> kOthers = {"Step-parent", "Grandparent", "Aunt", "Family friend"};
  const bool unreachable = (index + 1) % kUnreachableEvery == 0;
  const std::size_t count = unreachable ? 1 : 1 + rng.weighted({20, 60, 20});
  std::vector<Person> people;
  static constexpr std::array<string_view, 4> kFirst = {"Mother", "Father", "Carer", "Grandparent"};
  const auto first = kFirst[rng.weighted({60, 35, 3, 2})];
  for (std::size_t order = 1; order <= count; ++order) {
    string_view rel = first;
    if (order == 2 && (first == "Mother" || first == "Father") && rng.chance(700)) {
      rel = first == "Mother" ? "Father" : "Mother";
    } else if (order > 1) {
      rel = rng.pick(kOthers);
    }
    bool female = rel == "Mother" || rel == "Aunt";
    if (rel != "Mother" && rel != "Father" && rel != "Aunt") female = rng.chance(500);
    const bool parent = rel == "Mother" || rel == "Father";

    const auto t = title(rng, female);
    const auto& forename = rng.pick(female ? kGirls : kBoys);
    string_view surname = pupil_surname;
    if (!rng.chance(750)) surname = rng.pick(kSurnames);
    std::string mob, home, work;
    if (!unreachable) {
      // The first contact always has a mobile: every other pupil has
      // someone reachable.
      if (order == 1 || rng.chance(850)) mob = mobile(rng);
      if (rng.chance(250)) home = landline(rng);
      if (rng.chance(200)) work = landline(rng);
    }
    const bool do_not_release = rng.chance(5);
    append(out.contacts_csv, {key, std::to_string(order), t, forename.name, surname, rel, parent ? "true" : "false",
                              mob, home, work, do_not_release ? "true" : "false"});
    out.contacts_csv += '\n';
    ++out.contacts;
  }
}

}  // namespace

std::size_t forms_per_year(std::size_t pupils) {
  const std::size_t years = kLastYear - kFirstYear + 1;
  return (pupils + kPupilsPerGroup * years - 1) / (kPupilsPerGroup * years);
}

std::string form_letters(std::size_t form) {
  std::string name;
  for (std::size_t n = form + 1; n > 0; n = (n - 1) / 26)
    name.insert(name.begin(), static_cast<char>('A' + (n - 1) % 26));
  return name;
}

std::string pupil_key(std::size_t index, std::size_t pupils) {
  return pupils >= 100'000 ? fmt::format("P{:06}", index + 1) : fmt::format("P{:05}", index + 1);
}

// LA code 999 is not a real local authority and 8888 not a real school.
// The last five digits are the 2-digit year of allocation and a 3-digit
// serial: pupils 1-1000 get year 26 and serials 000-999, the next thousand
// year 25, and so on back through 00, 99, ...; after 100 thousands the
// establishment number steps down (8887, ...). So UPNs stay unique and 13
// characters up to kMaxPupils. Check letter per DfE UPN 2.0: sum of
// position (2..13) x digit, mod 23, indexes the 23-letter alphabet.
std::string upn(std::size_t index) {
  const std::size_t block = index / 1000;
  const std::string digits =
      fmt::format("999{:04}{:02}{:03}", 8888 - block / 100, (126 - block % 100) % 100, index % 1000);
  std::size_t sum = 0;
  for (std::size_t i = 0; i < digits.size(); ++i) sum += (i + 2) * static_cast<std::size_t>(digits[i] - '0');
  static constexpr string_view kLetters = "ABCDEFGHJKLMNPQRTUVWXYZ";
  return kLetters[sum % 23] + digits;
}

Export generate(const Options& options) {
  Export out;
  Rng rng(options.seed);
  const std::size_t n = options.pupils;
  const std::size_t forms = forms_per_year(n);
  const std::size_t groups = forms * (kLastYear - kFirstYear + 1);

  out.pupils_csv.reserve(n * 260);
  out.contacts_csv.reserve(n * 170);
  out.pupils_csv += kPupilHeader;
  if (!options.minimal) out.pupils_csv += kCarelessColumns;
  out.pupils_csv += '\n';
  out.contacts_csv += kContactHeader;
  out.contacts_csv += '\n';

  std::set<std::size_t> used_groups;
  for (std::size_t i = 0; i < n; ++i) {
    // Pupils fill groups in order (1..25 in 7A, 26..50 in 7B, ... for 600
    // pupils), so tests can predict membership; sizes differ by at most one.
    const std::size_t group = i * groups / n;
    used_groups.insert(group);
    const int year = kFirstYear + static_cast<int>(group / forms);
    const std::string reg = std::to_string(year) + form_letters(group % forms);
    const std::string key = pupil_key(i, n);

    const bool female = rng.chance(500);
    const auto& pool = female ? kGirls : kBoys;
    const bool has_preferred = rng.chance(100);
    Forename forename = rng.pick(pool);
    while (has_preferred && forename.preferred.empty()) forename = rng.pick(pool);
    const string_view surname = rng.pick(kSurnames);
    string_view preferred_surname;
    if (rng.chance(20)) preferred_surname = rng.pick(kSurnames);
    const std::string dob = date_of_birth(rng, year);

    std::vector<std::string> classes;
    const auto maths = rng.below(3);
    const auto english = rng.below(3);
    classes.push_back(fmt::format("{}/Ma{}", reg, maths + 1));
    classes.push_back(fmt::format("{}/En{}", reg, english + 1));
    if (rng.chance(500)) {
      const auto& subject = rng.pick(kOptionSubjects);
      classes.push_back(fmt::format("{}/{}1", reg, subject));
    }

    const Medical m = medical(rng);
    const bool consent = rng.chance(970);
    const auto swimming = kSwimming[rng.weighted({5, 15, 40, 40})];
    string_view activity, support;
    if (rng.chance(50)) activity = rng.pick(kActivityNotes);
    if (rng.chance(30)) support = rng.pick(kSupportNotes);

    append(out.pupils_csv, {key,
                            upn(i),
                            surname,
                            forename.name,
                            preferred_surname,
                            has_preferred ? forename.preferred : string_view{},
                            dob,
                            female ? "F" : "M",
                            std::to_string(year),
                            reg,
                            join(classes),
                            join(m.conditions),
                            join(m.allergies),
                            join(m.severities),
                            join(m.medication),
                            join(m.administered_by),
                            m.care_plan ? "IHP on file: see school office copy" : "",
                            consent ? "yes" : "no",
                            join(m.diets),
                            swimming,
                            activity,
                            support,
                            "photos/" + key + ".jpg"});
    if (!options.minimal) {
      const auto ethnicity = kEthnicity[rng.weighted({60, 2, 6, 3, 4, 5, 5, 2, 1, 3, 2, 2, 2, 3})];
      const bool fsm = rng.chance(220);
      static constexpr std::array<string_view, 3> kSen = {"N", "K", "E"};
      const auto sen = kSen[rng.weighted({85, 13, 2})];
      append(out.pupils_csv, {ethnicity, fsm ? "true" : "false", sen}, /*continues=*/true);
    }
    out.pupils_csv += '\n';

    if (!m.allergies.empty()) ++out.pupils_with_allergies;
    out.allergies += m.allergies.size();
    write_contacts(rng, i, key, surname, out);
  }
  out.pupils = n;
  out.groups = used_groups.size();
  return out;
}

}  // namespace coffer::demo_school
