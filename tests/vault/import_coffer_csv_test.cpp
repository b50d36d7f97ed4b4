// vault: the coffer-csv importer (pupils.csv + contacts.csv), selections,
// prepare_import (profile minimisation, selection-required refusal, the
// emergency-contact rule) and loading sources from disk. Uses the hand-written
// fixture in tests/fixtures/import/coffer-csv, CSV built here for broken
// input, and the fictional school from tools/coffer-demo-school. The cases
// every importer shares (selection, unknown keys, BOM, CRLF, check letter,
// deny-list, empty file, bad date, repeated key) are import_contract_test.cpp's.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

#include "coffer/error.h"
#include "coffer/vault/records/import.h"
#include "coffer/vault/records/profile.h"
#include "coffer/vault/records/record.h"
#include "error_capture.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

namespace fs = std::filesystem;

const fs::path kFixture = fs::path(COFFER_FIXTURES_DIR) / "import" / "coffer-csv";

// A surname in every broken row below: no error message may repeat it.
constexpr const char* kSecretName = "Quillfeather";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void spit(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

// The message of the coffer::Error(kUsage) f throws ("" and a failure if none).
std::string usage_error(const std::function<void()>& f) { return test::message_of(f, ErrorCode::kUsage); }

// The remedy the coffer::Error f throws names (the CLI words it: the
// wording is checked in tests/cli/error_text_test.cpp).
Remedy remedy_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.remedy();
  }
  ADD_FAILURE() << "no coffer::Error thrown";
  return Remedy::kNone;
}

#define EXPECT_HAS(hay, needle) EXPECT_NE(std::string(hay).find(needle), std::string::npos) << (hay)
#define EXPECT_LACKS(hay, needle) EXPECT_EQ(std::string(hay).find(needle), std::string::npos) << (hay)

const Profile& profile(const std::string& name) {
  for (auto& p : builtin_profiles())
    if (p.name == name) return p;
  throw std::runtime_error("no builtin profile " + name);
}

SourceFile fixture_pupils() { return {"pupils.csv", slurp(kFixture / "pupils.csv")}; }
SourceFile fixture_contacts() { return {"contacts.csv", slurp(kFixture / "contacts.csv")}; }

SourceData parse_fixture(const Selection& s = {}) { return parse_coffer_csv(fixture_pupils(), fixture_contacts(), s); }

const Pupil* by_key(const std::vector<Pupil>& v, const std::string& key) {
  for (auto& p : v)
    if (p.key == key) return &p;
  return nullptr;
}

std::vector<std::string> keys(const std::vector<Pupil>& v) {
  std::vector<std::string> out;
  out.reserve(v.size());
  for (auto& p : v) out.push_back(p.key);
  return out;
}

// Every field of every pupil, to search for values that must not be there.
std::string dump(const std::vector<Pupil>& pupils) {
  std::ostringstream o;
  for (auto& p : pupils) {
    o << p.key << '|' << p.upn << '|' << p.surname << '|' << p.forename << '|' << p.preferred_surname << '|'
      << p.preferred_forename << '|' << (p.dob ? format_date(*p.dob) : "") << '|' << p.sex << '|' << p.year_group << '|'
      << p.reg_group << '|';
    for (auto& c : p.classes) o << c << ';';
    for (auto& c : p.contacts) {
      o << c.priority << c.name << c.relationship << c.ranked << c.do_not_release
        << (c.parental_responsibility ? (*c.parental_responsibility ? "pr" : "nopr") : "?");
      for (auto& ph : c.phones) o << ph.kind << ph.number << ph.display;
    }
    for (auto& c : p.conditions) o << c << ';';
    for (auto& a : p.allergies) o << a.what << a.severity << ';';
    for (auto& m : p.medication) o << m.what << m.administered_by << ';';
    o << p.care_plan << '|' << p.emergency_consent << '|';
    for (auto& d : p.dietary) o << d << ';';
    o << p.swimming << '|';
    for (auto& a : p.activity_notes) o << a << ';';
    o << p.support_note << '|' << p.photo << '|' << (p.expires ? format_date(*p.expires) : "") << '\n';
  }
  return o.str();
}

std::string dump(const SourceData& d) {
  std::string s = d.format + "|";
  for (auto& v : d.dropped) s += v + ",";
  for (auto& v : d.unmapped) s += v + ",";
  for (auto& v : d.warnings) s += v + ",";
  for (auto& v : d.matched_groups) s += v + ",";
  return s + dump(d.pupils);
}

// ---------------------------------------------------------------------------
// The fixture, read exactly.

