// vault: the record views (roster.csv, profile.txt, pupil folder names) and
// the manifest (read back from a real coffer; no special-category values in
// its text or JSON, checked on the generated school's medical data).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "coffer/error.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/records/import.h"
#include "coffer/vault/records/manifest.h"
#include "coffer/vault/records/profile.h"
#include "coffer/vault/records/record.h"
#include "coffer/vault/records/records.h"
#include "coffer/vault/records/views.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

using keystore::KdfCost;
using test::passphrase;

#define EXPECT_HAS(hay, needle) EXPECT_NE(std::string(hay).find(needle), std::string::npos) << (hay)
#define EXPECT_LACKS(hay, needle) EXPECT_EQ(std::string(hay).find(needle), std::string::npos) << (hay)

const Profile& profile(const std::string& name) {
  for (auto& p : builtin_profiles())
    if (p.name == name) return p;
  throw std::runtime_error("no builtin profile " + name);
}

std::vector<std::string> fields_of(const std::string& name) {
  auto& f = profile(name).fields;
  return {f.begin(), f.end()};
}

std::vector<std::string> lines(const std::string& text, const std::string& eol) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find(eol, pos);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(pos, end - pos));
    pos = end + eol.size();
  }
  return out;
}

std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) ++n;
  return n;
}

bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    if (c < 0x80) n = 0;
    else if ((c >> 5) == 6) n = 1;
    else if ((c >> 4) == 14) n = 2;
    else if ((c >> 3) == 30) n = 3;
    else return false;
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n + 1;
  }
  return true;
}

Contact contact(int priority, const std::string& name, const std::string& relationship, std::optional<bool> pr,
                std::vector<Phone> phones, bool dnr = false) {
  Contact c;
  c.priority = priority;
  c.name = name;
  c.relationship = relationship;
  c.parental_responsibility = pr;
  c.phones = std::move(phones);
  c.do_not_release = dnr;
  return c;
}

// A trip pupil with every group filled.
// Every source field: the source had every column (coffer-csv with all of them).
std::set<std::string> all_source_fields() {
  std::set<std::string> out;
  for (auto& f : source_fields()) out.emplace(f.name);
  return out;
}

Pupil trip_pupil() {
  Pupil p;
  p.source = "coffer-csv";
  p.provided = all_source_fields();  // every column (issue 16: else "not known")
  p.key = "K1";
  p.upn = "G999888814001";
  p.surname = "Smith";
  p.forename = "Ann";
  p.preferred_forename = "Annie";
  p.dob = Date{2012, 2, 29};
  p.sex = "F";
  p.year_group = "9";
  p.reg_group = "9A";
  p.classes = {"9A/Ma1", "9A/En2"};
  p.contacts = {contact(1, "Mrs Claire Smith", "Mother", true, {{"mobile", "07700900001", "07700 900001"}}),
                contact(2, "Mr Dan Smith", "Father", false,
                        {{"mobile", "07700900002", "07700 900002"}, {"home", "01632960002", "01632 960002"}}, true),
                contact(3, "Ana Núñez", "Grandparent", std::nullopt, {})};
  p.conditions = {"Asthma"};
  p.allergies = {{"peanuts", "anaphylaxis"}, {"sesame", ""}};
  p.medication = {{"Inhaler", "self"}, {"EpiPen", "staff"}};
  p.care_plan = "IHP in office";
  p.emergency_consent = "yes";
  p.dietary = {"halal"};
  p.swimming = "25m";
  p.activity_notes = {"travel sickness"};
  p.support_note = "needs a visual timetable";
  p.photo = "p.jpg";
  return p;
}

// ---------------------------------------------------------------------------
// roster.csv

const std::string kTripHeader =
    "PupilKey,Surname,Forename,PreferredName,Year,RegGroup,Classes,UPN,DOB,Sex,Allergies,Medical,Medication,"
    "EmergencyTreatmentConsent,Dietary,Swimming,FirstContact,FirstContactPhones,Photo";
const std::string kMarkingHeader = "PupilKey,Surname,Forename,PreferredName,Year,RegGroup,Classes";

TEST(Views, RosterHeaderFollowsTheProfile) {
  EXPECT_EQ(lines(roster_csv({}, fields_of("trip")), "\r\n"), std::vector<std::string>{kTripHeader});
  EXPECT_EQ(lines(roster_csv({}, fields_of("marking")), "\r\n"), std::vector<std::string>{kMarkingHeader});
  EXPECT_EQ(roster_csv({}, fields_of("marking")), kMarkingHeader + "\r\n");
  // trip-local: no UPN, DOB, sex or contacts.
  auto local = lines(roster_csv({}, fields_of("trip-local")), "\r\n").at(0);
  EXPECT_HAS(local, "Allergies");
  EXPECT_LACKS(local, "FirstContact");
  EXPECT_LACKS(local, "DOB");
  EXPECT_LACKS(local, "UPN");
}

