// vault: the canonical pupil record (phone display, dates, minimise,
// groups_present, display_name) and RecordStore over a real coffer
// database: exact round trips, replacement by key, the import log, and
// all-or-nothing imports (a trigger fails the third insert of a batch).
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <set>
#include <sstream>

#include "coffer/error.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/container/clock.h"
#include "coffer/vault/records/profile.h"
#include "coffer/vault/records/record.h"
#include "coffer/vault/records/records.h"
#include "test_support.h"

namespace coffer::vault {
namespace {

using keystore::KdfCost;
using test::passphrase;

// ---------------------------------------------------------------------------
// display_phone

TEST(DisplayPhone, UkNumbersInTheUsualSpacedForm) {
  EXPECT_EQ(display_phone("07700900123"), "07700 900123");
  EXPECT_EQ(display_phone("07700 900123"), "07700 900123");
  EXPECT_EQ(display_phone("+44 7700 900123"), "07700 900123");
  EXPECT_EQ(display_phone("+447700900123"), "07700 900123");
  EXPECT_EQ(display_phone("0044 7700 900123"), "07700 900123");
  EXPECT_EQ(display_phone("+44 (0)7700 900123"), "07700 900123");
  EXPECT_EQ(display_phone("07700-900-123"), "07700 900123");
  EXPECT_EQ(display_phone("020 7946 0123"), "020 7946 0123");
  EXPECT_EQ(display_phone("02079460123"), "020 7946 0123");
  EXPECT_EQ(display_phone("+44 20 7946 0123"), "020 7946 0123");
  EXPECT_EQ(display_phone("(020) 7946 0123"), "020 7946 0123");
  EXPECT_EQ(display_phone("01632960123"), "01632 960123");
  EXPECT_EQ(display_phone("+44 1632 960123"), "01632 960123");
  EXPECT_EQ(display_phone("0113 496 0000"), "0113 496 0000");
  EXPECT_EQ(display_phone("01134960000"), "0113 496 0000");
  EXPECT_EQ(display_phone("0161 496 0000"), "0161 496 0000");  // 01x1 area codes
  EXPECT_EQ(display_phone("+44 161 496 0000"), "0161 496 0000");
}

TEST(DisplayPhone, AnythingElseUnchanged) {
  for (std::string s : {"+33 1 23 45 67 89", "0033 1 23 45 67 89", "+1 202 555 0143", "call mum", "07700 900123 ext 4",
                        "0770090012", "077009001234", "17700900123", "", "+", "+44", "0044", "999", "07700 9OO123",
                        "07700/900123", "+44 7700 900123 (work)"})
    EXPECT_EQ(display_phone(s), s) << s;
  // A '+' after digits is not an international prefix.
  EXPECT_EQ(display_phone("0+7700900123"), "0+7700900123");
}

// ---------------------------------------------------------------------------
// parse_date / format_date

std::optional<Date> iso(std::string_view s) { return parse_date(s); }
std::optional<Date> uk(std::string_view s) { return parse_date(s, true); }

TEST(ParseDate, BothForms) {
  EXPECT_EQ(iso("2015-03-14"), (Date{2015, 3, 14}));
  EXPECT_EQ(uk("14/03/2015"), (Date{2015, 3, 14}));
  EXPECT_EQ(iso("1900-01-01"), (Date{1900, 1, 1}));
  EXPECT_EQ(iso("2015-12-31"), (Date{2015, 12, 31}));
  EXPECT_EQ(uk("31/12/2015"), (Date{2015, 12, 31}));
  // Each form only when asked for.
  EXPECT_FALSE(iso("14/03/2015"));
  EXPECT_FALSE(uk("2015-03-14"));
  EXPECT_EQ(format_date(Date{2015, 3, 4}), "2015-03-04");
  EXPECT_EQ(format_date(*iso("2012-02-29")), "2012-02-29");
  EXPECT_EQ(format_date(Date{987, 1, 2}), "0987-01-02");
}

TEST(ParseDate, ImpossibleDates) {
  for (auto s : {"2015-02-30", "2015-02-29", "2015-04-31", "2015-06-31", "2015-09-31", "2015-11-31", "2015-13-01",
                 "2015-00-10", "2015-01-00", "2015-01-32", "2015-99-99", "0000-01-01", "1899-12-31"})
    EXPECT_FALSE(iso(s)) << s;
  for (auto s : {"30/02/2015", "31/04/2015", "01/13/2015", "00/01/2015", "32/01/2015", "12/00/2015"})
    EXPECT_FALSE(uk(s)) << s;
  EXPECT_TRUE(iso("2015-01-31"));
  EXPECT_TRUE(iso("2015-04-30"));
}

TEST(ParseDate, LeapYears) {
  EXPECT_EQ(iso("2012-02-29"), (Date{2012, 2, 29}));
  EXPECT_EQ(iso("2016-02-29"), (Date{2016, 2, 29}));
  EXPECT_EQ(iso("2000-02-29"), (Date{2000, 2, 29}));  // divisible by 400
  EXPECT_FALSE(iso("1900-02-29"));                    // by 100, not 400
  EXPECT_FALSE(iso("2100-02-29"));
  EXPECT_FALSE(iso("2013-02-29"));
  EXPECT_EQ(uk("29/02/2012"), (Date{2012, 2, 29}));
  EXPECT_FALSE(uk("29/02/2013"));
  EXPECT_FALSE(uk("29/02/1900"));
}

TEST(ParseDate, WrongShapes) {
  for (auto s : {"", "2015-3-14", "2015-03-4", "15-03-14", "2015/03/14", " 2015-03-14", "2015-03-14 ", "2015-03-14T00",
                 "+015-03-14", "2015-+3-14", "2015-03-1a", "20150314", "2015--3-14", "２０１５-03-14"})
    EXPECT_FALSE(iso(s)) << s;
  for (auto s :
       {"", "14-03-2015", "14/03/15", "14/03/20155", "1a/03/2015", "14.03.2015", "1/3/15", "014/03/2015", "14/003/2015",
        "/3/2015", "1//2015", "1/3/", " 1/3/2015", "1/3/2015 ", "1/ 3/2015", "+1/3/2015", "1/3/2015/", "1/3/-015"})
    EXPECT_FALSE(uk(s)) << s;
}

// Excel writes UK dates without leading zeros ("1/1/2005"): accepted in
// DD/MM/YYYY mode, still checked (31/4 is no date); ISO stays strict.
TEST(ParseDate, UkDatesWithoutLeadingZeros) {
  EXPECT_EQ(uk("1/1/2005"), (Date{2005, 1, 1}));
  EXPECT_EQ(uk("1/3/2015"), (Date{2015, 3, 1}));
  EXPECT_EQ(uk("14/3/2015"), (Date{2015, 3, 14}));
  EXPECT_EQ(uk("7/12/2015"), (Date{2015, 12, 7}));
  EXPECT_EQ(uk("29/2/2012"), (Date{2012, 2, 29}));
  EXPECT_FALSE(uk("29/2/2013"));
  EXPECT_FALSE(uk("31/4/2015"));
  EXPECT_FALSE(uk("3/14/2015"));  // US order: there is no month 14
  EXPECT_FALSE(uk("0/1/2015"));
  EXPECT_FALSE(iso("2015-3-1"));
}

// ---------------------------------------------------------------------------
// Pupil helpers

Pupil full_pupil(const std::string& key = "K-001") {
  Pupil p;
  p.key = key;
  p.upn = "G999888814001";
  p.surname = "Ashdown";
  p.forename = "Amelia";
  p.preferred_surname = "Ash";
  p.preferred_forename = "Millie";
  p.dob = Date{2012, 2, 29};
  p.sex = "F";
  p.year_group = "9";
  p.reg_group = "9A";
  p.classes = {"9A/Ma1", "9A/En2", "9A/Fr1"};
  Contact mum;
  mum.priority = 1;
  mum.name = "Mrs Claire Ashdown";
  mum.relationship = "Mother";
  mum.parental_responsibility = true;
  mum.phones = {{"mobile", "+44 7700 900001", "07700 900001"},
                {"home", "01632960001", "01632 960001"},
                {"work", "020 7946 0001", "020 7946 0001"}};
  Contact gran;
  gran.priority = 2;
  gran.name = "Ana Núñez";
  gran.relationship = "Grandparent";
  gran.parental_responsibility = std::nullopt;  // unknown, e.g. OneRoster
  gran.ranked = false;
  gran.phones = {{"", "+33 1 23 45 67 89", "+33 1 23 45 67 89"}};
  Contact dad;
  dad.priority = 3;
  dad.name = "Mr David Ashdown";
  dad.relationship = "Father";
  dad.parental_responsibility = false;
  dad.do_not_release = true;
  dad.phones = {{"mobile", "07700 900002", "07700 900002"}};
  p.contacts = {mum, gran, dad};
  p.conditions = {"Asthma - uses blue inhaler", "Eczema"};
  p.allergies = {{"peanuts", "anaphylaxis"}, {"sesame", ""}, {"kiwi fruit", "mild"}};
  p.medication = {{"Adrenaline auto-injector x2", "self"}, {"Salbutamol inhaler", "staff"}, {"Cream", ""}};
  p.care_plan = "IHP on file: see school office";
  p.emergency_consent = "yes";
  p.dietary = {"no nuts", "halal"};
  p.swimming = "25m";
  p.activity_notes = {"travel sickness", "fear of heights"};
  p.support_note = "needs a \"time out\" card,\nand a quiet space";
  p.photo = "photos/K-001.jpg";
  p.expires = Date{2027, 1, 31};
  return p;
}

// Every field, one per line, so a failing comparison shows which differs.
std::string dump(const Pupil& p) {
  std::ostringstream o;
  auto opt_date = [](const std::optional<Date>& d) { return d ? format_date(*d) : std::string("(none)"); };
  o << "key=" << p.key << "\nupn=" << p.upn << "\nsurname=" << p.surname << "\nforename=" << p.forename
    << "\npreferred=" << p.preferred_surname << "/" << p.preferred_forename << "\ndob=" << opt_date(p.dob)
    << "\nsex=" << p.sex << "\nyear=" << p.year_group << "\nreg=" << p.reg_group << "\n";
  for (auto& c : p.classes) o << "class=" << c << "\n";
  for (auto& c : p.contacts) {
    o << "contact=" << c.priority << "|" << c.name << "|" << c.relationship << "|"
      << (c.parental_responsibility ? (*c.parental_responsibility ? "PR" : "no PR") : "PR unknown") << "|"
      << (c.ranked ? "ranked" : "unranked") << "|" << (c.do_not_release ? "DNR" : "release") << "\n";
    for (auto& ph : c.phones) o << "  phone=" << ph.kind << "|" << ph.number << "|" << ph.display << "\n";
  }
  for (auto& c : p.conditions) o << "condition=" << c << "\n";
  for (auto& a : p.allergies) o << "allergy=" << a.what << "|" << a.severity << "\n";
  for (auto& m : p.medication) o << "medication=" << m.what << "|" << m.administered_by << "\n";
  o << "care_plan=" << p.care_plan << "\nconsent=" << p.emergency_consent << "\n";
  for (auto& d : p.dietary) o << "dietary=" << d << "\n";
  o << "swimming=" << p.swimming << "\n";
  for (auto& a : p.activity_notes) o << "activity=" << a << "\n";
  o << "support=" << p.support_note << "\nphoto=" << p.photo << "\nexpires=" << opt_date(p.expires) << "\n";
  return o.str();
}

TEST(Record, DisplayName) {
  Pupil p;
  p.surname = "Ashdown";
  p.forename = "Amelia";
  EXPECT_EQ(p.display_name(), "Ashdown, Amelia");
  p.preferred_forename = "Millie";
  EXPECT_EQ(p.display_name(), "Ashdown, Millie");
  p.preferred_surname = "Ash";
  EXPECT_EQ(p.display_name(), "Ash, Millie");
  Pupil only_surname;
  only_surname.surname = "Cher";
  EXPECT_EQ(only_surname.display_name(), "Cher");
  Pupil only_forename;
  only_forename.forename = "Madonna";
  EXPECT_EQ(only_forename.display_name(), "Madonna");
  EXPECT_EQ(Pupil{}.display_name(), "");
}

TEST(Record, GroupsPresent) {
  EXPECT_TRUE(groups_present(Pupil{}).empty());
  std::vector<std::string> all = {
      "names", "preferred_names",    "year_group", "reg_group", "classes",        "upn",         "dob", "sex",
      "photo", "emergency_contacts", "medical",    "dietary",   "activity_notes", "support_note"};
  EXPECT_EQ(groups_present(full_pupil()), all);
  // Each medical field alone makes the group present.
  Pupil p;
  p.emergency_consent = "no";
  EXPECT_EQ(groups_present(p), std::vector<std::string>{"medical"});
  p = Pupil{};
  p.care_plan = "x";
  EXPECT_EQ(groups_present(p), std::vector<std::string>{"medical"});
  p = Pupil{};
  p.swimming = "25m";
  EXPECT_EQ(groups_present(p), std::vector<std::string>{"activity_notes"});
  // Every group named is a known one.
  for (auto& g : all) {
    EXPECT_NE(find_field_group(g), nullptr) << g;
    EXPECT_TRUE(known_fields().count(g)) << g;
  }
}

TEST(Record, FieldGroupsMarkSpecialCategory) {
  for (auto g : {"medical", "dietary", "support_note"}) {
    ASSERT_NE(find_field_group(g), nullptr);
    EXPECT_TRUE(find_field_group(g)->special_category) << g;
    EXPECT_EQ(find_field_group(g)->tier, Tier::kS2) << g;
  }
  for (auto g : {"names", "dob", "emergency_contacts", "reg_group"})
    EXPECT_FALSE(find_field_group(g)->special_category);
  EXPECT_EQ(find_field_group("ethnicity"), nullptr);
  for (auto& g : field_groups()) EXPECT_TRUE(known_fields().count(std::string(g.name))) << g.name;
}

TEST(Record, MinimiseKeepsOnlyAllowedGroups) {
  Pupil p = full_pupil();
  minimise(p, {"names"});
  EXPECT_EQ(groups_present(p), std::vector<std::string>{"names"});
  EXPECT_EQ(p.key, "K-001");  // the key always stays
  EXPECT_EQ(p.surname, "Ashdown");
  EXPECT_EQ(p.forename, "Amelia");
  EXPECT_TRUE(p.expires.has_value());  // not a field group: the record's own expiry

  // Legal names are kept even by a profile that does not list them.
  p = full_pupil();
  minimise(p, {});
  EXPECT_EQ(groups_present(p), std::vector<std::string>{"names"});

  // Everything allowed: nothing changes.
  p = full_pupil();
  std::vector<std::string> all(known_fields().begin(), known_fields().end());
  minimise(p, all);
  EXPECT_EQ(dump(p), dump(full_pupil()));

  // Each group alone, and what it clears.
  for (auto& g : groups_present(full_pupil())) {
    p = full_pupil();
    minimise(p, {g});
    auto left = groups_present(p);
    std::vector<std::string> want = {"names"};
    if (g != "names") want.push_back(g);
    std::sort(left.begin(), left.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(left, want) << g;
  }
  p = full_pupil();
  minimise(p, {"names", "medical"});
  EXPECT_TRUE(p.contacts.empty() && !p.dob && p.upn.empty() && p.sex.empty() && p.photo.empty());
  EXPECT_TRUE(p.dietary.empty() && p.swimming.empty() && p.activity_notes.empty() && p.support_note.empty());
  EXPECT_TRUE(p.preferred_forename.empty() && p.preferred_surname.empty() && p.classes.empty());
  EXPECT_EQ(p.allergies.size(), 3u);
  EXPECT_EQ(p.emergency_consent, "yes");
}

// ---------------------------------------------------------------------------
// RecordStore over a real coffer

constexpr std::int64_t kNow = 1795000000;  // 2026-11-18

class RecordStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CreateParams p;
    p.profile = "trip";
    p.owner = "Ms Smith";
    p.expires = kNow + 3650 * 86400;  // far off: these tests are not about expiry
    p.kdf_cost = KdfCost::kTest;
    p.profile_fields.assign(known_fields().begin(), known_fields().end());
    path_ = dir_ / "t.coffer";
    Coffer::create(path_, p, passphrase("pw"), keystore::system_random(), clock_);
    open();
  }
  void open() { coffer_.emplace(Coffer::unlock(path_, passphrase("pw"), keystore::system_random())); }
  void reopen() {
    coffer_.reset();
    open();
  }
  Database& db() { return coffer_->database(); }
  RecordStore store() { return RecordStore(db()); }
  ImportLogEntry log(const std::string& source = "pupils.csv") {
    ImportLogEntry e;
    e.at = kNow;
    e.by = "msmith";
    e.format = "coffer-csv";
    e.source = source;
    return e;
  }
  std::int64_t id_of(const std::string& key) {
    for (auto& e : store().list())
      if (e.key == key) return e.id;
    ADD_FAILURE() << "no pupil " << key;
    return -1;
  }
  std::int64_t rows(const std::string& table) { return db().query_int64("SELECT count(*) FROM " + table); }