TEST(CofferCsvImport, ReadsEveryFieldOfTheFixture) {
  SourceData d = parse_fixture();
  EXPECT_EQ(d.format, "coffer-csv");
  EXPECT_EQ(d.source_pupils, 5u);
  EXPECT_EQ(keys(d.pupils), (std::vector<std::string>{"F001", "F002", "F003", "F004", "F005"}));
  EXPECT_TRUE(d.dropped.empty());
  EXPECT_TRUE(d.unmapped.empty());
  EXPECT_TRUE(d.warnings.empty()) << d.warnings.front();
  EXPECT_TRUE(d.matched_groups.empty());

  const Pupil& a = d.pupils[0];
  EXPECT_EQ(a.upn, "G999888814001");
  EXPECT_EQ(a.surname, "Ashdown");
  EXPECT_EQ(a.forename, "Amelia");
  EXPECT_EQ(a.preferred_surname, "");
  EXPECT_EQ(a.preferred_forename, "Millie");
  EXPECT_EQ(a.display_name(), "Ashdown, Millie");
  ASSERT_TRUE(a.dob.has_value());
  EXPECT_EQ(*a.dob, (Date{2012, 3, 14}));
  EXPECT_EQ(a.sex, "F");
  EXPECT_EQ(a.year_group, "9");
  EXPECT_EQ(a.reg_group, "9A");
  EXPECT_EQ(a.classes, (std::vector<std::string>{"9A/Ma1", "9A/En2"}));
  EXPECT_EQ(a.conditions, (std::vector<std::string>{"Asthma - uses blue inhaler"}));
  ASSERT_EQ(a.allergies.size(), 2u);
  EXPECT_EQ(a.allergies[0].what, "peanuts");
  EXPECT_EQ(a.allergies[0].severity, "anaphylaxis");
  EXPECT_EQ(a.allergies[1].what, "sesame");
  EXPECT_EQ(a.allergies[1].severity, "mild");
  ASSERT_EQ(a.medication.size(), 2u);
  EXPECT_EQ(a.medication[0].what, "Adrenaline auto-injector x2");
  EXPECT_EQ(a.medication[0].administered_by, "self");
  EXPECT_EQ(a.medication[1].what, "Salbutamol inhaler");
  EXPECT_EQ(a.medication[1].administered_by, "staff");
  EXPECT_EQ(a.care_plan, "IHP on file: see school office");
  EXPECT_EQ(a.emergency_consent, "yes");
  EXPECT_EQ(a.dietary, (std::vector<std::string>{"no nuts"}));
  EXPECT_EQ(a.swimming, "25m");
  EXPECT_EQ(a.activity_notes, (std::vector<std::string>{"travel sickness"}));
  EXPECT_EQ(a.support_note, "needs a \"time out\" card, and a quiet space");
  EXPECT_EQ(a.photo, "photos/F001.jpg");
  EXPECT_FALSE(a.expires.has_value());

  // Contacts sorted by Order although the file lists Order 2 first.
  ASSERT_EQ(a.contacts.size(), 2u);
  const Contact& mum = a.contacts[0];
  EXPECT_EQ(mum.priority, 1);
  EXPECT_EQ(mum.name, "Mrs Claire Ashdown");
  EXPECT_EQ(mum.relationship, "Mother");
  EXPECT_EQ(mum.parental_responsibility, std::optional<bool>(true));
  EXPECT_TRUE(mum.ranked);
  EXPECT_FALSE(mum.do_not_release);
  ASSERT_EQ(mum.phones.size(), 3u);
  EXPECT_EQ(mum.phones[0].kind, "mobile");
  EXPECT_EQ(mum.phones[0].number, "+44 7700 900001");
  EXPECT_EQ(mum.phones[0].display, "07700 900001");
  EXPECT_EQ(mum.phones[1].kind, "home");
  EXPECT_EQ(mum.phones[1].number, "01632960001");
  EXPECT_EQ(mum.phones[1].display, "01632 960001");
  EXPECT_EQ(mum.phones[2].kind, "work");
  EXPECT_EQ(mum.phones[2].display, "020 7946 0001");
  EXPECT_EQ(a.contacts[1].priority, 2);
  EXPECT_EQ(a.contacts[1].name, "Mr David Ashdown");

  const Pupil& b = d.pupils[1];
  EXPECT_EQ(b.surname, "O'Brien");
  EXPECT_EQ(b.forename, "Seán");
  EXPECT_EQ(b.emergency_consent, "no");
  EXPECT_TRUE(b.conditions.empty() && b.allergies.empty() && b.medication.empty() && b.dietary.empty());
  EXPECT_EQ(b.photo, "");
  ASSERT_EQ(b.contacts.size(), 1u);
  EXPECT_EQ(b.contacts[0].name, "Aoife O'Brien");  // no title: no leading space
  EXPECT_FALSE(b.contacts[0].parental_responsibility.has_value());
  EXPECT_FALSE(b.contacts[0].do_not_release);
  ASSERT_EQ(b.contacts[0].phones.size(), 1u);
  EXPECT_EQ(b.contacts[0].phones[0].display, "07700 900003");

  const Pupil& c = d.pupils[2];
  EXPECT_EQ(c.surname, "Núñez-Hale");
  EXPECT_EQ(c.forename, "Zoë");
  EXPECT_EQ(c.preferred_surname, "Hale");
  EXPECT_EQ(c.display_name(), "Hale, Zoë");
  EXPECT_EQ(*c.dob, (Date{2012, 2, 29}));
  EXPECT_EQ(c.dietary, (std::vector<std::string>{"vegetarian", "dairy free"}));
  EXPECT_EQ(c.classes.size(), 3u);
  ASSERT_EQ(c.contacts.size(), 1u);
  EXPECT_EQ(c.contacts[0].name, "Dr Ana Núñez");
  EXPECT_EQ(c.contacts[0].parental_responsibility, std::optional<bool>(false));
  ASSERT_EQ(c.contacts[0].phones.size(), 1u);
  EXPECT_EQ(c.contacts[0].phones[0].kind, "home");
  EXPECT_EQ(c.contacts[0].phones[0].display, "0113 496 0000");

  const Pupil& e = d.pupils[3];
  ASSERT_EQ(e.allergies.size(), 1u);
  EXPECT_EQ(e.allergies[0].what, "kiwi fruit");
  EXPECT_EQ(e.allergies[0].severity, "moderate");
  ASSERT_EQ(e.contacts.size(), 2u);
  EXPECT_TRUE(e.contacts[0].do_not_release);
  EXPECT_FALSE(e.contacts[1].do_not_release);
  ASSERT_EQ(e.contacts[1].phones.size(), 2u);  // two mobiles in one cell, ';'-separated
  EXPECT_EQ(e.contacts[1].phones[1].display, "07700 900006");

  const Pupil& f = d.pupils[4];
  EXPECT_EQ(f.sex, "U");
  EXPECT_EQ(f.emergency_consent, "");
  ASSERT_EQ(f.contacts.size(), 1u);
  EXPECT_TRUE(f.contacts[0].phones.empty());
}

TEST(CofferCsvImport, ContactsFileIsOptional) {
  SourceData d = parse_coffer_csv(fixture_pupils(), std::nullopt, {});
  ASSERT_EQ(d.pupils.size(), 5u);
  for (auto& p : d.pupils) EXPECT_TRUE(p.contacts.empty()) << p.key;
}

TEST(CofferCsvImport, SelectsByPupilKey) {
  SourceData d = parse_fixture({{"F004", "F002"}, {}});
  EXPECT_EQ(keys(d.pupils), (std::vector<std::string>{"F002", "F004"}));  // file order
  EXPECT_EQ(d.source_pupils, 5u);
  EXPECT_EQ(d.pupils[1].contacts.size(), 2u);  // their contacts came along
  EXPECT_TRUE(d.matched_groups.empty());
}

TEST(CofferCsvImport, SelectsByRegistrationGroupOrClass) {
  SourceData d = parse_fixture({{}, {"9B"}});
  EXPECT_EQ(keys(d.pupils), (std::vector<std::string>{"F003", "F005"}));
  EXPECT_EQ(d.matched_groups, (std::set<std::string>{"9B"}));

  d = parse_fixture({{}, {"9B/Fr1"}});
  EXPECT_EQ(keys(d.pupils), (std::vector<std::string>{"F003"}));
  EXPECT_EQ(d.matched_groups, (std::set<std::string>{"9B/Fr1"}));

  // Union of keys and groups.
  d = parse_fixture({{"F001"}, {"10C"}});
  EXPECT_EQ(keys(d.pupils), (std::vector<std::string>{"F001", "F004"}));
}

TEST(CofferCsvImport, SelectionMatchesSelects) {
  Pupil p;
  p.key = "K1";
  p.reg_group = "7A";
  p.classes = {"7A/Ma1"};
  EXPECT_TRUE(Selection{}.selects(p));
  EXPECT_TRUE((Selection{{"K1"}, {}}.selects(p)));
  EXPECT_TRUE((Selection{{}, {"7A"}}.selects(p)));
  EXPECT_TRUE((Selection{{}, {"7A/Ma1"}}.selects(p)));
  EXPECT_FALSE((Selection{{"K2"}, {"7B", "7A/Ma2"}}.selects(p)));
}

// "Rows of pupils who are not selected are skipped before any of their cells
// are read": bad cells of other pupils do not stop a trip import.
TEST(CofferCsvImport, UnselectedRowsAreNotRead) {
  SourceFile pupils{"pupils.csv",
                    "PupilKey,Surname,Forename,DOB,Sex\n"
                    "A1,Smith,Ann,2012-01-01,F\n"
                    "B2,Jones,Bob,2012-02-30,Q\n"};
  SourceFile contacts{"contacts.csv",
                      "PupilKey,Order,Forename,MobilePhone\n"
                      "A1,1,Mum,07700 900001\n"
                      "B2,first,Dad,07700 900002\n"};
  SourceData d = parse_coffer_csv(pupils, contacts, {{"A1"}, {}});
  ASSERT_EQ(keys(d.pupils), std::vector<std::string>{"A1"});
  EXPECT_EQ(d.source_pupils, 2u);
  EXPECT_EQ(d.pupils[0].contacts.size(), 1u);
  // ... but selected, they are refused.
  EXPECT_HAS(usage_error([&] { parse_coffer_csv(pupils, contacts, {{"B2"}, {}}); }), "pupils.csv:3");
}

TEST(CofferCsvImport, DenyListedColumnsAreDroppedByNameNeverByValue) {
  SourceFile pupils{"pupils.csv",
                    "PupilKey,Surname,Forename,Ethnicity,FSM Eligible,Religion,home_address,SENProvision\n"
                    "A1,Smith,Ann,WBRI,true,Quaker,1 Secret Lane,EHCP-K\n"};
  SourceFile contacts{"contacts.csv",
                      "PupilKey,Order,Forename,Email,MobilePhone,Address\n"
                      "A1,1,Mum,mum@example.invalid,07700 900001,2 Hidden Road\n"};
  SourceData d = parse_coffer_csv(pupils, contacts, {});
  EXPECT_EQ(d.dropped, (std::set<std::string>{"Ethnicity", "FSM Eligible", "Religion", "home_address", "SENProvision",
                                              "Email", "Address"}));
  ASSERT_EQ(d.pupils.size(), 1u);
  std::string all = dump(d);
  for (auto v : {"WBRI", "Quaker", "Secret Lane", "EHCP-K", "example.invalid", "Hidden Road"}) EXPECT_LACKS(all, v);
  EXPECT_EQ(d.pupils[0].contacts.at(0).phones.at(0).display, "07700 900001");
}