TEST(Views, RosterRowHoldsTheProfilesFields) {
  std::string csv = roster_csv({trip_pupil()}, fields_of("trip"));
  auto rows = lines(csv, "\r\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1],
            "K1,Smith,Ann,Annie Smith,9,9A,9A/Ma1; 9A/En2,G999888814001,2012-02-29,F,peanuts (anaphylaxis); sesame,"
            "Asthma,Inhaler (self-administered); EpiPen (given by staff),yes,halal,25m,"
            "\"Mrs Claire Smith (Mother, parental responsibility)\",mobile 07700 900001,p.jpg");
  // The same record under marking: only the marking columns, nothing medical.
  csv = roster_csv({trip_pupil()}, fields_of("marking"));
  EXPECT_EQ(csv, kMarkingHeader + "\r\nK1,Smith,Ann,Annie Smith,9,9A,9A/Ma1; 9A/En2\r\n");
}

TEST(Views, RosterHasOneRowPerPupil) {
  std::vector<Pupil> pupils;
  for (int i = 0; i < 7; ++i) {
    Pupil p;
    p.key = "K" + std::to_string(i);
    p.surname = "S" + std::to_string(i);
    p.forename = "F";
    p.support_note = "multi\nline";  // not a roster column: must not add lines
    pupils.push_back(p);
  }
  auto rows = lines(roster_csv(pupils, fields_of("trip")), "\r\n");
  ASSERT_EQ(rows.size(), 8u);
  for (int i = 0; i < 7; ++i)
    EXPECT_EQ(rows[i + 1].substr(0, 6), "K" + std::to_string(i) + ",S" + std::to_string(i) + ",");
  EXPECT_EQ(count_of(roster_csv(pupils, fields_of("trip")), "\n"), 8u);
}

TEST(Views, RosterQuotesCommasQuotesAndNewlines) {
  Pupil p;
  p.key = "K1";
  p.surname = "Smith, \"Jr\"";
  p.forename = "Ann\nMarie";
  p.year_group = "9";
  p.provided = all_source_fields();  // empty cells are "none", not "not known"
  std::string csv = roster_csv({p}, fields_of("marking"));
  EXPECT_EQ(csv,
            kMarkingHeader + "\r\nK1,\"Smith, \"\"Jr\"\"\",\"Ann\nMarie\",\"Ann\nMarie Smith, \"\"Jr\"\"\",9,,\r\n");
}

TEST(Views, RosterGuardsAgainstFormulas) {
  Pupil p;
  p.key = "K1";
  p.surname = "=HYPERLINK(\"http://evil.example\",\"click\")";
  p.forename = "+cmd";
  p.reg_group = "-2+3";
  p.year_group = "@SUM(A1)";
  p.classes = {"=1+1"};  // the joined cell starts with '='
  auto rows = lines(roster_csv({p}, fields_of("marking")), "\r\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1],
            "K1,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\",'+cmd,"
            "\"'+cmd =HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\",'@SUM(A1),'-2+3,'=1+1");
  // No cell of the row starts with a formula character unguarded.
  for (auto& cell : {std::string(",="), std::string(",+"), std::string(",-"), std::string(",@"), std::string(",\"="),
                     std::string(",\"+")})
    EXPECT_LACKS(rows[1], cell);
  // Ordinary hyphens inside names are untouched.
  Pupil q;
  q.key = "K2";
  q.surname = "Smith-Jones";
  q.forename = "Ann";
  EXPECT_HAS(roster_csv({q}, fields_of("marking")), "K2,Smith-Jones,Ann,");
}

// ---------------------------------------------------------------------------
// profile.txt

TEST(Views, ProfilePutsAllergiesFirst) {
  std::string t = profile_txt(trip_pupil(), fields_of("trip"));
  auto lines_ = lines(t, "\n");
  EXPECT_EQ(lines_.at(0), "Smith, Annie  (K1)");
  EXPECT_EQ(lines_.at(1), "Year 9, registration group 9A");
  auto allergies = t.find("!! ALLERGIES"), medical = t.find("!! MEDICAL"),
       contacts = t.find("EMERGENCY CONTACTS (call in this order)"), dietary = t.find("DIETARY"),
       details = t.find("DETAILS"), notes = t.find("NOTES");
  ASSERT_NE(allergies, std::string::npos) << t;
  ASSERT_NE(medical, std::string::npos) << t;
  ASSERT_NE(contacts, std::string::npos) << t;
  ASSERT_NE(dietary, std::string::npos) << t;
  ASSERT_NE(details, std::string::npos) << t;
  ASSERT_NE(notes, std::string::npos) << t;
  EXPECT_LT(allergies, medical);
  EXPECT_LT(medical, contacts);
  EXPECT_LT(contacts, dietary);
  EXPECT_LT(dietary, details);
  EXPECT_LT(details, notes);
  // Severity upper-cased; none shown when unknown.
  EXPECT_HAS(t, "   - peanuts: ANAPHYLAXIS\n");
  EXPECT_HAS(t, "   - sesame\n");
  EXPECT_HAS(t, "   - Asthma\n");
  EXPECT_HAS(t, "   - Medication: Inhaler (self-administered)\n");
  EXPECT_HAS(t, "   - Medication: EpiPen (given by staff)\n");
  EXPECT_HAS(t, "   - Care plan: IHP in office\n");
  EXPECT_HAS(t, "   Emergency treatment consent: yes\n");
  EXPECT_HAS(t, "   - halal\n");
  EXPECT_HAS(t, "Legal name: Ann Smith");
  EXPECT_HAS(t, "Date of birth: 2012-02-29");
  EXPECT_HAS(t, "UPN: G999888814001");
  EXPECT_HAS(t, "Swimming: 25m");
  EXPECT_HAS(t, "Support: needs a visual timetable");
}

