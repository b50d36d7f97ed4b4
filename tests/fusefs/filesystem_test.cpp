// fusefs: the filesystem operations in-process (no kernel): the generated
// top level and record views (matching the database, read-only, gone when a
// pupil is removed), ownership, setgid inheritance, device-node refusal,
// lookup counts keeping unlinked files alive, and refusal after lock.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "coffer/fusefs/daemon.h"
#include "coffer/fusefs/filesystem.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/container/meta.h"
#include "coffer/vault/records/manifest.h"
#include "coffer/vault/records/records.h"
#include "coffer/vault/records/views.h"
#include "test_support.h"

namespace coffer::fusefs {
namespace {

using vault::FsError;
using vault::kFilesRootIno;

constexpr std::uint32_t kUid = 1000, kGid = 1000;

vault::Pupil make_pupil(std::string key, std::string surname, std::string forename, std::string reg) {
  vault::Pupil p;
  p.key = std::move(key);
  p.surname = std::move(surname);
  p.forename = std::move(forename);
  p.reg_group = std::move(reg);
  p.year_group = "7";
  return p;
}

std::vector<vault::Pupil> sample_pupils() {
  vault::Pupil a = make_pupil("P1", "Adams", "Ada", "7A");
  a.allergies = {{"Peanuts", "anaphylaxis"}};
  a.medication = {{"Adrenaline auto-injector", "self"}};
  a.contacts = {{1, "Alan Adams", "father", true, true, false, {{"mobile", "07700900123", "07700 900123"}}}};
  vault::Pupil b = make_pupil("P2", "O'Brien, Jr", "Bea \"B\"", "7A");  // quoted in the CSV
  b.dietary = {"vegetarian"};
  vault::Pupil c = make_pupil("P3", "Cole/Smith", "Cy", "7B");  // '/' is not a path separator
  c.conditions = {"asthma"};
  vault::Pupil d = make_pupil("P4", "=cmd", "Dee", "7B");  // a formula-looking cell
  return {a, b, c, d};
}

std::string read_all(Filesystem& fs, std::uint64_t ino, std::size_t step = 1 << 16) {
  std::string out;
  std::vector<std::uint8_t> buf(step);
  for (;;) {
    std::size_t n = fs.read(ino, out.size(), buf);
    if (n == 0) return out;
    out.append(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  }
}

std::vector<std::string> names_in(Filesystem& fs, std::uint64_t dir, std::size_t page = 1000) {
  std::vector<std::string> out;
  std::uint64_t cookie = 0;
  for (;;) {
    auto entries = fs.readdir(dir, cookie, page);
    if (entries.empty()) return out;
    for (auto& e : entries) {
      if (e.name != "." && e.name != "..") out.push_back(e.name);
      cookie = e.next_cookie;
    }
  }
}

class FilesystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vault::CreateParams p = test::CreateParamsBuilder().expires(1795000000 + 3650 * 86400).build();
    p.profile_fields = {"names", "year_group", "reg_group", "medical", "emergency_contacts", "dietary"};
    auto path = dir_ / "f.coffer";
    vault::Coffer::create(path, p, test::passphrase("pw"), keystore::system_random(), clock_);
    coffer_.emplace(vault::Coffer::unlock(path, test::passphrase("pw"), keystore::system_random()));
    vault::RecordStore(db()).import(sample_pupils(), {1795000000, "it-admin", "coffer-csv", "export", 4, {}, {}, {}});
    store_.emplace(coffer_->database(), coffer_->chunk_mac_key(), clock_);
    MountInfo info{kUid, kGid, false, readme_text(coffer_->header(), std::chrono::seconds(900)), "f.coffer"};
    fs_.emplace(*store_, db(), info);
  }
  vault::Database& db() { return coffer_->database(); }
  std::vector<std::string> fields() {
    return vault::split_fields(vault::get_meta(db(), "profile_fields").value_or(""));
  }
  // The pupil's folder, looked up through pupils/ by its name.
  vault::Inode folder_of(const std::string& key) {
    for (auto& e : vault::RecordStore(db()).list())
      if (e.key == key) return fs_->lookup(kPupilsIno, vault::pupil_folder_name(e));
    ADD_FAILURE() << "no pupil " << key;
    return {};
  }
  Caller me_{kUid, kGid, 1};
  test::TempDir dir_;
  test::FixedClock clock_{1795000000};
  std::optional<vault::Coffer> coffer_;
  std::optional<vault::FileStore> store_;
  std::optional<Filesystem> fs_;
};

TEST_F(FilesystemTest, OpenWithTruncateEmptiesTheFile) {
  // The kernel leaves O_TRUNC to us (atomic_o_trunc): saving a shorter
  // version must not keep the old tail.
  vault::Inode f = fs_->create(me_, kFilesRootIno, "doc.txt", 0600);
  std::string old(100, 'x');
  fs_->write(f.ino, 0, {reinterpret_cast<const std::uint8_t*>(old.data()), old.size()});
  fs_->release(f.ino);
  fs_->open(f.ino, O_WRONLY | O_TRUNC, me_);
  EXPECT_EQ(fs_->getattr(f.ino).size, 0u);
  std::string shorter(10, 'y');
  fs_->write(f.ino, 0, {reinterpret_cast<const std::uint8_t*>(shorter.data()), shorter.size()});
  fs_->release(f.ino);
  EXPECT_EQ(fs_->getattr(f.ino).size, 10u);
  std::vector<std::uint8_t> buf(200);
  ASSERT_EQ(fs_->read(f.ino, 0, buf), 10u);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + 10), shorter);
  // Without O_TRUNC an open changes nothing.
  fs_->open(f.ino, O_WRONLY, me_);
  fs_->release(f.ino);
  EXPECT_EQ(fs_->getattr(f.ino).size, 10u);
}