// ---------------------------------------------------------------------------
// Bad input: Error(kUsage) naming file and line, never the personal value.

const std::string kHeader = "PupilKey,UPN,Surname,Forename,DOB,Sex,Allergies,AllergySeverity\n";

// Parses pupils.csv text (and contacts.csv text, if given) and returns the
// error message; checks that it names no personal value.
std::string pupils_error(const std::string& pupils, const std::optional<std::string>& contacts = std::nullopt) {
  std::optional<SourceFile> c;
  if (contacts) c = SourceFile{"contacts.csv", *contacts};
  std::string m = usage_error([&] { parse_coffer_csv({"pupils.csv", pupils}, c, {}); });
  EXPECT_LACKS(m, kSecretName);
  return m;
}

std::string row(const std::string& key, const std::string& dob = "2012-05-01", const std::string& sex = "F",
                const std::string& allergies = "", const std::string& severity = "", const std::string& upn = "") {
  return key + "," + upn + "," + kSecretName + ",Ann," + dob + "," + sex + "," + allergies + "," + severity + "\n";
}

TEST(CofferCsvImportErrors, UkDatesNeedTheHeaderComment) {
  std::string m = pupils_error(kHeader + row("A1", "14/03/2012"));
  EXPECT_HAS(m, "pupils.csv:2");
  EXPECT_HAS(m, "# dates: DD/MM/YYYY");
  EXPECT_LACKS(m, "14/03/2012");

  SourceData d =
      parse_coffer_csv({"pupils.csv", "# dates: DD/MM/YYYY\n" + kHeader + row("A1", "14/03/2012")}, std::nullopt, {});
  ASSERT_EQ(d.pupils.size(), 1u);
  EXPECT_EQ(d.pupils[0].dob, (Date{2012, 3, 14}));

  // Declared UK: ISO and impossible UK dates are refused, on the right line
  // (the comment counts as line 1).
  m = pupils_error("# dates: DD/MM/YYYY\n" + kHeader + row("A1", "01/02/2012") + row("A2", "2012-03-14"));
  EXPECT_HAS(m, "pupils.csv:4");
  m = pupils_error("# dates: DD/MM/YYYY\n" + kHeader + row("A1", "29/02/2013"));
  EXPECT_HAS(m, "pupils.csv:3");
  EXPECT_LACKS(m, "29/02/2013");
  d = parse_coffer_csv({"pupils.csv", "#dates:DD/MM/YYYY\n" + kHeader + row("A1", "29/02/2012")}, std::nullopt, {});
  EXPECT_EQ(d.pupils.at(0).dob, (Date{2012, 2, 29}));

  // An explicit ISO declaration, other comments, and an unknown form.
  d = parse_coffer_csv({"pupils.csv", "# exported: Friday\n# dates: YYYY-MM-DD\n" + kHeader + row("A1")}, std::nullopt,
                       {});
  EXPECT_EQ(d.pupils.at(0).dob, (Date{2012, 5, 1}));
  m = pupils_error("# dates: MM/DD/YYYY\n" + kHeader + row("A1"));
  EXPECT_HAS(m, "pupils.csv");
  EXPECT_HAS(m, "DD/MM/YYYY");
}

TEST(CofferCsvImportErrors, UnknownColumnIsNamed) {
  std::string m = pupils_error("PupilKey,Surname,Forename,Allergy\nA1,Quillfeather,Ann,peanuts\n");
  EXPECT_HAS(m, "pupils.csv:1");
  EXPECT_HAS(m, "Allergy");
  EXPECT_LACKS(m, "peanuts");
  // Headers are case-sensitive.
  m = pupils_error("PupilKey,surname,Forename\nA1,Quillfeather,Ann\n");
  EXPECT_HAS(m, "surname");
  // The header line counts the comments above it.
  m = pupils_error("# dates: YYYY-MM-DD\nPupilKey,Surname,Forename,Nickname\n");
  EXPECT_HAS(m, "pupils.csv:2");
  EXPECT_HAS(m, "Nickname");
  m = pupils_error(kHeader + row("A1"), std::string("PupilKey,Order,Forename,Pager\nA1,1,Mum,123\n"));
  EXPECT_HAS(m, "contacts.csv:1");
  EXPECT_HAS(m, "Pager");
}

TEST(CofferCsvImportErrors, MissingRequiredColumnIsNamed) {
  for (auto [header, missing] : {std::pair{"UPN,Surname,Forename\n", "PupilKey"},
                                 {"PupilKey,Forename\n", "Surname"},
                                 {"PupilKey,Surname\n", "Forename"}}) {
    std::string m = pupils_error(header);
    EXPECT_HAS(m, "pupils.csv:1");
    EXPECT_HAS(m, missing);
  }
  std::string m = pupils_error(kHeader + row("A1"), std::string("PupilKey,Forename\nA1,Mum\n"));
  EXPECT_HAS(m, "contacts.csv:1");
  EXPECT_HAS(m, "Order");
}

TEST(CofferCsvImportErrors, BadHeaderRows) {
  EXPECT_HAS(pupils_error("# dates: YYYY-MM-DD\n"), "pupils.csv");
  std::string m = pupils_error("PupilKey,Surname,Surname,Forename\n");
  EXPECT_HAS(m, "pupils.csv:1");
  EXPECT_HAS(m, "Surname");
  m = pupils_error("PupilKey,,Surname,Forename\n");
  EXPECT_HAS(m, "pupils.csv:1");
  EXPECT_HAS(m, "column 2");
}

TEST(CofferCsvImportErrors, EmptyPupilKey) {
  std::string m = pupils_error(kHeader + row("A1") + row(""));
  EXPECT_HAS(m, "pupils.csv:3");
  EXPECT_HAS(m, "PupilKey");
}

TEST(CofferCsvImportErrors, WrongCellCount) {
  std::string m = pupils_error(kHeader + row("A1") + "A2,,Quillfeather,Ann,2012-01-01,F,,,extra\n");
  EXPECT_HAS(m, "pupils.csv:3");
  EXPECT_HAS(m, "9 cells");
  m = pupils_error(kHeader + "A2,,Quillfeather,Ann\n");
  EXPECT_HAS(m, "pupils.csv:2");
  EXPECT_HAS(m, "4 cells");
}

TEST(CofferCsvImportErrors, UnclosedQuote) {
  // At the end of the file.
  std::string m = pupils_error(kHeader + row("A1") + "A2,,\"Quillfeather,Ann,2012-01-01,F,,\n");
  EXPECT_HAS(m, "pupils.csv:3");
  EXPECT_HAS(m, "quote");
  // A stray quote inside an unquoted cell (strict RFC 4180).
  m = pupils_error(kHeader + row("A1") + "A2,,Quill\"feather,Ann,2012-01-01,F,,\n" + row("A3"));
  EXPECT_HAS(m, "pupils.csv:3");
}

// BUG (vault/src/csv_table.cpp, parse_csv, csv_fini branch): an unclosed
// quote is reported on the LAST line of the file, not the line where the
// quoted field opened; with rows after it the line number points at the
// wrong pupil. Expected "pupils.csv:3" here; actual "pupils.csv:5".
TEST(CofferCsvImportErrors, UnclosedQuoteNamesTheLineItOpened) {
  std::string m = pupils_error(kHeader + row("A1") + "A2,,\"Quillfeather,Ann,2012-01-01,F,,\n" + row("A3") + row("A4"));
  EXPECT_HAS(m, "pupils.csv:3");
}