TEST(Views, ProfileListsContactsInCallingOrderWithDoNotRelease) {
  std::string t = profile_txt(trip_pupil(), fields_of("trip"));
  auto first = t.find("   1. Mrs Claire Smith (Mother, parental responsibility)\n");
  auto second = t.find("   2. Mr Dan Smith (Father, no parental responsibility)\n");
  auto third = t.find("   3. Ana Núñez (Grandparent)\n");
  ASSERT_NE(first, std::string::npos) << t;
  ASSERT_NE(second, std::string::npos) << t;
  ASSERT_NE(third, std::string::npos) << t;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_HAS(t, "      mobile 07700 900001\n");
  EXPECT_HAS(t, "      mobile 07700 900002, home 01632 960002\n");
  EXPECT_HAS(t, "      no phone number recorded\n");
  // DO NOT RELEASE once, right under the father.
  EXPECT_EQ(count_of(t, "DO NOT RELEASE"), 1u);
  auto dnr = t.find("DO NOT RELEASE");
  EXPECT_GT(dnr, second);
  EXPECT_LT(dnr, third);

  Pupil p = trip_pupil();
  p.contacts[2].ranked = false;
  EXPECT_HAS(profile_txt(p, fields_of("trip")), "EMERGENCY CONTACTS (the source gave no order)");
}

TEST(Views, ProfileLeavesOutSectionsTheProfileLacks) {
  Pupil p = trip_pupil();
  minimise(p, fields_of("marking"));
  std::string t = profile_txt(p, fields_of("marking"));
  for (auto s : {"ALLERGIES", "MEDICAL", "EMERGENCY", "DIETARY", "consent", "NOTES", "peanuts", "Asthma", "07700",
                 "Date of birth", "UPN", "halal", "none recorded", "NONE RECORDED"})
    EXPECT_LACKS(t, s);
  EXPECT_HAS(t, "Smith, Annie  (K1)");  // marking carries preferred names
  EXPECT_HAS(t, "Legal name: Ann Smith");
  EXPECT_HAS(t, "Classes: 9A/Ma1, 9A/En2");

  // trip-local: medical and dietary, but no contacts.
  p = trip_pupil();
  minimise(p, fields_of("trip-local"));
  t = profile_txt(p, fields_of("trip-local"));
  EXPECT_HAS(t, "!! ALLERGIES");
  EXPECT_HAS(t, "DIETARY");
  EXPECT_LACKS(t, "EMERGENCY CONTACTS");
  EXPECT_LACKS(t, "07700");
}

TEST(Views, ProfileSaysNoneRecordedWhenCarriedButEmpty) {
  Pupil p;
  p.key = "K9";
  p.surname = "Jones";
  p.forename = "Bob";
  // "none recorded" only when the source had the columns (issue 16: before
  // it, an unknown source also said "none").
  p.source = "coffer-csv";
  p.provided = all_source_fields();
  std::string t = profile_txt(p, fields_of("trip"));
  EXPECT_HAS(t, "ALLERGIES: none recorded\n");
  EXPECT_HAS(t, "MEDICAL: no conditions or medication recorded\n");
  EXPECT_HAS(t, "Emergency treatment consent: not recorded - ask the school\n");
  EXPECT_HAS(t, "EMERGENCY CONTACTS: NONE RECORDED - ask the school office\n");
  EXPECT_HAS(t, "DIETARY: none recorded\n");
  EXPECT_LACKS(t, "!! ");
  EXPECT_LACKS(t, "DETAILS");
  EXPECT_LACKS(t, "NOTES");
  EXPECT_EQ(lines(t, "\n").at(0), "Jones, Bob  (K9)");
}