TEST_F(FilesystemTest, TopLevelIsGeneratedAndReadOnly) {
  auto entries = fs_->readdir(kRootIno, 0, 10);
  std::vector<std::string> names;
  names.reserve(entries.size());
  for (auto& e : entries) names.push_back(e.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{".", "..", "README.txt", "roster.csv", "manifest.txt", "pupils", "files"}));
  // Resuming after any entry continues with the next one.
  for (std::size_t i = 0; i + 1 < entries.size(); ++i) {
    auto rest = fs_->readdir(kRootIno, entries[i].next_cookie, 1);
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_EQ(rest[0].name, entries[i + 1].name);
  }
  EXPECT_TRUE(fs_->readdir(kRootIno, entries.back().next_cookie, 10).empty());
  EXPECT_EQ(fs_->getattr(kRootIno).nlink, 4u);
  vault::Inode readme = fs_->lookup(kRootIno, "README.txt");
  EXPECT_EQ(readme.mode, S_IFREG | 0400u);
  std::vector<std::uint8_t> buf(readme.size);
  fs_->open(readme.ino, O_RDONLY);
  ASSERT_EQ(fs_->read(readme.ino, 0, buf), readme.size);
  std::string text(buf.begin(), buf.end());
  EXPECT_NE(text.find("Ms Smith"), std::string::npos);
  EXPECT_NE(text.find("lost or stolen"), std::string::npos);
  EXPECT_EQ(test::errc_of([&] { fs_->open(readme.ino, O_WRONLY); }), std::errc::permission_denied);
  EXPECT_EQ(test::errc_of([&] { fs_->mkdir(me_, kRootIno, "x", 0755); }), std::errc::permission_denied);
  EXPECT_EQ(test::errc_of([&] { fs_->create(me_, kRootIno, "x", 0644); }), std::errc::permission_denied);
  vault::Inode files = fs_->lookup(kRootIno, "files");
  EXPECT_EQ(files.uid, kUid);  // stored as "the mounter", shown as the mounting user
  EXPECT_TRUE(S_ISDIR(files.mode));
}