// BUG (vault/src/csv_table.cpp, parse_csv, valid_utf8 check): invalid
// UTF-8 is reported as "pupils.csv: is not valid UTF-8" with no line,
// although csv_table.h promises file and line for it. In a 600-row export
// the user cannot find the bad byte. Expected "pupils.csv:3".
TEST(CofferCsvImportErrors, InvalidUtf8NamesTheLine) {
  std::string m = pupils_error(kHeader + row("A1") + "A2,,Quillfeather,An\xff,2012-01-01,F,,\n");
  EXPECT_HAS(m, "pupils.csv");
  EXPECT_HAS(m, "UTF-8");
  EXPECT_HAS(m, "pupils.csv:3");
}

TEST(CofferCsvImportErrors, InvalidUtf8IsRefused) {
  // Truncated sequence at the end, overlong form, surrogate, beyond U+10FFFF,
  // a lone continuation byte.
  for (std::string bad : {"\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80"}) {
    std::string m =
        pupils_error(std::string(kHeader).append("A2,,Quillfeather,Ann").append(bad).append(",2012-01-01,F,,\n"));
    EXPECT_HAS(m, "UTF-8");
  }
  // Valid multi-byte text is fine.
  SourceData d = parse_coffer_csv({"pupils.csv", kHeader + "A1,,Łukasiewicz,Zoë 🙂,,,,\n"}, std::nullopt, {});
  EXPECT_EQ(d.pupils.at(0).forename, "Zoë 🙂");
}

TEST(CofferCsvImport, AcceptsBomAndCrlf) {
  SourceData d = parse_coffer_csv(
      {"pupils.csv",
       "\xEF\xBB\xBF# dates: DD/MM/YYYY\r\nPupilKey,Surname,Forename,DOB,SupportNote\r\n"
       "A1,Smith,Ann,14/03/2012,\"two\r\nlines\"\r\nA2,Jones,Bob,01/01/2012,\r\n"},
      SourceFile{"contacts.csv", "\xEF\xBB\xBFPupilKey,Order,Forename,MobilePhone\r\nA1,1,Mum,07700900001\r\n"}, {});
  ASSERT_EQ(d.pupils.size(), 2u);
  const Pupil& a = d.pupils[0];
  EXPECT_EQ(a.key, "A1");  // not "\xEF\xBB\xBFPupilKey" as a column name
  EXPECT_EQ(a.dob, (Date{2012, 3, 14}));
  EXPECT_EQ(a.support_note, "two\r\nlines");
  EXPECT_EQ(d.pupils[1].forename, "Bob");  // no trailing \r
  ASSERT_EQ(a.contacts.size(), 1u);
  EXPECT_EQ(a.contacts[0].phones.at(0).number, "07700900001");
  EXPECT_TRUE(d.pupils[1].contacts.empty());
}

TEST(CofferCsvImportErrors, LineNumbersSurviveCrlfAndQuotedNewlines) {
  std::string m =
      pupils_error(std::string("PupilKey,Surname,Forename,DOB,SupportNote\r\n") +
                   "A1,Smith,Ann,2012-01-01,\"one\r\ntwo\r\nthree\"\r\n" + "A2,Quillfeather,Bob,2012-02-30,\r\n");
  EXPECT_HAS(m, "pupils.csv:5");
  m = pupils_error(std::string("PupilKey,Surname,Forename,DOB\n\nA1,Smith,Ann,2012-01-01\n\n") +
                   "A2,Quillfeather,Bob,2012-13-01\n");
  EXPECT_HAS(m, "pupils.csv:5");
}

TEST(CofferCsvImportErrors, ContactForUnknownPupil) {
  std::string m =
      pupils_error(kHeader + row("A1"), std::string("PupilKey,Order,Forename,MobilePhone\nA1,1,Mum,07700900001\n"
                                                    "Z9,1,Quillfeather,07700900002\n"));
  EXPECT_HAS(m, "contacts.csv:3");
  EXPECT_HAS(m, "PupilKey");
  EXPECT_HAS(m, "pupils.csv");  // says which file it looked in
}

TEST(CofferCsvImportErrors, BadOrder) {
  for (auto bad : {"first", "0", "-1", "1.5", "", "2x", "99999999999"}) {
    std::string m = pupils_error(kHeader + row("A1"), "PupilKey,Order,Forename,Surname\nA1,1,Mum,X\nA1," +
                                                          std::string(bad) + ",Dad,Quillfeather\n");
    EXPECT_HAS(m, "contacts.csv:3");
    EXPECT_HAS(m, "Order");
  }
}

TEST(CofferCsvImportErrors, ContactWithoutNameOrBadFlags) {
  std::string m = pupils_error(kHeader + row("A1"), std::string("PupilKey,Order,Title,Forename,Surname\nA1,1,,,\n"));
  EXPECT_HAS(m, "contacts.csv:2");
  EXPECT_HAS(m, "no name");
  m = pupils_error(kHeader + row("A1"),
                   std::string("PupilKey,Order,Surname,Responsibility\nA1,1,Quillfeather,sometimes\n"));
  EXPECT_HAS(m, "contacts.csv:2");
  EXPECT_HAS(m, "Responsibility");
  EXPECT_LACKS(m, "sometimes");
  m = pupils_error(kHeader + row("A1"),
                   std::string("PupilKey,Order,Surname,DoNotRelease\nA1,1,Quillfeather,never ever\n"));
  EXPECT_HAS(m, "DoNotRelease");
  EXPECT_LACKS(m, "never ever");
}

// BUG (vault/src/import_coffer_csv.cpp, read_contact): the name check runs
// after the Title is joined in, so a contact with only a Title ("Mrs", no
// Forename or Surname) is accepted with the name "Mrs", although the message
// says a contact needs a Forename or Surname. Expected Error(kUsage)
// "contacts.csv:2: ... no name"; actual: imported as "Mrs".
TEST(CofferCsvImportErrors, ContactWithOnlyATitleHasNoName) {
  std::string m = pupils_error(kHeader + row("A1"), std::string("PupilKey,Order,Title,Forename,Surname\nA1,1,Mrs,,\n"));
  EXPECT_HAS(m, "contacts.csv:2");
}

TEST(CofferCsvImportErrors, AllergySeverityCountMismatch) {
  std::string m = pupils_error(kHeader + row("A1") + row("A2", "2012-01-01", "F", "peanuts;egg;milk", "severe;mild"));
  EXPECT_HAS(m, "pupils.csv:3");
  EXPECT_HAS(m, "AllergySeverity");
  EXPECT_HAS(m, "2 values");
  EXPECT_LACKS(m, "peanuts");
  EXPECT_LACKS(m, "severe");
  // A severity with no allergy at all.
  m = pupils_error(kHeader + row("A1", "2012-01-01", "F", "", "severe;mild"));
  EXPECT_HAS(m, "pupils.csv:2");
}

TEST(CofferCsvImport, ParallelListsAndValueSpellings) {
  SourceFile f{"pupils.csv",
               "PupilKey,Surname,Forename,Sex,Allergies,AllergySeverity,Medication,MedicationAdministeredBy,"
               "EmergencyTreatmentConsent\n"
               "A1,S,A,male,peanuts; egg ;,Anaphylactic,Inhaler;EpiPen,,Y\n"
               "A2,S,B,Female,egg;milk,SEVERE;mild,Inhaler;EpiPen,pupil;teacher,0\n"
               "A3,S,C,not known,egg,,Inhaler,School,TRUE\n"};
  SourceData d = parse_coffer_csv(f, std::nullopt, {});
  ASSERT_EQ(d.pupils.size(), 3u);
  const Pupil& a = d.pupils[0];
  EXPECT_EQ(a.sex, "M");
  ASSERT_EQ(a.allergies.size(), 2u);  // empty items dropped, spaces trimmed
  EXPECT_EQ(a.allergies[1].what, "egg");
  EXPECT_EQ(a.allergies[0].severity, "anaphylaxis");  // one value applies to all
  EXPECT_EQ(a.allergies[1].severity, "anaphylaxis");
  EXPECT_EQ(a.medication.at(1).administered_by, "");
  EXPECT_EQ(a.emergency_consent, "yes");
  const Pupil& b = d.pupils[1];
  EXPECT_EQ(b.sex, "F");
  EXPECT_EQ(b.allergies.at(0).severity, "severe");
  EXPECT_EQ(b.allergies.at(1).severity, "mild");
  EXPECT_EQ(b.medication.at(0).administered_by, "self");
  EXPECT_EQ(b.medication.at(1).administered_by, "staff");
  EXPECT_EQ(b.emergency_consent, "no");
  EXPECT_EQ(d.pupils[2].sex, "U");
  EXPECT_EQ(d.pupils[2].medication.at(0).administered_by, "staff");
  EXPECT_EQ(d.pupils[2].emergency_consent, "yes");
}