// Issue 16 item 1: a source without health data must never read as "no
// allergies" on a trip sheet.
TEST(Views, ProfileSaysNotProvidedWhenTheSourceLacksTheField) {
  Pupil p;
  p.key = "stu-1";
  p.surname = "Tester";
  p.forename = "Alex";
  p.source = "OneRoster 1.1";
  p.provided = std::set<std::string>{"names", "upn", "year_group", "reg_group", "classes", "contacts"};
  p.contacts = {contact(1, "Sam Tester", "Parent", std::nullopt, {})};
  std::string t = profile_txt(p, fields_of("trip"));
  EXPECT_HAS(t, "ALLERGIES: not provided by OneRoster 1.1 \u2014 check with the school office\n");
  EXPECT_HAS(t, "MEDICAL: not provided by OneRoster 1.1 \u2014 check with the school office\n");
  EXPECT_HAS(t, "DIETARY: not provided by OneRoster 1.1 \u2014 check with the school office\n");
  EXPECT_HAS(t, "      phone: not provided by OneRoster 1.1 \u2014 check with the school office\n");
  EXPECT_LACKS(t, "none recorded");
  EXPECT_LACKS(t, "no conditions or medication recorded");
  EXPECT_LACKS(t, "no phone number recorded");

  // No contacts at all in the source.
  p.contacts.clear();
  p.provided->erase("contacts");
  EXPECT_HAS(profile_txt(p, fields_of("trip")),
             "EMERGENCY CONTACTS: not provided by OneRoster 1.1 \u2014 check with the school office\n");

  // A source with a conditions column but none for medication says which.
  p.provided->insert({"allergies", "conditions", "dietary"});
  t = profile_txt(p, fields_of("trip"));
  EXPECT_HAS(t, "ALLERGIES: none recorded\n");
  EXPECT_HAS(t, "DIETARY: none recorded\n");
  EXPECT_HAS(t,
             "MEDICAL: no conditions or medication recorded\n"
             "   - Medication: not provided by OneRoster 1.1 \u2014 check with the school office\n");
  EXPECT_LACKS(t, "Conditions: not provided");
  // A value the source gave is shown whatever the set says.
  p.allergies = {{"peanuts", "severe"}};
  EXPECT_HAS(profile_txt(p, fields_of("trip")), "!! ALLERGIES\n   - peanuts: SEVERE\n");
}

TEST(Views, ProfileSaysNotKnownForRecordsImportedBeforeTracking) {
  Pupil p;
  p.key = "K9";
  p.surname = "Jones";
  p.forename = "Bob";  // p.provided unset: imported before coffer kept it
  std::string t = profile_txt(p, fields_of("trip"));
  const std::string why =
      ": not known (imported before coffer recorded what its source provides) \u2014 check with "
      "the school office\n";
  EXPECT_HAS(t, "ALLERGIES" + why);
  EXPECT_HAS(t, "MEDICAL" + why);
  EXPECT_HAS(t, "DIETARY" + why);
  EXPECT_HAS(t, "EMERGENCY CONTACTS" + why);
  EXPECT_LACKS(t, "none recorded");
  EXPECT_LACKS(t, "NONE RECORDED");
}

TEST(Views, RosterSaysNotProvidedAndNotKnown) {
  Pupil a;
  a.key = "A1";
  a.surname = "Ames";
  a.forename = "Al";
  a.source = "OneRoster 1.1";
  a.provided = std::set<std::string>{"names", "contacts", "contact_phones", "upn"};
  Pupil b = a;
  b.key = "B1";
  b.surname = "Bell";
  b.provided = all_source_fields();  // every column, all empty
  Pupil c = a;
  c.key = "C1";
  c.surname = "Cole";
  c.provided.reset();
  auto rows = lines(roster_csv({a, b, c}, fields_of("trip")), "\r\n");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], kTripHeader);
  // PupilKey,Surname,Forename,PreferredName,Year,RegGroup,Classes,UPN,DOB,Sex,Allergies,Medical,Medication,
  // EmergencyTreatmentConsent,Dietary,Swimming,FirstContact,FirstContactPhones,Photo
  EXPECT_EQ(rows[1],
            "A1,Ames,Al,Al Ames,NOT PROVIDED,NOT PROVIDED,NOT PROVIDED,,NOT PROVIDED,NOT PROVIDED,NOT PROVIDED,"
            "NOT PROVIDED,NOT PROVIDED,NOT PROVIDED,NOT PROVIDED,NOT PROVIDED,,,NOT PROVIDED");
  EXPECT_EQ(rows[2], "B1,Bell,Al,Al Bell,,,,,,,,,,,,,,,");
  EXPECT_EQ(rows[3],
            "C1,Cole,Al,Al Cole,NOT KNOWN,NOT KNOWN,NOT KNOWN,NOT KNOWN,NOT KNOWN,NOT KNOWN,NOT KNOWN,NOT KNOWN,"
            "NOT KNOWN,NOT KNOWN,NOT KNOWN,NOT KNOWN,NOT KNOWN,NOT KNOWN,NOT KNOWN");
}