TEST_F(FilesystemTest, ViewsAreTheMountersReadOnlyNodes) {
  for (const char* name : {"roster.csv", "manifest.txt"}) {
    vault::Inode i = fs_->lookup(kRootIno, name);
    EXPECT_EQ(i.mode, S_IFREG | 0400u) << name;
    EXPECT_EQ(i.uid, kUid);
    EXPECT_EQ(i.gid, kGid);
    EXPECT_EQ(i.nlink, 1u);
    EXPECT_TRUE(is_record_view(i.ino));
    EXPECT_EQ(fs_->getattr(i.ino).size, i.size);
  }
  vault::Inode pupils = fs_->lookup(kRootIno, "pupils");
  EXPECT_EQ(pupils.ino, kPupilsIno);
  EXPECT_EQ(pupils.mode, S_IFDIR | 0500u);
  EXPECT_EQ(pupils.uid, kUid);
  EXPECT_EQ(pupils.nlink, 2u + 4u);
  vault::Inode folder = folder_of("P1");
  EXPECT_EQ(folder.mode, S_IFDIR | 0500u);
  EXPECT_EQ(folder.uid, kUid);
  EXPECT_EQ(fs_->getattr(folder.ino).mode, S_IFDIR | 0500u);
  vault::Inode profile = fs_->lookup(folder.ino, "profile.txt");
  EXPECT_EQ(profile.mode, S_IFREG | 0400u);
  EXPECT_EQ(profile.uid, kUid);
  EXPECT_EQ(profile.ino, folder.ino + 1);
  EXPECT_TRUE(is_record_view(profile.ino));
  EXPECT_FALSE(is_record_view(kReadmeIno));  // static: the kernel may cache it
  EXPECT_NO_THROW(fs_->opendir(kPupilsIno));
  EXPECT_NO_THROW(fs_->opendir(folder.ino));
  EXPECT_EQ(test::errc_of([&] { fs_->opendir(profile.ino); }), std::errc::not_a_directory);
  EXPECT_EQ(test::errc_of([&] { fs_->opendir(kRosterIno); }), std::errc::not_a_directory);
  EXPECT_EQ(test::errc_of([&] { fs_->lookup(kRosterIno, "x"); }), std::errc::not_a_directory);
  EXPECT_EQ(test::errc_of([&] { fs_->lookup(kRootIno, "pupil"); }), std::errc::no_such_file_or_directory);
  EXPECT_EQ(test::errc_of([&] { fs_->lookup(folder.ino, "other.txt"); }), std::errc::no_such_file_or_directory);
  EXPECT_EQ(test::errc_of([&] { fs_->getattr(kVirtualBase + 99); }), std::errc::no_such_file_or_directory);
  EXPECT_EQ(test::errc_of([&] { fs_->open(kVirtualBase + 99, O_RDONLY); }), std::errc::no_such_file_or_directory);
}

TEST_F(FilesystemTest, RosterIsRenderedFromTheRecordsByteForByte) {
  const std::string want = vault::roster_csv(vault::RecordStore(db()).load_all(), fields());
  ASSERT_NE(want.find("Peanuts"), std::string::npos);
  vault::Inode roster = fs_->lookup(kRootIno, "roster.csv");
  EXPECT_EQ(roster.ino, kRosterIno);
  EXPECT_EQ(roster.size, want.size());
  fs_->open(roster.ino, O_RDONLY);
  EXPECT_EQ(read_all(*fs_, roster.ino), want);
  EXPECT_EQ(read_all(*fs_, roster.ino, 7), want);  // many small reads at offsets
  std::vector<std::uint8_t> buf(10);
  ASSERT_EQ(fs_->read(roster.ino, 5, buf), 10u);
  EXPECT_EQ(std::string(buf.begin(), buf.end()), want.substr(5, 10));
  ASSERT_EQ(fs_->read(roster.ino, want.size() - 3, buf), 3u);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + 3), want.substr(want.size() - 3));
  EXPECT_EQ(fs_->read(roster.ino, want.size(), buf), 0u);
  EXPECT_EQ(fs_->read(roster.ino, want.size() + 1000, buf), 0u);
  fs_->release(roster.ino);
  // Header + one row per pupil (CRLF rows; no name here spans lines).
  EXPECT_EQ(std::count(want.begin(), want.end(), '\n'), 5);
  EXPECT_FALSE(store_->dirty());  // reading a view writes nothing
}

TEST_F(FilesystemTest, ManifestIsRenderedFromTheDatabase) {
  const std::string want = vault::manifest_text(vault::read_manifest(db(), "f.coffer"));
  vault::Inode m = fs_->lookup(kRootIno, "manifest.txt");
  EXPECT_EQ(m.size, want.size());
  fs_->open(m.ino, O_RDONLY);
  std::string got = read_all(*fs_, m.ino, 100);
  EXPECT_EQ(got, want);
  for (const char* key : {"P1", "P2", "P3", "P4"}) EXPECT_NE(got.find(key), std::string::npos) << key;
  EXPECT_NE(got.find("f.coffer"), std::string::npos);
}