TEST(CofferCsvImportErrors, BadEnumValues) {
  std::string m = pupils_error(kHeader + row("A1", "2012-01-01", "Q"));
  EXPECT_HAS(m, "pupils.csv:2");
  EXPECT_HAS(m, "Sex");
  EXPECT_HAS(m, "M, F or U");
  m = pupils_error(kHeader + row("A1", "2012-01-01", "F", "peanuts", "deadly"));
  EXPECT_HAS(m, "AllergySeverity");
  EXPECT_LACKS(m, "deadly");
  m = pupils_error(
      "PupilKey,Surname,Forename,Medication,MedicationAdministeredBy\nA1,Quillfeather,Ann,Inhaler,nurse\n");
  EXPECT_HAS(m, "pupils.csv:2");
  EXPECT_HAS(m, "MedicationAdministeredBy");
  EXPECT_LACKS(m, "nurse");
  EXPECT_LACKS(m, "Inhaler");
  m = pupils_error("PupilKey,Surname,Forename,EmergencyTreatmentConsent\nA1,Quillfeather,Ann,perhaps\n");
  EXPECT_HAS(m, "EmergencyTreatmentConsent");
  EXPECT_LACKS(m, "perhaps");
}

TEST(CofferCsvImport, UpnProblemsWarnAndKeepThePupil) {
  // G999888814001 is valid; the same digits with the wrong check letter.
  SourceData d = parse_coffer_csv({"pupils.csv", kHeader + row("A1", "2012-01-01", "F", "", "", "G999888814001") +
                                                     row("A2", "2012-01-01", "F", "", "", "H999888814001") +
                                                     row("A3", "2012-01-01", "F", "", "", "not-a-upn")},
                                  std::nullopt, {});
  ASSERT_EQ(d.pupils.size(), 3u);
  EXPECT_EQ(d.pupils[1].upn, "H999888814001");
  ASSERT_EQ(d.warnings.size(), 2u);
  EXPECT_HAS(d.warnings[0], "pupils.csv:3");
  EXPECT_HAS(d.warnings[0], "check letter");
  EXPECT_LACKS(d.warnings[0], "999888814001");
  EXPECT_HAS(d.warnings[1], "pupils.csv:4");
  EXPECT_LACKS(d.warnings[1], "not-a-upn");
  EXPECT_FALSE(d.pupils[2].upn.empty());
}

// ---------------------------------------------------------------------------
// prepare_import on the fixture.

TEST(PrepareImport, TripKeepsItsFieldsAndSortsBySurname) {
  Selection s{{"F001", "F002", "F003", "F004"}, {}};
  PreparedImport p = prepare_import(parse_fixture(s), profile("trip"), s, {});
  EXPECT_EQ(p.format, "coffer-csv");
  EXPECT_EQ(p.source_pupils, 5u);
  const auto& trip = profile("trip").fields;
  EXPECT_EQ(std::set<std::string>(p.fields.begin(), p.fields.end()), trip);
  EXPECT_TRUE(p.not_in_profile.empty());
  EXPECT_TRUE(p.warnings.empty());
  // Ashdown, Núñez-Hale, O'Brien, Okafor (byte order of legal surnames).
  EXPECT_EQ(keys(p.pupils), (std::vector<std::string>{"F001", "F003", "F002", "F004"}));
  const Pupil& a = p.pupils[0];
  EXPECT_EQ(a.upn, "G999888814001");
  EXPECT_TRUE(a.dob.has_value());
  EXPECT_EQ(a.allergies.size(), 2u);
  EXPECT_EQ(a.contacts.size(), 2u);
  EXPECT_EQ(a.support_note, "needs a \"time out\" card, and a quiet space");
}

TEST(PrepareImport, TripNeedsAReachableContact) {
  // F005's only contact has no phone.
  Selection s{{"F001", "F005"}, {}};
  std::string m = usage_error([&] { prepare_import(parse_fixture(s), profile("trip"), s, {}); });
  EXPECT_HAS(m, "F005");
  EXPECT_HAS(m, "1 pupil(s)");
  EXPECT_LACKS(m, "F001");
  EXPECT_EQ(remedy_of([&] { prepare_import(parse_fixture(s), profile("trip"), s, {}); }),
            Remedy::kAllowMissingContacts);
  EXPECT_LACKS(m, "Marsh");

  PreparedImport p = prepare_import(parse_fixture(s), profile("trip"), s, {true});
  EXPECT_EQ(p.pupils.size(), 2u);
  EXPECT_TRUE(p.warnings.empty());
  ASSERT_TRUE(p.imported_unreachable.has_value());
  EXPECT_HAS(*p.imported_unreachable, "F005");

  // A contact the pupil must not be released to does not count, even with a phone.
  Selection only_dnr{{"F004"}, {}};
  SourceData d = parse_fixture(only_dnr);
  d.pupils[0].contacts.pop_back();  // keep only the do-not-release father
  ASSERT_TRUE(d.pupils[0].contacts[0].do_not_release);
  ASSERT_FALSE(d.pupils[0].contacts[0].phones.empty());
  EXPECT_HAS(usage_error([&] { prepare_import(d, profile("trip"), only_dnr, {}); }), "F004");

  // trip-local carries no contacts (the base holds them): no such check.
  p = prepare_import(parse_fixture(s), profile("trip-local"), s, {});
  EXPECT_EQ(p.pupils.size(), 2u);
  EXPECT_TRUE(p.warnings.empty());
  for (auto& q : p.pupils) EXPECT_TRUE(q.contacts.empty());
  EXPECT_TRUE(p.not_in_profile.count("emergency_contacts"));
}

TEST(PrepareImport, ManyUnreachablePupilsAreCounted) {
  SourceData d;
  d.format = "coffer-csv";
  Selection s;
  for (int i = 0; i < 13; ++i) {
    Pupil p;
    p.key = "K" + std::to_string(i + 10);
    p.surname = "S";
    p.forename = "F";
    d.pupils.push_back(p);
    s.pupils.insert(p.key);
  }
  std::string m = usage_error([&] { prepare_import(d, profile("trip"), s, {}); });
  EXPECT_HAS(m, "13 pupil(s)");
  EXPECT_HAS(m, "and 3 more");
}

TEST(PrepareImport, PupilsWithoutANameAreRefused) {
  SourceData d;
  Pupil p;
  p.key = "NONAME";
  p.surname = "Smith";
  d.pupils.push_back(p);
  std::string m = usage_error([&] { prepare_import(d, profile("home-working"), {}, {true}); });
  EXPECT_HAS(m, "NONAME");
}