TEST(Views, SpecialCategoryPresentNamesFieldsNeverValues) {
  Pupil p = trip_pupil();
  EXPECT_EQ(special_category_present(p), (std::vector<std::string>{"allergies", "medical conditions", "medication",
                                                                   "care plan", "dietary needs", "support note"}));
  Pupil q;
  q.emergency_consent = "yes";  // consent is not health data
  EXPECT_TRUE(special_category_present(q).empty());
  q.dietary = {"halal"};
  EXPECT_EQ(special_category_present(q), std::vector<std::string>{"dietary needs"});
}

// ---------------------------------------------------------------------------
// Folder names

TEST(Views, PupilFolderName) {
  EXPECT_EQ(pupil_folder_name({1, "K1", "Smith, Ann"}), "Smith, Ann (K1)");
  EXPECT_EQ(pupil_folder_name({1, "K/1", "AC/DC, Bob"}), "AC_DC, Bob (K_1)");
  EXPECT_EQ(pupil_folder_name({1, "K1", "Tab\tNew\nline\x7f"}), "Tab_New_line_ (K1)");
  EXPECT_EQ(pupil_folder_name({1, "K1", "Núñez-Hale, Zoë"}), "Núñez-Hale, Zoë (K1)");
  for (auto& name : {pupil_folder_name({1, "..", ""}), pupil_folder_name({1, ".", "."})}) {
    EXPECT_NE(name, ".");
    EXPECT_NE(name, "..");
    EXPECT_LACKS(name, '/');
  }
}

TEST(Views, PupilFolderNameOfALongNameKeepsTheKey) {
  std::string name = pupil_folder_name({1, "P00042", std::string(300, 'a')});
  EXPECT_LE(name.size(), 255u);
  EXPECT_TRUE(name.ends_with(" (P00042)")) << name;
  EXPECT_EQ(name.substr(0, 10), std::string(10, 'a'));

  // A multi-byte name is cut on a character boundary.
  std::string accents;
  for (int i = 0; i < 150; ++i) accents += "é";  // 300 bytes
  for (auto key : {"P1", "P12", "P123"}) {
    name = pupil_folder_name({1, key, accents});
    EXPECT_LE(name.size(), 255u) << key;
    EXPECT_TRUE(name.ends_with(std::string(" (") + key + ")")) << key;
    EXPECT_TRUE(valid_utf8(name)) << key;
  }
  // '/' in a long name and key.
  name = pupil_folder_name({1, "K/9", std::string(150, '/') + std::string(150, 'b')});
  EXPECT_LE(name.size(), 255u);
  EXPECT_LACKS(name, '/');
  EXPECT_TRUE(name.ends_with(" (K_9)")) << name;
  // A very long key is cut too, and the result still fits.
  name = pupil_folder_name({1, std::string(400, 'k'), std::string(300, 'a')});
  EXPECT_LE(name.size(), 255u);
}

// BUG (vault/src/views.cpp, pupil_folder_name, the size > 255 branch): the
// tail " (key)" is rebuilt from the raw key and only '/' is replaced again,
// so control characters in the key (replaced by '_' on the short path)
// reappear in the folder name of a pupil with a long name. Expected no
// byte < 0x20; actual: the '\n' of the key is in the name.
TEST(Views, PupilFolderNameOfALongNameHasNoControlCharacters) {
  std::string name = pupil_folder_name({1, "K\n1", std::string(300, 'a')});
  EXPECT_LE(name.size(), 255u);
  EXPECT_LACKS(name, '\n');
}

// BUG (vault/src/views.cpp, pupil_folder_name): a key longer than ~200 bytes
// is cut with tail.substr(0, 200) without looking for a UTF-8 boundary, so
// a multi-byte key can leave half a character in the folder name (invalid
// UTF-8 as a path component). Expected valid UTF-8.
TEST(Views, PupilFolderNameCutsALongKeyOnACharacterBoundary) {
  std::string key = "K";
  for (int i = 0; i < 150; ++i) key += "é";
  std::string name = pupil_folder_name({1, key, std::string(300, 'a')});
  EXPECT_LE(name.size(), 255u);
  EXPECT_TRUE(valid_utf8(name));
}

// ---------------------------------------------------------------------------
// The manifest, from a real coffer

constexpr std::int64_t kNow = 1795000000;  // 2026-11-18

class ManifestTest : public ::testing::Test {
 protected:
  void make(const std::string& profile_name) {
    CreateParams p = test::CreateParamsBuilder()
                         .profile(profile_name)
                         .expires(kNow + 3650 * 86400)  // far off: not about expiry
                         .profile_fields(fields_of(profile_name))
                         .created_by("it-admin")
                         .build();
    path_ = dir_ / "trip.coffer";
    Coffer::create(path_, p, passphrase("pw"), keystore::system_random(), clock_);
    coffer_.emplace(Coffer::unlock(path_, passphrase("pw"), keystore::system_random()));
  }
  Database& db() { return coffer_->database(); }

  test::TempDir dir_;
  test::FixedClock clock_{kNow};
  std::filesystem::path path_;
  std::optional<Coffer> coffer_;
};