TEST_F(FilesystemTest, EachPupilHasAFolderWithTheirProfile) {
  auto entries = vault::RecordStore(db()).list();
  std::set<std::string> want;
  for (auto& e : entries) want.insert(vault::pupil_folder_name(e));
  ASSERT_EQ(want.size(), 4u);
  auto listed = names_in(*fs_, kPupilsIno);
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), want);
  EXPECT_EQ(listed.size(), 4u);
  auto paged = names_in(*fs_, kPupilsIno, 1);  // one entry per readdir call
  EXPECT_EQ(paged, listed);
  EXPECT_NE(want.count("Cole_Smith, Cy (P3)"), 0u);  // '/' cannot be in a name

  for (auto& e : entries) {
    const std::string name = vault::pupil_folder_name(e);
    vault::Inode folder = fs_->lookup(kPupilsIno, name);
    EXPECT_EQ(folder.ino, pupil_folder_ino(e.id)) << name;
    EXPECT_EQ(names_in(*fs_, folder.ino), std::vector<std::string>{"profile.txt"});
    auto dots = fs_->readdir(folder.ino, 0, 2);
    ASSERT_EQ(dots.size(), 2u);
    EXPECT_EQ(dots[1].ino, kPupilsIno);  // ".."
    vault::Inode profile = fs_->lookup(folder.ino, "profile.txt");
    const std::string text = vault::profile_txt(*vault::RecordStore(db()).load(e.id), fields());
    EXPECT_EQ(profile.size, text.size()) << name;
    fs_->open(profile.ino, O_RDONLY);
    EXPECT_EQ(read_all(*fs_, profile.ino), text) << name;
    EXPECT_EQ(read_all(*fs_, profile.ino, 13), text) << name;
    fs_->release(profile.ino);
    EXPECT_NE(text.find("(" + e.key + ")"), std::string::npos);
  }
  vault::Inode ada = fs_->lookup(folder_of("P1").ino, "profile.txt");
  fs_->open(ada.ino, O_RDONLY);
  std::string text = read_all(*fs_, ada.ino);
  EXPECT_NE(text.find("Peanuts: ANAPHYLAXIS"), std::string::npos) << text;
  EXPECT_NE(text.find("Alan Adams"), std::string::npos) << text;
  // Lookup is by the exact folder name only.
  EXPECT_EQ(test::errc_of([&] { fs_->lookup(kPupilsIno, "Adams, Ada"); }), std::errc::no_such_file_or_directory);
  EXPECT_EQ(test::errc_of([&] { fs_->lookup(kPupilsIno, "adams, ada (P1)"); }), std::errc::no_such_file_or_directory);
  EXPECT_EQ(test::errc_of([&] { fs_->lookup(kPupilsIno, "P1"); }), std::errc::no_such_file_or_directory);
}