  test::TempDir dir_;
  test::FixedClock clock_{kNow};
  std::filesystem::path path_;
  std::optional<Coffer> coffer_;
};

Pupil named(const std::string& key, const std::string& surname, const std::string& forename) {
  Pupil p;
  p.key = key;
  p.surname = surname;
  p.forename = forename;
  return p;
}

TEST_F(RecordStoreTest, FullPupilRoundTripsExactly) {
  Pupil p = full_pupil();
  store().import({p}, log());
  EXPECT_EQ(store().count(), 1);
  auto back = store().load(id_of("K-001"));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(dump(*back), dump(p));
  // And after closing and unlocking again (committed, not just cached).
  reopen();
  back = store().load(id_of("K-001"));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(dump(*back), dump(p));
}

TEST_F(RecordStoreTest, SparsePupilRoundTripsExactly) {
  Pupil p = named("K-2", "Smith", "Ann");
  Contact c;
  c.priority = 1;
  c.name = "Mum";
  c.parental_responsibility = std::nullopt;
  p.contacts = {c};  // no phones
  p.emergency_consent = "no";
  store().import({p}, log());
  auto back = store().load(id_of("K-2"));
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->dob.has_value());
  EXPECT_FALSE(back->expires.has_value());
  ASSERT_EQ(back->contacts.size(), 1u);
  EXPECT_FALSE(back->contacts[0].parental_responsibility.has_value());
  EXPECT_TRUE(back->contacts[0].phones.empty());
  EXPECT_EQ(dump(*back), dump(p));
}