TEST_F(ManifestTest, ListsExactlyWhatIsInside) {
  make("trip");
  Pupil a = trip_pupil();
  Pupil b = trip_pupil();
  b.key = "K2";
  b.surname = "Adams";
  b.preferred_forename = "";
  ImportLogEntry first{kNow,    "msmith", "coffer-csv", "/media/usb/pupils.csv", 0, {"Ethnicity", "FSMeligible"},
                       {"upn"}, {}};
  ImportLogEntry second{kNow + 60, "msmith",         "OneRoster 1.1", "/media/usb/or",
                        0,         {"SENProvision"}, {"pupil_work"},  {"grades"}};
  RecordStore(db()).import({a}, first);
  RecordStore(db()).import({b}, second);

  Manifest m = read_manifest(db(), "trip.coffer");
  EXPECT_EQ(m.coffer, "trip.coffer");
  EXPECT_EQ(m.purpose, "trip");
  EXPECT_EQ(m.owner, "Ms Smith");
  EXPECT_EQ(m.created_by, "it-admin");
  EXPECT_EQ(m.protection, "standard");
  EXPECT_EQ(m.created, kNow);
  EXPECT_EQ(m.expires, kNow + 3650 * 86400);
  EXPECT_EQ(m.vault_id.size(), 32u) << m.vault_id;
  EXPECT_EQ(m.fields, fields_of("trip"));
  ASSERT_EQ(m.pupils.size(), 2u);
  EXPECT_EQ(m.pupils[0].key, "K2");
  EXPECT_EQ(m.pupils[0].name, "Adams, Ann");
  EXPECT_EQ(m.pupils[1].key, "K1");
  EXPECT_EQ(m.pupils[1].name, "Smith, Annie");
  EXPECT_EQ(m.dropped, (std::set<std::string>{"Ethnicity", "FSMeligible", "SENProvision"}));
  EXPECT_EQ(m.not_in_profile, (std::set<std::string>{"upn", "pupil_work"}));
  ASSERT_EQ(m.imports.size(), 2u);
  EXPECT_EQ(m.imports[0].pupils, 1);
  EXPECT_EQ(m.imports[1].format, "OneRoster 1.1");

  std::string text = manifest_text(m);
  EXPECT_HAS(text, "COFFER MANIFEST: trip.coffer");
  EXPECT_HAS(text, "Purpose:        trip");
  EXPECT_HAS(text, "For:            Ms Smith");
  EXPECT_HAS(text, " by it-admin");
  EXPECT_HAS(text, "Vault id:       " + m.vault_id);
  EXPECT_HAS(text,
             "  - medical: medical conditions, allergies, medication, care plan, emergency-treatment consent  [special "
             "category]");
  EXPECT_HAS(text, "  - dob: date of birth\n");
  EXPECT_HAS(text, "Source columns dropped (never imported): Ethnicity, FSMeligible, SENProvision\n");
  EXPECT_HAS(text, "Held by the source but not carried by this purpose: pupil_work, upn\n");
  EXPECT_HAS(text, "1 pupil(s), coffer-csv from /media/usb/pupils.csv");
  EXPECT_HAS(text, "Pupils (2):\n  K2  Adams, Ann\n  K1  Smith, Annie\n");

  auto j = nlohmann::json::parse(manifest_json(m));
  EXPECT_TRUE(manifest_json(m).ends_with("}\n"));
  EXPECT_EQ(j["coffer"], "trip.coffer");
  EXPECT_EQ(j["purpose"], "trip");
  EXPECT_EQ(j["owner"], "Ms Smith");
  EXPECT_EQ(j["provisioned_by"], "it-admin");
  EXPECT_EQ(j["vault_id"], m.vault_id);
  EXPECT_EQ(j["pupil_count"], 2);
  ASSERT_EQ(j["pupils"].size(), 2u);
  EXPECT_EQ(j["pupils"][0]["id"], "K2");
  EXPECT_EQ(j["pupils"][0]["name"], "Adams, Ann");
  EXPECT_EQ(j["columns_dropped"], nlohmann::json({"Ethnicity", "FSMeligible", "SENProvision"}));
  EXPECT_EQ(j["not_carried_by_profile"], nlohmann::json({"pupil_work", "upn"}));
  ASSERT_EQ(j["fields"].size(), fields_of("trip").size());
  for (auto& f : j["fields"]) {
    std::string g = f["group"];
    EXPECT_EQ(f["special_category"], g == "medical" || g == "dietary" || g == "support_note") << g;
    EXPECT_FALSE(f["description"].get<std::string>().empty()) << g;
  }
  ASSERT_EQ(j["imports"].size(), 2u);
  EXPECT_EQ(j["imports"][1]["unmapped"], nlohmann::json({"grades"}));
  EXPECT_EQ(j["imports"][0]["source"], "/media/usb/pupils.csv");

  // The records' special-category values are in neither rendering.
  for (auto& s : {manifest_text(m), manifest_json(m)})
    for (auto v : {"peanuts", "sesame", "Asthma", "Inhaler", "EpiPen", "IHP in office", "halal",
                   "needs a visual timetable", "07700", "2012-02-29", "G999888814001"})
      EXPECT_LACKS(s, v);
}