TEST_F(FilesystemTest, ViewsRefuseEveryChange) {
  vault::Inode folder = folder_of("P1");
  vault::Inode profile = fs_->lookup(folder.ino, "profile.txt");
  const std::string folder_name = vault::pupil_folder_name(vault::RecordStore(db()).list().front());
  auto eacces = std::errc::permission_denied;
  for (std::uint64_t ino : {kRosterIno, kManifestIno, profile.ino}) {
    EXPECT_EQ(test::errc_of([&] { fs_->open(ino, O_WRONLY); }), eacces) << ino;
    EXPECT_EQ(test::errc_of([&] { fs_->open(ino, O_RDWR); }), eacces) << ino;
    EXPECT_EQ(test::errc_of([&] { fs_->open(ino, O_WRONLY | O_APPEND); }), eacces) << ino;
    EXPECT_EQ(test::errc_of([&] { fs_->open(ino, O_RDONLY | O_TRUNC); }), eacces) << ino;
    std::vector<std::uint8_t> data{'x'};
    EXPECT_EQ(test::errc_of([&] { fs_->write(ino, 0, data); }), std::errc::bad_file_descriptor) << ino;
    vault::SetAttr truncate;
    truncate.size = 0;
    EXPECT_EQ(test::errc_of([&] { fs_->setattr(ino, truncate); }), std::errc::operation_not_permitted);
    vault::SetAttr chmod;
    chmod.mode = 0644;
    EXPECT_EQ(test::errc_of([&] { fs_->setattr(ino, chmod); }), std::errc::operation_not_permitted);
    EXPECT_EQ(test::errc_of([&] { fs_->link(ino, kFilesRootIno, "copy"); }), std::errc::operation_not_permitted);
    EXPECT_EQ(test::errc_of([&] { fs_->readlink(ino); }), std::errc::invalid_argument);
  }
  for (std::uint64_t dir : {kPupilsIno, folder.ino}) {
    EXPECT_EQ(test::errc_of([&] { fs_->open(dir, O_RDONLY); }), std::errc::is_a_directory);
    EXPECT_EQ(test::errc_of([&] { fs_->setattr(dir, vault::SetAttr{}); }), std::errc::operation_not_permitted);
  }
  for (std::uint64_t parent : {kRootIno, kPupilsIno, folder.ino}) {
    EXPECT_EQ(test::errc_of([&] { fs_->create(me_, parent, "x", 0644); }), eacces) << parent;
    EXPECT_EQ(test::errc_of([&] { fs_->mkdir(me_, parent, "x", 0755); }), eacces) << parent;
    EXPECT_EQ(test::errc_of([&] { fs_->mknod(me_, parent, "x", S_IFIFO | 0600, 0); }), eacces) << parent;
    EXPECT_EQ(test::errc_of([&] { fs_->symlink(me_, parent, "x", "/etc/passwd"); }), eacces) << parent;
  }
  EXPECT_EQ(test::errc_of([&] { fs_->unlink(kRootIno, "roster.csv"); }), eacces);
  EXPECT_EQ(test::errc_of([&] { fs_->unlink(folder.ino, "profile.txt"); }), eacces);
  EXPECT_EQ(test::errc_of([&] { fs_->rmdir(kPupilsIno, folder_name); }), eacces);
  EXPECT_EQ(test::errc_of([&] { fs_->rmdir(kRootIno, "pupils"); }), eacces);
  EXPECT_EQ(test::errc_of([&] { fs_->rename(kRootIno, "roster.csv", kRootIno, "r.csv", 0); }), eacces);
  EXPECT_EQ(test::errc_of([&] { fs_->rename(kPupilsIno, folder_name, kFilesRootIno, "x", 0); }), eacces);
  EXPECT_EQ(test::errc_of([&] { fs_->rename(folder.ino, "profile.txt", kFilesRootIno, "p.txt", 0); }), eacces);
  vault::Inode f = fs_->create(me_, kFilesRootIno, "mine", 0644);
  fs_->release(f.ino);
  EXPECT_EQ(test::errc_of([&] { fs_->rename(kFilesRootIno, "mine", kPupilsIno, "mine", 0); }), eacces);
  EXPECT_EQ(test::errc_of([&] { fs_->rename(kFilesRootIno, "mine", folder.ino, "profile.txt", 0); }), eacces);
  EXPECT_EQ(test::errc_of([&] { fs_->link(f.ino, folder.ino, "mine"); }), eacces);
  // Everything is still there.
  EXPECT_EQ(names_in(*fs_, kPupilsIno).size(), 4u);
  EXPECT_EQ(vault::RecordStore(db()).count(), 4);
}