TEST_F(RecordStoreTest, ContactsComeBackInPriorityOrderWithTiesInFileOrder) {
  Pupil p = named("K-3", "Smith", "Ann");
  for (auto [prio, name] : {std::pair{2, "Second A"}, {1, "First"}, {2, "Second B"}, {2, "Second C"}}) {
    Contact c;
    c.priority = prio;
    c.name = name;
    c.ranked = false;
    p.contacts.push_back(c);
  }
  store().import({p}, log());
  auto back = store().load(id_of("K-3"));
  ASSERT_EQ(back->contacts.size(), 4u);
  EXPECT_EQ(back->contacts[0].name, "First");
  EXPECT_EQ(back->contacts[1].name, "Second A");
  EXPECT_EQ(back->contacts[2].name, "Second B");
  EXPECT_EQ(back->contacts[3].name, "Second C");
}

TEST_F(RecordStoreTest, ListIsSortedByDisplayNameThenKey) {
  Pupil a = named("K3", "Zed", "Amy");
  Pupil b = named("K2", "Brown", "Cal");
  Pupil c = named("K1", "Brown", "Cal");
  Pupil d = named("K4", "Young", "Robert");
  d.preferred_surname = "Able";  // listed by preferred name
  d.preferred_forename = "Bob";
  store().import({a, b, c, d}, log());
  auto list = store().list();
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[0].key, "K4");
  EXPECT_EQ(list[0].display_name, "Able, Bob");
  EXPECT_EQ(list[1].key, "K1");
  EXPECT_EQ(list[2].key, "K2");
  EXPECT_EQ(list[3].key, "K3");
  EXPECT_EQ(list[3].display_name, "Zed, Amy");
  // load_all follows list order.
  auto all = store().load_all();
  ASSERT_EQ(all.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(all[i].key, list[i].key);
  EXPECT_FALSE(store().load(99999).has_value());
}