// Issue 16 items 1, 7, 10: what each import provided and warned is kept
// with it; the manifest names per pupil the special-category fields held
// (never values), counts them, and lists what the source did not provide.
TEST_F(ManifestTest, SourceFieldsWarningsAndSpecialCategoryPerPupil) {
  make("trip");
  Pupil a = trip_pupil();  // every special-category field
  Pupil b;
  b.key = "K2";
  b.surname = "Adams";
  b.forename = "Bo";
  b.allergies = {{"kiwi", ""}};
  Pupil c;
  c.key = "K3";
  c.surname = "Cole";
  c.forename = "Cy";
  ImportLogEntry csv{kNow, "msmith", "coffer-csv", "pupils.csv", 0, {}, {}, {}, {}, {}};
  csv.provided.emplace();
  for (auto& f : source_fields()) csv.provided->emplace(f.name);
  ImportLogEntry oneroster{kNow + 60, "msmith", "OneRoster 1.1", "or", 0, {}, {}, {}, {}, {}};
  oneroster.provided = std::set<std::string>{"names", "contacts", "contact_phones"};
  oneroster.warnings = {"1 pupil(s) have no emergency contact with a phone number: K3"};
  RecordStore(db()).import({a, b}, csv);
  RecordStore(db()).import({c}, oneroster);

  // Read back: each pupil knows its source.
  for (auto& p : RecordStore(db()).load_all()) {
    ASSERT_TRUE(p.provided) << p.key;
    EXPECT_EQ(p.source, p.key == "K3" ? "OneRoster 1.1" : "coffer-csv");
    EXPECT_EQ(p.provided->count("allergies"), p.key == "K3" ? 0u : 1u);
  }
  auto logs = RecordStore(db()).imports();
  ASSERT_EQ(logs.size(), 2u);
  EXPECT_EQ(logs[1].provided, oneroster.provided);
  EXPECT_EQ(logs[1].warnings, oneroster.warnings);
  EXPECT_TRUE(logs[0].warnings.empty());

  Manifest m = read_manifest(db(), "trip.coffer");
  ASSERT_EQ(m.pupils.size(), 3u);  // Adams, Cole, Smith
  EXPECT_EQ(m.pupils[0].special_category, std::vector<std::string>{"allergies"});
  EXPECT_TRUE(m.pupils[1].special_category.empty());
  EXPECT_EQ(m.pupils[2].special_category.size(), 6u);
  EXPECT_EQ(m.not_provided[0], "preferred names");
  EXPECT_NE(std::find(m.not_provided.begin(), m.not_provided.end(), "allergies"), m.not_provided.end());
  EXPECT_TRUE(m.not_known.empty());
  EXPECT_EQ(m.warnings, oneroster.warnings);

  std::string text = manifest_text(m);
  // K3's source had no health columns: its "0" is not "none".
  EXPECT_HAS(text, "  - allergies: 2 of 3 pupils (not provided by the source for some or all)\n");
  EXPECT_HAS(text, "  - medical conditions: 1 of 3 pupils (not provided by the source for some or all)\n");
  EXPECT_HAS(text, "  - dietary needs: 1 of 3 pupils (not provided");
  EXPECT_HAS(
      text,
      "NOT PROVIDED by the source (the sheets say so; check with the school office): preferred names, year group,");
  EXPECT_HAS(text, "Warnings at import:\n  ! 1 pupil(s) have no emergency contact with a phone number: K3\n");

  auto j = nlohmann::json::parse(manifest_json(m));
  ASSERT_EQ(j["pupils"].size(), 3u);
  EXPECT_EQ(j["pupils"][0]["key"], "K2");
  EXPECT_EQ(j["pupils"][0]["id"], "K2");
  EXPECT_EQ(j["pupils"][0]["name"], "Adams, Bo");
  EXPECT_EQ(j["pupils"][0]["special_category"], nlohmann::json({"allergies"}));
  EXPECT_EQ(j["pupils"][1]["special_category"], nlohmann::json::array());
  EXPECT_EQ(j["special_category_counts"]["allergies"], 2);
  EXPECT_EQ(j["special_category_counts"]["support note"], 1);
  EXPECT_TRUE(j["not_provided"].is_array());
  EXPECT_EQ(j["not_known"], nlohmann::json::array());
  EXPECT_EQ(j["warnings"], nlohmann::json(oneroster.warnings));
  for (auto& rendering : {text, manifest_json(m)})
    for (auto v : {"kiwi", "peanuts", "Asthma", "halal", "IHP in office"}) EXPECT_LACKS(rendering, v);

  // An import logged before coffer kept the provided set: "not known".
  ImportLogEntry old{kNow + 120, "msmith", "coffer-csv", "old.csv", 0, {}, {}, {}};
  Pupil d;
  d.key = "K4";
  d.surname = "Dee";
  d.forename = "Di";
  RecordStore(db()).import({d}, old);
  auto loaded = RecordStore(db()).load_all();
  auto it = std::find_if(loaded.begin(), loaded.end(), [](const Pupil& p) { return p.key == "K4"; });
  ASSERT_NE(it, loaded.end());
  EXPECT_FALSE(it->provided);
  m = read_manifest(db(), "trip.coffer");
  EXPECT_NE(std::find(m.not_known.begin(), m.not_known.end(), "allergies"), m.not_known.end());
  EXPECT_HAS(manifest_text(m), "NOT KNOWN whether the source provided");
}