TEST_F(FilesystemTest, ARemovedPupilDisappearsAtOnce) {
  vault::Inode folder = folder_of("P2");
  vault::Inode profile = fs_->lookup(folder.ino, "profile.txt");
  fs_->open(profile.ino, O_RDONLY);
  const std::string folder_name = [&] {
    for (auto& e : vault::RecordStore(db()).list())
      if (e.key == "P2") return vault::pupil_folder_name(e);
    return std::string();
  }();
  // A listing in progress: the next page continues correctly after a removal.
  auto first = fs_->readdir(kPupilsIno, 0, 3);  // ., .. and one pupil
  ASSERT_EQ(first.size(), 3u);

  db().exec("DELETE FROM pupils WHERE source_key = 'P2'");

  auto listed = names_in(*fs_, kPupilsIno);
  EXPECT_EQ(listed.size(), 3u);
  EXPECT_EQ(std::find(listed.begin(), listed.end(), folder_name), listed.end());
  std::vector<std::string> rest{first[2].name};
  for (std::uint64_t cookie = first[2].next_cookie;;) {
    auto page = fs_->readdir(kPupilsIno, cookie, 1);
    if (page.empty()) break;
    rest.push_back(page[0].name);
    cookie = page[0].next_cookie;
  }
  std::set<std::string> want(listed.begin(), listed.end());
  if (first[2].name == folder_name) want.insert(folder_name);  // it was listed before the removal
  EXPECT_EQ(std::set<std::string>(rest.begin(), rest.end()), want);
  EXPECT_EQ(rest.size(), want.size());

  EXPECT_EQ(test::errc_of([&] { fs_->lookup(kPupilsIno, folder_name); }), std::errc::no_such_file_or_directory);
  EXPECT_EQ(test::errc_of([&] { fs_->getattr(folder.ino); }), std::errc::no_such_file_or_directory);
  EXPECT_EQ(test::errc_of([&] { fs_->getattr(profile.ino); }), std::errc::no_such_file_or_directory);
  EXPECT_EQ(test::errc_of([&] { fs_->lookup(folder.ino, "profile.txt"); }), std::errc::no_such_file_or_directory);
  EXPECT_EQ(test::errc_of([&] { fs_->opendir(folder.ino); }), std::errc::no_such_file_or_directory);
  EXPECT_EQ(test::errc_of([&] { fs_->readdir(folder.ino, 0, 10); }), std::errc::no_such_file_or_directory);
  EXPECT_EQ(test::errc_of([&] { fs_->open(profile.ino, O_RDONLY); }), std::errc::no_such_file_or_directory);
  // An already open handle reads nothing more of the removed record.
  std::vector<std::uint8_t> buf(100);
  EXPECT_EQ(test::errc_of([&] { fs_->read(profile.ino, 0, buf); }), std::errc::no_such_file_or_directory);
  fs_->release(profile.ino);
  fs_->forget(profile.ino, 1);
  fs_->forget(folder.ino, 1);

  EXPECT_EQ(fs_->getattr(kPupilsIno).nlink, 2u + 3u);
  fs_->open(kRosterIno, O_RDONLY);
  std::string roster = read_all(*fs_, kRosterIno);
  EXPECT_EQ(roster, vault::roster_csv(vault::RecordStore(db()).load_all(), fields()));
  EXPECT_EQ(roster.find("P2"), std::string::npos);
  EXPECT_EQ(fs_->getattr(kRosterIno).size, roster.size());
  std::string manifest = read_all(*fs_, kManifestIno);
  EXPECT_EQ(manifest, vault::manifest_text(vault::read_manifest(db(), "f.coffer")));
  // The other pupils are untouched.
  vault::Inode p1 = folder_of("P1");
  EXPECT_NO_THROW(fs_->lookup(p1.ino, "profile.txt"));
}

TEST_F(FilesystemTest, LookupFollowsTheDatabaseWhenAnIdIsReused) {
  std::string old_name;
  std::int64_t old_id = 0;
  for (auto& e : vault::RecordStore(db()).list())
    if (e.key == "P4") old_name = vault::pupil_folder_name(e), old_id = e.id;
  EXPECT_EQ(fs_->lookup(kPupilsIno, old_name).ino, pupil_folder_ino(old_id));
  // The highest rowid removed, the next pupil stored gets the same id.
  db().exec("DELETE FROM pupils WHERE source_key = 'P4'");
  vault::RecordStore(db()).import({make_pupil("P9", "Nash", "Ned", "7C")},
                                  {1795000000, "it-admin", "coffer-csv", "more", 1, {}, {}, {}});
  std::int64_t new_id = 0;
  for (auto& e : vault::RecordStore(db()).list())
    if (e.key == "P9") new_id = e.id;
  ASSERT_EQ(new_id, old_id);
  EXPECT_EQ(test::errc_of([&] { fs_->lookup(kPupilsIno, old_name); }), std::errc::no_such_file_or_directory);
  vault::Inode ned = fs_->lookup(kPupilsIno, "Nash, Ned (P9)");
  EXPECT_EQ(ned.ino, pupil_folder_ino(new_id));
  fs_->open(ned.ino + 1, O_RDONLY);
  EXPECT_NE(read_all(*fs_, ned.ino + 1).find("Nash, Ned  (P9)"), std::string::npos);
}