TEST(PrepareImport, CarriesDroppedAndWarningsAndCountsNotInProfile) {
  SourceData d = parse_coffer_csv(
      {"pupils.csv", "PupilKey,UPN,Surname,Forename,Ethnicity,DietaryNeeds\nA1,H999888814001,Smith,Ann,WBRI,vegan\n"},
      std::nullopt, {});
  PreparedImport p = prepare_import(d, profile("home-working"), {}, {});
  EXPECT_EQ(p.dropped, std::set<std::string>{"Ethnicity"});
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_HAS(p.warnings[0], "check letter");
  EXPECT_EQ(p.not_in_profile, (std::set<std::string>{"dietary", "upn"}));
  EXPECT_TRUE(p.pupils.at(0).dietary.empty());
  EXPECT_TRUE(p.pupils.at(0).upn.empty());
}

TEST(PrepareImport, SelectionRequiredForTripAndMarking) {
  for (auto name : {"trip", "trip-local", "marking"}) {
    ASSERT_TRUE(profile(name).selection_required) << name;
    std::string m = usage_error([&] { prepare_import(parse_fixture(), profile(name), {}, {true}); });
    EXPECT_HAS(m, name);
    EXPECT_EQ(remedy_of([&] { prepare_import(parse_fixture(), profile(name), {}, {true}); }), Remedy::kSelectPupils);
  }
  ASSERT_FALSE(profile("home-working").selection_required);
  PreparedImport p = prepare_import(parse_fixture(), profile("home-working"), {}, {});
  EXPECT_EQ(p.pupils.size(), 5u);
}

// ---------------------------------------------------------------------------
// Files on disk: detect_format, read_source, read_pupil_list.

using test::code_of;

TEST(ImportFiles, FormatNames) {
  for (auto f : {SourceFormat::kCofferCsv, SourceFormat::kMappedCsv, SourceFormat::kOneRoster, SourceFormat::kCtf})
    EXPECT_EQ(parse_format(format_name(f)), f);
  EXPECT_EQ(format_name(SourceFormat::kCofferCsv), "coffer-csv");
  EXPECT_FALSE(parse_format("Coffer-CSV").has_value());
  EXPECT_FALSE(parse_format("").has_value());
}

TEST(ImportFiles, DetectsCofferCsvByDirectoryOrFileName) {
  EXPECT_EQ(detect_format(kFixture), SourceFormat::kCofferCsv);
  EXPECT_EQ(detect_format(kFixture / "pupils.csv"), SourceFormat::kCofferCsv);
  test::TempDir dir;
  std::string m;
  EXPECT_EQ(code_of([&] { detect_format(dir.path()); }, &m), ErrorCode::kUsage);
  EXPECT_EQ(remedy_of([&] { detect_format(dir.path()); }), Remedy::kNameFormat);
  spit(dir / "export.csv", "PupilKey,Surname,Forename\n");
  EXPECT_EQ(code_of([&] { detect_format(dir / "export.csv"); }), ErrorCode::kUsage);
  EXPECT_EQ(code_of([&] { detect_format(dir / "missing.csv"); }), ErrorCode::kUsage);
  spit(dir / "school.xml", "<?xml version=\"1.0\"?>\n<CTfile><Header/></CTfile>\n");
  EXPECT_EQ(detect_format(dir / "school.xml"), SourceFormat::kCtf);
}

TEST(ImportFiles, ReadSourceLoadsBothFiles) {
  SourceData from_dir = read_source(SourceFormat::kCofferCsv, kFixture, std::nullopt, {});
  SourceData from_file = read_source(SourceFormat::kCofferCsv, kFixture / "pupils.csv", std::nullopt, {});
  EXPECT_EQ(dump(from_dir), dump(parse_fixture()));
  EXPECT_EQ(dump(from_file), dump(parse_fixture()));
  EXPECT_EQ(from_dir.pupils.at(0).contacts.size(), 2u);

  // Without contacts.csv beside it: pupils only. Messages name the path given.
  test::TempDir dir;
  spit(dir / "pupils.csv", "PupilKey,Surname,Forename,DOB\nA1,Smith,Ann,2012-01-01\n");
  SourceData d = read_source(SourceFormat::kCofferCsv, dir.path(), std::nullopt, {});
  ASSERT_EQ(d.pupils.size(), 1u);
  EXPECT_TRUE(d.pupils[0].contacts.empty());
  spit(dir / "pupils.csv", "PupilKey,Surname,Forename,DOB\nA1,Smith,Ann,2012-02-31\n");
  std::string m;
  EXPECT_EQ(code_of([&] { read_source(SourceFormat::kCofferCsv, dir.path(), std::nullopt, {}); }, &m),
            ErrorCode::kUsage);
  EXPECT_HAS(m, (dir / "pupils.csv").string() + ":2");
  spit(dir / "pupils.csv", "PupilKey,Surname,Forename\nA1,Smith,Ann\n");
  spit(dir / "contacts.csv", "PupilKey,Order,Forename\nA1,x,Mum\n");
  EXPECT_EQ(code_of([&] { read_source(SourceFormat::kCofferCsv, dir / "pupils.csv", std::nullopt, {}); }, &m),
            ErrorCode::kUsage);
  EXPECT_HAS(m, (dir / "contacts.csv").string() + ":2");

  // The selection reaches the parser.
  d = read_source(SourceFormat::kCofferCsv, kFixture, std::nullopt, {{"F003"}, {}});
  EXPECT_EQ(keys(d.pupils), std::vector<std::string>{"F003"});

  EXPECT_EQ(code_of([&] { read_source(SourceFormat::kCofferCsv, dir / "nothing", std::nullopt, {}); }),
            ErrorCode::kUsage);
  EXPECT_EQ(code_of([&] { read_source(SourceFormat::kMappedCsv, dir / "pupils.csv", std::nullopt, {}); }, &m),
            ErrorCode::kUsage);
  EXPECT_EQ(remedy_of([&] { read_source(SourceFormat::kMappedCsv, dir / "pupils.csv", std::nullopt, {}); }),
            Remedy::kMappingNeeded);
}

TEST(ImportFiles, ReadPupilList) {
  test::TempDir dir;
  spit(dir / "list.txt", "# the swimming trip\nP00001\n  P00002  \n\nP00003 # joined late\r\nP00001\n");
  EXPECT_EQ(read_pupil_list(dir / "list.txt"), (std::set<std::string>{"P00001", "P00002", "P00003"}));
  spit(dir / "empty.txt", "# nobody yet\n\n   \n");
  std::string m;
  EXPECT_EQ(code_of([&] { read_pupil_list(dir / "empty.txt"); }, &m), ErrorCode::kUsage);
  EXPECT_HAS(m, "empty.txt");
  EXPECT_EQ(code_of([&] { read_pupil_list(dir / "missing.txt"); }), ErrorCode::kUsage);
  EXPECT_EQ(code_of([&] { read_pupil_list(dir.path()); }), ErrorCode::kUsage);
}

// ---------------------------------------------------------------------------
// The generated school: 600 pupils, 25 per group 7A..12D, deny-listed
// columns Ethnicity/FSMeligible/SENProvision, every 97th pupil's only contact
// without a phone.

class DemoSchoolImport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    for (auto [sub, extra] : {std::pair{"full", ""}, {"minimal", " --minimal"}}) {
      std::string cmd = std::string("'") + COFFER_DEMO_SCHOOL + "' --out '" + (dir_->path() / sub).string() + "'" +
                        extra + " >/dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static SourceFile pupils(const char* sub = "full") {
    return {"pupils.csv", slurp(dir_->path() / sub / "pupils.csv")};
  }
  static SourceFile contacts(const char* sub = "full") {
    return {"contacts.csv", slurp(dir_->path() / sub / "contacts.csv")};
  }
  static SourceData parse(const Selection& s, const char* sub = "full") {
    return parse_coffer_csv(pupils(sub), contacts(sub), s);
  }
  static std::string key(int n) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "P%05d", n);
    return buf;
  }
  static test::TempDir* dir_;
};
test::TempDir* DemoSchoolImport::dir_ = nullptr;