TEST_F(ManifestTest, EmptyCoffer) {
  make("marking");
  Manifest m = read_manifest(db(), "m.coffer");
  EXPECT_TRUE(m.pupils.empty());
  EXPECT_TRUE(m.imports.empty());
  EXPECT_TRUE(m.dropped.empty());
  EXPECT_EQ(m.fields, fields_of("marking"));
  std::string text = manifest_text(m);
  EXPECT_HAS(text, "Source columns dropped (never imported): none\n");
  EXPECT_HAS(text, "Imports:\n  none\n");
  EXPECT_HAS(text, "Pupils (0):\n");
  EXPECT_LACKS(text, "[special category]");
  auto j = nlohmann::json::parse(manifest_json(m));
  EXPECT_EQ(j["pupil_count"], 0);
  EXPECT_TRUE(j["pupils"].empty());
}

// The generated school's medical data through the whole pipeline: parse,
// prepare for a trip, store, read the manifest. No allergy, condition,
// medication, care plan, dietary or support-note text may reach it.
TEST_F(ManifestTest, GeneratedSchoolLeaksNoSpecialCategoryValues) {
  test::TempDir out;
  std::string cmd = std::string("'") + COFFER_DEMO_SCHOOL + "' --out '" + out.path().string() + "' >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  Selection s;
  for (auto g : {"7A", "7B", "7C", "7D", "8A", "8B", "8C", "8D", "9A", "9B", "9C", "9D"}) s.groups.insert(g);
  SourceData d = read_source(SourceFormat::kCofferCsv, out.path(), std::nullopt, s);
  ASSERT_EQ(d.pupils.size(), 300u);
  PreparedImport prepared = prepare_import(std::move(d), profile("trip"), s, {true});

  std::set<std::string> secrets;
  std::size_t allergies = 0;
  for (auto& p : prepared.pupils) {
    for (auto& a : p.allergies) secrets.insert(a.what), ++allergies;
    for (auto& c : p.conditions) secrets.insert(c);
    for (auto& m : p.medication) secrets.insert(m.what);
    for (auto& x : p.dietary) secrets.insert(x);
    if (!p.care_plan.empty()) secrets.insert(p.care_plan);
    if (!p.support_note.empty()) secrets.insert(p.support_note);
  }
  ASSERT_GT(allergies, 0u) << "the generated pupils should include allergies";
  ASSERT_GT(secrets.size(), 10u);

  make("trip");
  ImportLogEntry log{kNow, "msmith",         prepared.format,         out.path().string(),
                     0,    prepared.dropped, prepared.not_in_profile, prepared.unmapped};
  RecordStore(db()).import(prepared.pupils, log);
  EXPECT_EQ(RecordStore(db()).count(), 300);
  // The records do hold the medical data (the manifest leaves it out, not the import).
  std::size_t stored_allergies = 0;
  for (auto& p : RecordStore(db()).load_all()) stored_allergies += p.allergies.size();
  EXPECT_EQ(stored_allergies, allergies);

  Manifest m = read_manifest(db(), "trip.coffer");
  EXPECT_EQ(m.pupils.size(), 300u);
  EXPECT_EQ(m.dropped, (std::set<std::string>{"Ethnicity", "FSMeligible", "SENProvision"}));
  std::string text = manifest_text(m), json = manifest_json(m);
  for (auto& v : secrets) {
    EXPECT_LACKS(text, v);
    EXPECT_LACKS(json, v);
  }
  for (auto code : {"WBRI", "WIRI", "WOTH", "APKN", "BAFR", "BCRB"}) {
    EXPECT_LACKS(text, code);
    EXPECT_LACKS(json, code);
  }
  // And the views of a pupil with allergies do show them (where they belong).
  for (auto& p : prepared.pupils)
    if (!p.allergies.empty()) {
      EXPECT_HAS(profile_txt(p, m.fields), p.allergies[0].what);
      EXPECT_HAS(roster_csv({p}, m.fields), p.allergies[0].what);
      break;
    }
}

}  // namespace
}  // namespace coffer::vault