TEST_F(FilesystemTest, AnEmptyCofferHasAnEmptyPupilsFolder) {
  db().exec("DELETE FROM pupils");
  EXPECT_TRUE(names_in(*fs_, kPupilsIno).empty());
  EXPECT_EQ(fs_->getattr(kPupilsIno).nlink, 2u);
  fs_->open(kRosterIno, O_RDONLY);
  std::string roster = read_all(*fs_, kRosterIno);
  EXPECT_EQ(roster, vault::roster_csv({}, fields()));
  EXPECT_EQ(std::count(roster.begin(), roster.end(), '\n'), 1);  // the header only
}

TEST_F(FilesystemTest, OwnershipFollowsTheCallerAndSetgidDirectories) {
  vault::Inode f = fs_->create(me_, kFilesRootIno, "mine", 0644);
  EXPECT_EQ(f.uid, kUid);
  EXPECT_EQ(store_->get(f.ino).uid, vault::kMounterId);
  Caller other{2000, 3000, 2};
  vault::Inode g = fs_->create(other, kFilesRootIno, "theirs", 0644);
  EXPECT_EQ(g.uid, 2000u);
  EXPECT_EQ(g.gid, 3000u);
  vault::Inode d = fs_->mkdir(me_, kFilesRootIno, "shared", 0775);
  vault::SetAttr sgid;
  sgid.mode = 02775;
  sgid.gid = 100;
  fs_->setattr(d.ino, sgid);
  vault::Inode in = fs_->create(other, d.ino, "x", 0644);
  EXPECT_EQ(in.gid, 100u);
  vault::Inode sub = fs_->mkdir(other, d.ino, "sub", 0755);
  EXPECT_EQ(sub.gid, 100u);
  EXPECT_TRUE(sub.mode & S_ISGID);
}

TEST_F(FilesystemTest, DeviceNodesAreRefusedFifosAllowed) {
  EXPECT_EQ(test::errc_of([&] { fs_->mknod(me_, kFilesRootIno, "dev", S_IFCHR | 0600, makedev(1, 3)); }),
            std::errc::operation_not_permitted);
  EXPECT_EQ(test::errc_of([&] { fs_->mknod(me_, kFilesRootIno, "blk", S_IFBLK | 0600, makedev(8, 0)); }),
            std::errc::operation_not_permitted);
  EXPECT_TRUE(S_ISFIFO(fs_->mknod(me_, kFilesRootIno, "fifo", S_IFIFO | 0600, 0).mode));
  EXPECT_TRUE(S_ISSOCK(fs_->mknod(me_, kFilesRootIno, "sock", S_IFSOCK | 0600, 0).mode));
}

TEST_F(FilesystemTest, UnlinkedOpenFileLivesUntilReleaseAndForget) {
  vault::Inode f = fs_->create(me_, kFilesRootIno, "f", 0644);
  std::vector<std::uint8_t> data{1, 2, 3, 4};
  fs_->write(f.ino, 0, data);
  fs_->unlink(kFilesRootIno, "f");
  std::vector<std::uint8_t> back(4);
  EXPECT_EQ(fs_->read(f.ino, 0, back), 4u);  // the open handle still reads
  EXPECT_EQ(back, data);
  fs_->release(f.ino);
  EXPECT_NO_THROW(store_->get(f.ino));  // the kernel still holds a lookup
  fs_->forget(f.ino, 1);
  EXPECT_EQ(test::errc_of([&] { store_->get(f.ino); }), std::errc::no_such_file_or_directory);
}