const std::vector<std::string> kEthnicityCodes = {"WBRI", "WIRI", "WOTH", "ABAN", "AIND", "APKN", "BAFR",
                                                  "BCRB", "CHNE", "MWBC", "MWAS", "MOTH", "AOTH", "REFU"};

TEST_F(DemoSchoolImport, AllPupilsParsedAndDenyListedColumnsDropped) {
  SourceFile raw = pupils();
  // The generator did write the values the importer must drop.
  ASSERT_NE(raw.text.find(",WBRI,"), std::string::npos);
  SourceData d = parse({});
  EXPECT_EQ(d.source_pupils, 600u);
  ASSERT_EQ(d.pupils.size(), 600u);
  for (int i = 0; i < 600; ++i) EXPECT_EQ(d.pupils[i].key, key(i + 1));
  EXPECT_EQ(d.dropped, (std::set<std::string>{"Ethnicity", "FSMeligible", "SENProvision"}));
  EXPECT_TRUE(d.warnings.empty()) << d.warnings.front();  // every generated UPN is valid
  std::string all = dump(d);
  for (auto& code : kEthnicityCodes) EXPECT_LACKS(all, code);
  // Reg groups 7A..12D, 25 each, in order.
  EXPECT_EQ(d.pupils[0].reg_group, "7A");
  EXPECT_EQ(d.pupils[25].reg_group, "7B");
  EXPECT_EQ(d.pupils[599].reg_group, "12D");
  // Every pupil has a contact; P00097 has exactly one, without a phone.
  const Pupil* p97 = by_key(d.pupils, "P00097");
  ASSERT_NE(p97, nullptr);
  ASSERT_EQ(p97->contacts.size(), 1u);
  EXPECT_TRUE(p97->contacts[0].phones.empty());
  for (auto& p : d.pupils) EXPECT_FALSE(p.contacts.empty()) << p.key;

  SourceData minimal = parse({}, "minimal");
  EXPECT_EQ(minimal.pupils.size(), 600u);
  EXPECT_TRUE(minimal.dropped.empty());
}

TEST_F(DemoSchoolImport, GroupSelection) {
  SourceData d = parse({{}, {"7A"}});
  std::vector<std::string> want;
  for (int i = 1; i <= 25; ++i) want.push_back(key(i));
  EXPECT_EQ(keys(d.pupils), want);
  EXPECT_EQ(d.source_pupils, 600u);

  d = parse({{}, {"12D"}});
  want.clear();
  for (int i = 576; i <= 600; ++i) want.push_back(key(i));
  EXPECT_EQ(keys(d.pupils), want);

  // A class (7A/Ma1..3, 7A/En1..3): a subset of 7A, each pupil really in it.
  d = parse({{}, {"7A/Ma1"}});
  EXPECT_GT(d.pupils.size(), 0u);
  EXPECT_LT(d.pupils.size(), 25u);
  for (auto& p : d.pupils) {
    EXPECT_EQ(p.reg_group, "7A");
    EXPECT_NE(std::find(p.classes.begin(), p.classes.end(), "7A/Ma1"), p.classes.end());
  }
}

TEST_F(DemoSchoolImport, PupilSelection) {
  SourceData d = parse({{"P00600", "P00042", "P00313"}, {}});
  EXPECT_EQ(keys(d.pupils), (std::vector<std::string>{"P00042", "P00313", "P00600"}));
  for (auto& p : d.pupils) EXPECT_FALSE(p.contacts.empty());
}

TEST_F(DemoSchoolImport, UnknownKeyOrGroupIsNamed) {
  std::string m = usage_error([] { parse({{"P00001", "P00601"}, {}}); });
  EXPECT_HAS(m, "P00601");
  EXPECT_LACKS(m, "P00001");
  m = usage_error([] { parse({{}, {"7A", "13A"}}); });
  EXPECT_HAS(m, "13A");
}

TEST_F(DemoSchoolImport, TripRefusesP00097UnlessAllowMissing) {
  Selection s{{"P00096", "P00097", "P00098"}, {}};
  std::string m = usage_error([&] { prepare_import(parse(s), profile("trip"), s, {}); });
  EXPECT_HAS(m, "P00097");
  EXPECT_HAS(m, "1 pupil(s)");
  EXPECT_LACKS(m, "P00096");
  EXPECT_LACKS(m, "P00098");

  PreparedImport p = prepare_import(parse(s), profile("trip"), s, {true});
  EXPECT_EQ(p.pupils.size(), 3u);
  EXPECT_TRUE(p.warnings.empty());
  ASSERT_TRUE(p.imported_unreachable.has_value());
  EXPECT_HAS(*p.imported_unreachable, "P00097");
  EXPECT_TRUE(by_key(p.pupils, "P00097") != nullptr);

  // Group 7D (P00076..P00100) contains P00097 too.
  Selection g{{}, {"7D"}};
  EXPECT_HAS(usage_error([&] { prepare_import(parse(g), profile("trip"), g, {}); }), "P00097");
}

TEST_F(DemoSchoolImport, MarkingMinimisesAwayMedicalContactsAndDob) {
  Selection s{{}, {"7A"}};
  SourceData d = parse(s);
  // The source did carry them for these pupils.
  ASSERT_TRUE(d.pupils[0].dob.has_value());
  ASSERT_FALSE(d.pupils[0].contacts.empty());

  PreparedImport p = prepare_import(std::move(d), profile("marking"), s, {});
  ASSERT_EQ(p.pupils.size(), 25u);
  EXPECT_EQ(std::set<std::string>(p.fields.begin(), p.fields.end()), profile("marking").fields);
  for (auto g : {"medical", "emergency_contacts", "dob", "upn", "sex", "photo", "activity_notes"})
    EXPECT_TRUE(p.not_in_profile.count(g)) << g;
  for (auto g : {"names", "reg_group", "year_group", "classes"}) EXPECT_FALSE(p.not_in_profile.count(g)) << g;
  EXPECT_EQ(p.dropped, (std::set<std::string>{"Ethnicity", "FSMeligible", "SENProvision"}));
  for (auto& q : p.pupils) {
    EXPECT_FALSE(q.dob.has_value()) << q.key;
    EXPECT_TRUE(q.contacts.empty()) << q.key;
    EXPECT_TRUE(q.allergies.empty() && q.conditions.empty() && q.medication.empty()) << q.key;
    EXPECT_TRUE(q.care_plan.empty() && q.emergency_consent.empty()) << q.key;
    EXPECT_TRUE(q.dietary.empty() && q.support_note.empty() && q.swimming.empty()) << q.key;
    EXPECT_TRUE(q.upn.empty() && q.sex.empty() && q.photo.empty()) << q.key;
    EXPECT_FALSE(q.surname.empty());
    EXPECT_EQ(q.reg_group, "7A");
    EXPECT_FALSE(q.classes.empty());
    // Only groups the profile allows are left.
    for (auto& g : groups_present(q)) EXPECT_TRUE(profile("marking").fields.count(g)) << g;
  }
  // Sorted by surname, forename, key.
  for (std::size_t i = 1; i < p.pupils.size(); ++i)
    EXPECT_LE(std::tie(p.pupils[i - 1].surname, p.pupils[i - 1].forename),
              std::tie(p.pupils[i].surname, p.pupils[i].forename));
}

TEST_F(DemoSchoolImport, SelectionRequiredExceptForHomeWorking) {
  SourceData d = parse({});
  EXPECT_HAS(usage_error([&] { prepare_import(d, profile("trip"), {}, {true}); }), "whole-school");
  EXPECT_HAS(usage_error([&] { prepare_import(d, profile("marking"), {}, {}); }), "whole-school");
  PreparedImport p = prepare_import(std::move(d), profile("home-working"), {}, {});
  EXPECT_EQ(p.pupils.size(), 600u);
  EXPECT_TRUE(p.not_in_profile.count("medical"));
  for (auto& q : p.pupils) EXPECT_TRUE(q.contacts.empty());
}

// ---------------------------------------------------------------------------
// The mapped-CSV importer and the deny-list (review of issue 4).

