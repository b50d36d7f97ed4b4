// vault: the CTF importer on the research's CC0 sample and on files built
// here: exact field values, selection by UPN, the deny-list (names
// reported, values nowhere in the result), namespaces, and errors that name
// file and line. The cases every importer shares (selection, BOM, CRLF,
// check letter, deny-list, empty file, bad date) are import_contract_test.cpp's.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "coffer/error.h"
#include "coffer/vault/records/import.h"
#include "error_capture.h"
#include "source_dump.h"

namespace coffer::vault {
namespace {

// Every error here is a usage error; its message is what the tests check.
std::string message_of(const std::function<void()>& f) { return test::message_of(f, ErrorCode::kUsage); }

SourceFile sample() {
  std::ifstream in(std::filesystem::path(COFFER_FIXTURES_DIR) / "import" / "ctf_synthetic_minimal.xml",
                   std::ios::binary);
  EXPECT_TRUE(in) << "missing tests/fixtures/import/ctf_synthetic_minimal.xml";
  std::ostringstream s;
  s << in.rdbuf();
  return {"ctf.xml", s.str()};
}

SourceFile edited(const std::string& from, const std::string& to) {
  SourceFile f = sample();
  auto at = f.text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) f.text.replace(at, from.size(), to);
  return f;
}

using coffer::vault::testing::dump;

TEST(ctf, ReadsTheSample) {
  SourceData d = parse_ctf(sample(), {});
  EXPECT_EQ(d.format, "CTF 25.0");
  EXPECT_EQ(d.source_pupils, 2u);
  ASSERT_EQ(d.pupils.size(), 2u);

  const Pupil& a = d.pupils[0];
  EXPECT_EQ(a.key, "R999888824001");
  EXPECT_EQ(a.upn, "R999888824001");
  EXPECT_EQ(a.surname, "TESTER");
  EXPECT_EQ(a.forename, "ALEXANDRA");
  EXPECT_EQ(a.preferred_surname, "Tester");
  EXPECT_EQ(a.preferred_forename, "Alex");
  ASSERT_TRUE(a.dob);
  EXPECT_EQ(*a.dob, (Date{2015, 3, 14}));
  EXPECT_EQ(a.sex, "F");
  EXPECT_EQ(a.year_group, "5");
  EXPECT_EQ(a.reg_group, "");
  EXPECT_TRUE(a.classes.empty());
  ASSERT_EQ(a.contacts.size(), 2u);
  const Contact& c1 = a.contacts[0];
  EXPECT_EQ(c1.priority, 1);
  EXPECT_TRUE(c1.ranked);
  EXPECT_EQ(c1.name, "Ms Sam Tester");
  EXPECT_EQ(c1.relationship, "Parent");
  EXPECT_EQ(c1.parental_responsibility, std::optional<bool>(true));
  ASSERT_EQ(c1.phones.size(), 1u);
  EXPECT_EQ(c1.phones[0].kind, "mobile");
  EXPECT_EQ(c1.phones[0].number, "07700 900123");
  EXPECT_EQ(c1.phones[0].display, "07700 900123");
  const Contact& c2 = a.contacts[1];
  EXPECT_EQ(c2.priority, 2);
  EXPECT_EQ(c2.name, "Jo Example");
  EXPECT_EQ(c2.relationship, "Other");
  EXPECT_EQ(c2.parental_responsibility, std::optional<bool>(false));
  ASSERT_EQ(c2.phones.size(), 1u);
  EXPECT_EQ(c2.phones[0].kind, "home");
  EXPECT_EQ(c2.phones[0].display, "07700 900456");

  const Pupil& b = d.pupils[1];
  EXPECT_EQ(b.key, "Q99988882401A");
  EXPECT_EQ(b.surname, "SAMPLE");
  EXPECT_EQ(b.forename, "JORDAN");
  EXPECT_EQ(b.preferred_forename, "");
  ASSERT_TRUE(b.dob);
  EXPECT_EQ(*b.dob, (Date{2015, 11, 2}));
  EXPECT_EQ(b.sex, "M");  // from Gender
  EXPECT_EQ(b.year_group, "5");
  EXPECT_TRUE(b.contacts.empty());

  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_EQ(d.warnings[0],
            "ctf.xml:45: pupil R999888824001: the CTF says medical information exists but a CTF carries none; "
            "import it from the MIS (coffer-csv)");
  EXPECT_EQ(d.unmapped, std::set<std::string>{"Pupil/BasicDetails/EnrolStatus"});
}

TEST(ctf, DropsDeniedElementsAndTheirValues) {
  SourceData d = parse_ctf(sample(), {});
  EXPECT_EQ(d.dropped, (std::set<std::string>{"Email", "Ethnicity", "SENhistory"}));
  std::string all = dump(d);
  for (const char* value : {"WBRI", "sam.tester@example.invalid", "example.invalid", "2024-09-05"})
    EXPECT_EQ(all.find(value), std::string::npos) << value;
}

TEST(ctf, DropsEveryDenyListedBlock) {
  const std::string blocks =
      "<UCI>UCILEAK01</UCI><FSMhistory><FSMinstance><FSMstartDate>2020-01-01</FSMstartDate></FSMinstance>"
      "</FSMhistory><LookedAfter><InCare>true</InCare><CareAuthority>LEAKLA</CareAuthority></LookedAfter>"
      "<NAWdetails><SpeakWelsh>LEAKW</SpeakWelsh></NAWdetails><Admissions>ADMLEAK</Admissions>"
      "<Address><Line1>1 Leak Street</Line1><PostCode>LE4 4KX</PostCode></Address>"
      "<Attendance><YearData>LEAKATT</YearData></Attendance>"
      "<StageAssessments><KeyStage><Stage>KS2</Stage><Result>LEAKRES</Result></KeyStage></StageAssessments>"
      "<SchoolHistory><School>LEAKSCH</School></SchoolHistory><Email>pupil@leak.invalid</Email>"
      "<UniqueLearnerNumber>LEAKULN99</UniqueLearnerNumber>"
      "<Extra><Inner><Religion>LEAKREL</Religion></Inner><Note>x</Note></Extra>";
  SourceFile f = edited("<Gender>M</Gender>", "<Gender>M</Gender>" + blocks);
  f.text.replace(f.text.find("<MedicalFlag>false</MedicalFlag>"), 32,
                 "<MedicalFlag>false</MedicalFlag><Languages><Type>LEAKLANG</Type></Languages>"
                 "<Disabilities><Disability>LEAKDIS</Disability></Disabilities>"
                 "<EthnicitySource>LEAKSRC</EthnicitySource>");
  SourceData d = parse_ctf(f, {});
  for (const char* name :
       {"UCI", "FSMhistory", "LookedAfter", "NAWdetails", "Admissions", "Address", "Attendance", "StageAssessments",
        "SchoolHistory", "Email", "Languages", "Disabilities", "EthnicitySource", "Religion", "UniqueLearnerNumber"})
    EXPECT_TRUE(d.dropped.count(name)) << name;
  EXPECT_EQ(d.unmapped, (std::set<std::string>{"Pupil/BasicDetails/EnrolStatus", "Pupil/Extra"}));
  std::string all = dump(d);
  for (const char* value : {"LEAK", "leak", "2020-01-01", "LE4"})
    EXPECT_EQ(all.find(value), std::string::npos) << value;
  ASSERT_EQ(d.pupils.size(), 2u);
  EXPECT_EQ(d.pupils[1].surname, "SAMPLE");
}

TEST(ctf, SelectsByUpn) {
  SourceData d = parse_ctf(sample(), Selection{{"Q99988882401A"}, {}});
  EXPECT_EQ(d.source_pupils, 2u);
  ASSERT_EQ(d.pupils.size(), 1u);
  EXPECT_EQ(d.pupils[0].key, "Q99988882401A");
  EXPECT_EQ(d.pupils[0].forename, "JORDAN");
  // The other pupil is not read: neither its medical flag nor its elements.
  EXPECT_TRUE(d.warnings.empty());
  EXPECT_TRUE(d.dropped.empty());
}

// An unknown UPN is the contract's (import_contract_test.cpp); a group is
// refused outright, since a CTF has none.
TEST(ctf, AnyGroupIsAnError) {
  std::string m = message_of([] { parse_ctf(sample(), Selection{{}, {"5"}}); });
  EXPECT_NE(m.find("no registration groups"), std::string::npos) << m;
}

TEST(ctf, MalformedXmlNamesTheLine) {
  std::string m =
      message_of([] { parse_ctf(edited("<Forename>JORDAN</Forename>", "<Forename>JORDAN</Surname>"), {}); });
  EXPECT_EQ(m.rfind("ctf.xml:88: malformed XML (", 0), 0u) << m;
  m = message_of([] { parse_ctf(SourceFile{"t.xml", "<CTfile>\n<Header>\n"}, {}); });
  EXPECT_EQ(m.rfind("t.xml:2: malformed XML", 0), 0u) << m;  // cut short after line 2
  m = message_of([] { parse_ctf(SourceFile{"t.xml", "<CTfile>\n<Header>caf\xC3</Header></CTfile>"}, {}); });
  EXPECT_EQ(m.rfind("t.xml:2: is not valid UTF-8", 0), 0u) << m;
}

TEST(ctf, RefusesAnotherRoot) {
  std::string m = message_of([] {
    parse_ctf(SourceFile{"t.xml", "<?xml version=\"1.0\"?>\n<CTF><Pupil/></CTF>"}, {});
  });
  EXPECT_EQ(m, "t.xml:2: not a Common Transfer File (root element is CTF); give the .xml CTF file the MIS exported");
}

TEST(ctf, OddOrMissingVersionIsAWarning) {
  SourceData d = parse_ctf(edited("<CTFversion>25.0</CTFversion>", "<CTFversion>25.1</CTFversion>"), {});
  EXPECT_EQ(d.format, "CTF");
  EXPECT_EQ(d.pupils.size(), 2u);
  ASSERT_EQ(d.warnings.size(), 2u);
  EXPECT_EQ(d.warnings[0].rfind("ctf.xml:17: the CTFversion 25.1 is not in the NN.0 form", 0), 0u) << d.warnings[0];
  d = parse_ctf(edited("<CTFversion>25.0</CTFversion>", ""), {});
  EXPECT_EQ(d.format, "CTF");
  EXPECT_NE(d.warnings[0].find("no CTFversion"), std::string::npos) << d.warnings[0];
  d = parse_ctf(edited("<CTFversion>25.0</CTFversion>", "<CTFversion>9.0</CTFversion>"), {});
  EXPECT_EQ(d.format, "CTF 9.0");
}

TEST(ctf, IgnoresNamespacePrefixes) {
  SourceFile f{"ns.xml",
               "<c:CTfile xmlns:c=\"urn:example:ctf\"><c:Header><c:CTFversion>24.0</c:CTFversion></c:Header>\n"
               "<c:CTFpupilData><c:Pupil><c:UPN>R999888824001</c:UPN><c:Surname>A</c:Surname>"
               "<c:Forename>B</c:Forename><c:DOB>2015-03-14</c:DOB><c:Sex>F</c:Sex>"
               "<c:BasicDetails><c:NCyearActual>R</c:NCyearActual><c:Ethnicity>WBRI</c:Ethnicity></c:BasicDetails>"
               "<c:Contacts><c:Contact><c:Order>3</c:Order><c:Forename>C</c:Forename><c:Relationship>XYZ"
               "</c:Relationship><c:Phones><c:Phone><c:TelephoneType>Q</c:TelephoneType><c:PhoneNo>+44 20 7946 "
               "0018</c:PhoneNo></c:Phone></c:Phones></c:Contact></c:Contacts></c:Pupil></c:CTFpupilData>"
               "</c:CTfile>"};
  SourceData d = parse_ctf(f, {});
  EXPECT_EQ(d.format, "CTF 24.0");
  ASSERT_EQ(d.pupils.size(), 1u);
  const Pupil& p = d.pupils[0];
  EXPECT_EQ(p.surname, "A");
  EXPECT_EQ(p.year_group, "R");
  EXPECT_EQ(d.dropped, std::set<std::string>{"Ethnicity"});
  ASSERT_EQ(p.contacts.size(), 1u);
  EXPECT_EQ(p.contacts[0].priority, 3);
  EXPECT_EQ(p.contacts[0].name, "C");
  EXPECT_EQ(p.contacts[0].relationship, "XYZ");  // unknown code kept as written
  EXPECT_FALSE(p.contacts[0].parental_responsibility.has_value());
  ASSERT_EQ(p.contacts[0].phones.size(), 1u);
  EXPECT_EQ(p.contacts[0].phones[0].kind, "");
  EXPECT_EQ(p.contacts[0].phones[0].display, "020 7946 0018");
}

TEST(ctf, RefusesBrokenPupils) {
  std::string m = message_of([] { parse_ctf(edited("<UPN>Q99988882401A</UPN>", "<UPN>R999888824001</UPN>"), {}); });
  EXPECT_EQ(m.rfind("ctf.xml:86: element UPN: the UPN R999888824001 is also used on line 35", 0), 0u) << m;
  m = message_of([] { parse_ctf(edited("<UPN>Q99988882401A</UPN>", ""), {}); });
  EXPECT_EQ(m.rfind("ctf.xml:85: a Pupil has no UPN", 0), 0u) << m;
  m = message_of([] { parse_ctf(edited("<Order>2</Order>", "<Order>second</Order>"), {}); });
  EXPECT_NE(m.find("element Order: expected a whole number"), std::string::npos) << m;
  m = message_of([] { parse_ctf(edited("<Gender>M</Gender>", "<Gender>M</Gender><Surname>X</Surname>"), {}); });
  EXPECT_NE(m.find("element Surname: appears twice (also on line 87)"), std::string::npos) << m;
  m = message_of([] { parse_ctf(edited("<Responsibility>false", "<Responsibility>perhaps"), {}); });
  EXPECT_NE(m.find("element Responsibility: expected true or false"), std::string::npos) << m;
}

}  // namespace
}  // namespace coffer::vault