TEST_F(FilesystemTest, LockCommitsThenRefusesEverything) {
  vault::Inode f = fs_->create(me_, kFilesRootIno, "f", 0644);
  std::vector<std::uint8_t> data(1000, 7);
  fs_->write(f.ino, 0, data);
  EXPECT_TRUE(store_->dirty());
  fs_->lock();
  EXPECT_FALSE(store_->dirty());
  EXPECT_TRUE(fs_->locked());
  EXPECT_EQ(test::errc_of([&] { fs_->getattr(f.ino); }), std::errc::io_error);
  std::vector<std::uint8_t> out(10);
  EXPECT_EQ(test::errc_of([&] { fs_->read(f.ino, 0, out); }), std::errc::io_error);
  EXPECT_EQ(test::errc_of([&] { fs_->lookup(kRootIno, "files"); }), std::errc::io_error);
  EXPECT_EQ(test::errc_of([&] { fs_->lookup(kRootIno, "roster.csv"); }), std::errc::io_error);
  EXPECT_EQ(test::errc_of([&] { fs_->read(kRosterIno, 0, out); }), std::errc::io_error);
  EXPECT_EQ(test::errc_of([&] { fs_->readdir(kPupilsIno, 0, 10); }), std::errc::io_error);
  EXPECT_FALSE(fs_->commit());
}

// df, stat, ls and a file manager's refresh poll a mount every few seconds:
// looking is not use, or the idle lock would never come. Reading is.
TEST_F(FilesystemTest, LookingIsNotUseForTheIdleLockReadingIs) {
  vault::Inode f = fs_->create(me_, kFilesRootIno, "f", 0644);
  std::vector<std::uint8_t> data(100, 1);
  fs_->write(f.ino, 0, data);
  fs_->release(f.ino);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  fs_->getattr(kRootIno);
  fs_->getattr(f.ino);
  fs_->lookup(kFilesRootIno, "f");
  fs_->opendir(kPupilsIno, me_);
  fs_->readdir(kPupilsIno, 0, 10);
  fs_->readdir(kFilesRootIno, 0, 10);
  fs_->statfs(StatFs{});
  fs_->listxattr(f.ino);
  EXPECT_GE(fs_->idle_for(), std::chrono::milliseconds(60)) << "metadata reset the idle timer";
  fs_->open(f.ino, O_RDONLY, me_);
  std::vector<std::uint8_t> out(100);
  fs_->read(f.ino, 0, out);
  fs_->release(f.ino);
  EXPECT_LT(fs_->idle_for(), std::chrono::milliseconds(60)) << "reading did not count as use";
}

TEST_F(FilesystemTest, ReleaseOfAWrittenFileRequestsACommitReadsDoNotWrite) {
  vault::Inode f = fs_->create(me_, kFilesRootIno, "f", 0644);
  std::vector<std::uint8_t> data(100, 1);
  fs_->write(f.ino, 0, data);
  EXPECT_FALSE(fs_->commit_requested());
  fs_->release(f.ino);
  EXPECT_TRUE(fs_->commit_requested());
  EXPECT_TRUE(fs_->commit());
  EXPECT_FALSE(fs_->commit_requested());
  EXPECT_FALSE(store_->dirty());
  // Reading opens no write transaction (noatime).
  fs_->open(f.ino, O_RDONLY);
  std::vector<std::uint8_t> out(100);
  fs_->read(f.ino, 0, out);
  fs_->release(f.ino);
  EXPECT_FALSE(store_->dirty());
  EXPECT_FALSE(fs_->commit_requested());
}

TEST_F(FilesystemTest, ReadOnlyRefusesChanges) {
  MountInfo ro{kUid, kGid, true, "x", "f.coffer"};
  Filesystem rofs(*store_, db(), ro);
  EXPECT_EQ(test::errc_of([&] { rofs.mkdir(me_, kFilesRootIno, "d", 0755); }), std::errc::read_only_file_system);
  EXPECT_EQ(test::errc_of([&] { rofs.mkdir(me_, kPupilsIno, "d", 0755); }), std::errc::read_only_file_system);
  // The views read the same as in a read-write mount.
  EXPECT_EQ(names_in(rofs, kPupilsIno).size(), 4u);
  EXPECT_EQ(read_all(rofs, kRosterIno), vault::roster_csv(vault::RecordStore(db()).load_all(), fields()));
  EXPECT_EQ(test::errc_of([&] { rofs.open(kRosterIno, O_WRONLY); }), std::errc::permission_denied);
}

}  // namespace
}  // namespace coffer::fusefs