SourceFile mapped(const std::string& header, const std::string& row) {
  return SourceFile{"report.csv", header + "\n" + row + "\n"};
}

TEST(MappedCsvImport, DenyListedSourceHeaderCanNeverBeMapped) {
  SourceFile csv = mapped("Adno,Surname,Forename,Religion,Ethnicity", "1,Bloggs,Joe,X,Y");
  for (auto [header, target] : {std::pair{"Religion", "DietaryNeeds"},
                                {"Ethnicity", "SupportNote"},
                                {"Free Meals", "ActivityNotes"},
                                {"LAC", "SupportNote"}}) {
    std::string map = std::string(
                          "[columns]\n\"Adno\" = \"PupilKey\"\n\"Surname\" = \"Surname\"\n"
                          "\"Forename\" = \"Forename\"\n\"") +
                      header + "\" = \"" + target + "\"\n";
    std::string m = usage_error([&] { parse_mapped_csv(csv, SourceFile{"map.toml", map}, {}); });
    EXPECT_HAS(m, "map.toml:5");
    EXPECT_HAS(m, std::string(header) + " is on the deny-list and can never be imported");
  }
}

TEST(MappedCsvImport, DenyListCoversTheReviewersSpellings) {
  const std::vector<std::string> denied = {"Free Meals", "Ever 6 FSM", "Ever6FSM",       "LAC",          "Is LAC",
                                           "SEN Type",   "SENType",    "Place of Birth", "Exam Results", "CLA status"};
  const std::vector<std::string> kept = {"Lactose notes", "Clash",       "Sentence",         "Seniority",
                                         "Cinema club",   "Meal choice", "Results day trip", "Reg"};
  std::string header = "Adno,Surname,Forename", row = "1,Bloggs,Joe";
  for (auto& h : denied) header += "," + h, row += ",x";
  for (auto& h : kept) header += "," + h, row += ",x";
  SourceFile map{"map.toml",
                 "[columns]\n\"Adno\" = \"PupilKey\"\n\"Surname\" = \"Surname\"\n"
                 "\"Forename\" = \"Forename\"\n"};
  SourceData d = parse_mapped_csv(mapped(header, row), map, {});
  EXPECT_EQ(d.dropped, std::set<std::string>(denied.begin(), denied.end()));
  EXPECT_EQ(d.unmapped, std::set<std::string>(kept.begin(), kept.end()));
}

// Issue 16: SDS/US flags reached a coffer through a mapping ("userFlags" =
// "ActivityNotes" showed "NOTES - iep - freeLunch - 504"). Every stem is
// refused as a mapping source, naming the column and why, whatever target.
TEST(MappedCsvImport, UsFlagColumnsCanNeverBeMapped) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"userFlags", "US student flags"},
      {"IEP", "special educational needs"},
      {"hasIEP", "special educational needs"},
      {"504 Plan", "Section 504"},
      {"section_504", "special educational needs"},
      {"ELL Status", "English-learner"},
      {"isELL", "English-learner"},
      {"LEP", "English-learner"},
      {"Free Lunch", "free or reduced-price lunch"},
      {"reduced_lunch", "family income"},
      {"Special Education", "special educational needs"},
      {"Economically Disadvantaged", "family income"},
      {"Migrant", "migrant"},
      {"Homeless", "housing"},
      {"Foster Care", "foster care"},
      {"raceCodes", "racial or ethnic origin"},
      {"birthCity", "place of birth"},
      {"Guardian Email", "email address"},
      {"password", "password"},
  };
  for (auto& [header, why] : cases) {
    SourceFile csv = mapped("Adno,Surname,Forename," + header, "1,Bloggs,Joe,iep - freeLunch - 504");
    std::string map =
        "[columns]\n\"Adno\" = \"PupilKey\"\n\"Surname\" = \"Surname\"\n\"Forename\" = "
        "\"Forename\"\n\"" +
        header + "\" = \"ActivityNotes\"\n";
    std::string m = usage_error([&] { parse_mapped_csv(csv, SourceFile{"map.toml", map}, {}); });
    EXPECT_HAS(m, "map.toml:5: column " + header + " is on the deny-list and can never be imported (");
    EXPECT_HAS(m, why);
    EXPECT_HAS(m, "remove this line from the mapping");
    EXPECT_LACKS(m, "freeLunch - 504");
  }
}

// The short codes match only as whole words (camelCase, underscores,
// spaces, letters/digits), so ordinary columns are not dropped.
TEST(MappedCsvImport, ShortFlagCodesMatchOnlyAsWholeWords) {
  const std::vector<std::string> denied = {"IEP",        "IEPDate",  "iep_review", "hasIep",        "504",
                                           "Has504Plan", "ELL",      "ell_status", "isELL",         "ELLStatus",
                                           "LEP",        "LEPFlag",  "ESL",        "ESOL level",    "FRL",
                                           "FreeLunch",  "Homeless", "fosterCare", "migrantStatus", "userFlags"};
  const std::vector<std::string> kept = {"Spelling group", "Telephone",     "Cell Phone", "Shell club", "Helper",
                                         "Lepidoptera",    "Level",         "Pieces",     "Room 5040",  "Ellie group",
                                         "Bell ringers",   "Lunch sitting", "Flags",      "Yell"};
  std::string header = "Adno,Surname,Forename", row = "1,Bloggs,Joe";
  for (auto& h : denied) header += "," + h, row += ",x";
  for (auto& h : kept) header += "," + h, row += ",x";
  SourceFile map{"map.toml",
                 "[columns]\n\"Adno\" = \"PupilKey\"\n\"Surname\" = \"Surname\"\n"
                 "\"Forename\" = \"Forename\"\n"};
  SourceData d = parse_mapped_csv(mapped(header, row), map, {});
  EXPECT_EQ(d.dropped, std::set<std::string>(denied.begin(), denied.end()));
  EXPECT_EQ(d.unmapped, std::set<std::string>(kept.begin(), kept.end()));
}

TEST(PrepareImport, FutureDateOfBirthNamesFileLineAndColumn) {
  std::string header = "PupilKey,Surname,Forename,DOB\n";
  SourceFile pupils{"pupils.csv", header + "A1,Smith,Ann,2012-01-01\nA2,Jones,Bo,2031-06-01\n"};
  SourceData d = parse_coffer_csv(pupils, std::nullopt, {});
  ImportOptions today;
  today.today = Date{2026, 5, 1};
  std::string m = usage_error([&] { prepare_import(d, profile("home-working"), {}, today); });
  EXPECT_HAS(m, "pupils.csv:3");
  EXPECT_HAS(m, "DOB");
  EXPECT_HAS(m, "in the future");
  EXPECT_LACKS(m, "2031");
  // Born today is fine; without a clock nothing is checked.
  today.today = Date{2031, 6, 1};
  EXPECT_EQ(prepare_import(d, profile("home-working"), {}, today).pupils.size(), 2u);
  EXPECT_EQ(prepare_import(d, profile("home-working"), {}, {}).pupils.size(), 2u);
}

TEST(ImportFiles, MissingOneRosterDirectoryIsAClearError) {
  test::TempDir dir;
  std::string m;
  EXPECT_EQ(code_of([&] { read_source(SourceFormat::kOneRoster, dir / "nodir", std::nullopt, {}); }, &m),
            ErrorCode::kUsage);
  EXPECT_HAS(m, (dir / "nodir").string());
  EXPECT_HAS(m, "no such file or directory");
  EXPECT_EQ(code_of([&] { read_source(SourceFormat::kOneRoster, dir / "nodir" / "users.csv", std::nullopt, {}); }),
            ErrorCode::kUsage);
  EXPECT_EQ(code_of([&] { read_source(SourceFormat::kCtf, dir / "none.xml", std::nullopt, {}); }), ErrorCode::kUsage);
}

}  // namespace
}  // namespace coffer::vault