TEST_F(RecordStoreTest, ReimportOfTheSameKeyReplaces) {
  store().import({full_pupil("K1"), named("K2", "Other", "Pupil")}, log());
  EXPECT_EQ(store().count(), 2);
  Pupil newer = named("K1", "Ashdown", "Amelia");
  newer.allergies = {{"egg", "severe"}};
  Contact c;
  c.priority = 1;
  c.name = "New Carer";
  c.phones = {{"mobile", "07700 900099", "07700 900099"}};
  newer.contacts = {c};
  store().import({newer}, log("second.csv"));
  EXPECT_EQ(store().count(), 2);
  auto back = store().load(id_of("K1"));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(dump(*back), dump(newer));
  // Nothing of the old record is left behind anywhere.
  EXPECT_EQ(rows("contacts"), 1);
  EXPECT_EQ(rows("contact_phones"), 1);
  EXPECT_EQ(rows("pupil_items"), 1);
  EXPECT_TRUE(store().load(id_of("K2")).has_value());

  // A key twice in one batch: the last one wins.
  store().import({named("K5", "First", "Version"), named("K5", "Second", "Version")}, log());
  EXPECT_EQ(store().count(), 3);
  EXPECT_EQ(store().load(id_of("K5"))->surname, "Second");
}

TEST_F(RecordStoreTest, ImportLogRoundTrips) {
  EXPECT_TRUE(store().imports().empty());
  ImportLogEntry e = log("/media/usb/export");
  e.pupils = 999;  // the store counts the pupils itself
  e.dropped = {"Ethnicity", "FSMeligible", "SENProvision"};
  e.not_in_profile = {"medical", "dob"};
  e.unmapped = {"Notes"};
  store().import({named("K1", "A", "B"), named("K2", "C", "D")}, e);
  ImportLogEntry second = log("pupils.csv");
  second.at = kNow + 60;
  second.by = "";
  second.format = "OneRoster 1.1";
  store().import({}, second);

  reopen();
  auto logs = store().imports();
  ASSERT_EQ(logs.size(), 2u);
  EXPECT_EQ(logs[0].at, kNow);
  EXPECT_EQ(logs[0].by, "msmith");
  EXPECT_EQ(logs[0].format, "coffer-csv");
  EXPECT_EQ(logs[0].source, "/media/usb/export");
  EXPECT_EQ(logs[0].pupils, 2);
  EXPECT_EQ(logs[0].dropped, e.dropped);
  EXPECT_EQ(logs[0].not_in_profile, e.not_in_profile);
  EXPECT_EQ(logs[0].unmapped, e.unmapped);
  EXPECT_EQ(logs[1].at, kNow + 60);
  EXPECT_EQ(logs[1].by, "");
  EXPECT_EQ(logs[1].format, "OneRoster 1.1");
  EXPECT_EQ(logs[1].pupils, 0);
  EXPECT_TRUE(logs[1].dropped.empty() && logs[1].not_in_profile.empty() && logs[1].unmapped.empty());
}

// BUG (vault/src/records.cpp, join_set/split_set): the log stores each set
// joined with '\n', so a dropped column name that contains a newline (a
// quoted CSV header such as "Ethnic\ngroup", which the deny-list matches and
// the importer drops) comes back as two names, "Ethnic" and "group", in
// imports() and so in the manifest. Expected the one name back.
TEST_F(RecordStoreTest, ImportLogKeepsColumnNamesWithNewlines) {
  ImportLogEntry e = log();
  e.dropped = {"Ethnic\ngroup", "FSM"};
  store().import({named("K1", "A", "B")}, e);
  auto logs = store().imports();
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0].dropped, e.dropped);
}

// An exception in the middle of a batch leaves nothing of it: not the
// pupils before the failure, not the replacement of an existing one, not
// the log entry. A TEMP trigger fails the third insert for real inside
// SQLite (RAISE(ABORT)).
TEST_F(RecordStoreTest, FailureMidBatchLeavesNothing) {
  Pupil original = full_pupil("K1");
  store().import({original, named("K2", "Keep", "Me")}, log());
  const auto pupils_before = rows("pupils"), items_before = rows("pupil_items"), contacts_before = rows("contacts"),
             phones_before = rows("contact_phones");
  ASSERT_EQ(pupils_before, 2);

  db().exec(
      "CREATE TEMP TRIGGER fail_third BEFORE INSERT ON main.pupils WHEN NEW.source_key = 'K-FAIL'"
      " BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  Pupil replacement = named("K1", "Replaced", "Wrongly");  // first: replaces K1
  Pupil extra = full_pupil("K3");                          // second: a new pupil with items and contacts
  Pupil failing = named("K-FAIL", "Fails", "Here");        // third: the trigger aborts it
  EXPECT_THROW(store().import({replacement, extra, failing}, log("bad.csv")), Error);

  EXPECT_EQ(store().count(), 2);
  EXPECT_EQ(rows("pupil_items"), items_before);
  EXPECT_EQ(rows("contacts"), contacts_before);
  EXPECT_EQ(rows("contact_phones"), phones_before);
  EXPECT_EQ(store().imports().size(), 1u);
  EXPECT_FALSE(db().in_transaction());
  auto k1 = store().load(id_of("K1"));
  ASSERT_TRUE(k1.has_value());
  EXPECT_EQ(dump(*k1), dump(original));

  // The store still works afterwards, and what it commits is durable (a
  // savepoint left open would lose this import at close).
  db().exec("DROP TRIGGER temp.fail_third");
  store().import({named("K4", "After", "Failure")}, log("good.csv"));
  reopen();
  EXPECT_EQ(store().count(), 3);
  EXPECT_EQ(store().imports().size(), 2u);
  EXPECT_EQ(dump(*store().load(id_of("K1"))), dump(original));
  for (auto& e : store().list()) EXPECT_NE(e.key, "K3");
}

TEST_F(RecordStoreTest, FailureInAContactRowAlsoRollsBack) {
  store().import({named("K1", "A", "B")}, log());
  db().exec(
      "CREATE TEMP TRIGGER fail_phone BEFORE INSERT ON main.contact_phones WHEN NEW.number = 'boom'"
      " BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  Pupil p = full_pupil("K2");
  p.contacts.back().phones.push_back({"home", "boom", "boom"});
  EXPECT_THROW(store().import({named("K0", "C", "D"), p}, log()), Error);
  EXPECT_EQ(store().count(), 1);
  EXPECT_EQ(rows("pupil_items"), 0);
  EXPECT_EQ(rows("contacts"), 0);
  EXPECT_EQ(store().imports().size(), 1u);
}

TEST_F(RecordStoreTest, PurgeExpiredRemovesOnlyRecordsPastTheirDayWithTheirItems) {
  // A record may be kept through its expiry day, not after it.
  auto day = [](std::int64_t t) { return *parse_date(local_day(t)); };
  Pupil gone = named("P1", "Adams", "Ada");
  gone.expires = day(kNow - 86400);
  gone.allergies = {{"Peanuts", "anaphylaxis"}};
  Pupil today = named("P2", "Brown", "Bo");
  today.expires = day(kNow);
  Pupil later = named("P3", "Cole", "Cy");
  later.expires = day(kNow + 86400);
  Pupil open_ended = named("P4", "Dunn", "Di");  // the coffer's own expiry
  store().import({gone, today, later, open_ended}, log());
  ASSERT_EQ(rows("pupil_items"), 1);

  EXPECT_EQ(store().purge_expired(kNow), 1u);
  std::set<std::string> left;
  for (auto& e : store().list()) left.insert(e.key);
  EXPECT_EQ(left, (std::set<std::string>{"P2", "P3", "P4"}));
  EXPECT_EQ(rows("pupil_items"), 0);  // the allergy went with its pupil
  EXPECT_EQ(store().purge_expired(kNow), 0u);
  // A day later the record whose last day was today goes too.
  EXPECT_EQ(store().purge_expired(kNow + 86400), 1u);
  EXPECT_EQ(store().count(), 2);
}

}  // namespace
}  // namespace coffer::vault
