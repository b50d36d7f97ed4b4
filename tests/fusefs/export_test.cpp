// The daemon's pieces in-process: exports out of a Filesystem (written
// beside, linked into place, never over a file; audited with the asker),
// the copy guard's gates on a Filesystem, the caller audit events, the
// copy guard's status lines and the README.
#include "export.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "caller_audit.h"
#include "coffer/error.h"
#include "coffer/fusefs/daemon.h"
#include "coffer/guard/session.h"
#include "coffer/vault/coffer/coffer.h"
#include "copy_guard.h"
#include "test_support.h"

namespace coffer::fusefs {
namespace {

namespace fs = std::filesystem;
using vault::kFilesRootIno;

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vault::CreateParams p = test::CreateParamsBuilder().expires(1795000000 + 3650 * 86400).build();
    auto path = dir_ / "f.coffer";
    vault::Coffer::create(path, p, test::passphrase("pw"), keystore::system_random(), clock_);
    coffer_.emplace(vault::Coffer::unlock(path, test::passphrase("pw"), keystore::system_random()));
    store_.emplace(coffer_->database(), coffer_->chunk_mac_key(), clock_);
    MountInfo info{static_cast<std::uint32_t>(::getuid()), static_cast<std::uint32_t>(::getgid()), false, "",
                   "f.coffer"};
    fs_.emplace(*store_, coffer_->database(), info);
    Caller me{static_cast<std::uint32_t>(::getuid()), static_cast<std::uint32_t>(::getgid()), ::getpid()};
    vault::Inode d = fs_->mkdir(me, kFilesRootIno, "notes", 0700);
    vault::Inode f = fs_->create(me, d.ino, "day1.txt", 0600);
    fs_->write(f.ino, 0, {reinterpret_cast<const std::uint8_t*>(content_.data()), content_.size()});
    fs_->release(f.ino);
    fs::create_directory(out_);
  }
  ControlServer::Client asking(const std::string& object, const fs::path& dest) {
    ControlServer::Client c;
    c.uid = 1234;
    c.pid = ::getpid();
    c.request = parse_request(encode_request(ControlRequest::export_of(object, dest.string())));
    return c;
  }
  test::TempDir dir_;
  fs::path out_ = dir_ / "out";
  test::FixedClock clock_{1795000000};
  std::optional<vault::Coffer> coffer_;
  std::optional<vault::FileStore> store_;
  std::optional<Filesystem> fs_;
  std::string content_ = std::string(200000, 'x') + "end";  // more than one read
  ExportMediaCheck allow_all_ = [](int, int) { return std::optional<std::string>(); };
};

TEST_F(ExportTest, CopiesAFileOutAndNeverOverwrites) {
  auto to = ExportDestination::open(out_ / "day1.txt", {out_}, allow_all_);
  EXPECT_EQ(export_object(*fs_, "files/notes/day1.txt", to), content_.size());
  auto bytes = test::read_bytes(out_ / "day1.txt");
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), content_);
  try {
    auto again = ExportDestination::open(out_ / "day1.txt", {out_}, allow_all_);
    export_object(*fs_, "files/notes/day1.txt", again);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_EQ(std::string(e.what()), (out_ / "day1.txt").string() + " already exists; export never overwrites");
  }
  // Nothing but the file: no part file left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(out_), fs::directory_iterator()), 1);
}

TEST_F(ExportTest, BadObjectsAndDestinations) {
  auto to = [&] { return ExportDestination::open(out_ / "a", {out_}, allow_all_); };
  {
    auto a = to();
    EXPECT_THROW(export_object(*fs_, "files/../files/notes/day1.txt", a), Error);
  }
  {
    auto a = to();
    EXPECT_THROW(export_object(*fs_, "files/none.txt", a), std::exception);
  }
  EXPECT_THROW(ExportDestination::open(dir_ / "missing" / "a", {dir_.path()}, allow_all_), Error);
  EXPECT_TRUE(fs::is_empty(out_));
  EXPECT_FALSE(fs::exists(dir_ / "missing"));
}

// Changed on purpose (issue 15): a refused export is now recorded, as
// "refused" with the requested path and why; a malformed request is not.
TEST_F(ExportTest, AnswersAreAuditedWithTheAsker) {
  std::vector<vault::AuditEvent> events;
  auto audit = [&](const vault::AuditEvent& e) { events.push_back(e); };
  std::vector<fs::path> approved = {out_};
  EXPECT_EQ(answer_export(*fs_, approved, allow_all_, asking("files/notes/day1.txt", out_ / "d.txt"), audit),
            "ok " + std::to_string(content_.size()));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, vault::AuditKind::kExport);
  EXPECT_EQ(events[0].uid, 1234u);
  EXPECT_EQ(events[0].pid, ::getpid());
  EXPECT_EQ(events[0].exe, process_executable(::getpid()));
  EXPECT_EQ(events[0].object, "files/notes/day1.txt");
  EXPECT_EQ(events[0].result, "ok");
  EXPECT_EQ(events[0].detail, "to " + (out_ / "d.txt").string() + " (" + std::to_string(content_.size()) + " bytes)");

  EXPECT_EQ(answer_export(*fs_, approved, allow_all_, asking("files/notes/day1.txt", dir_ / "d.txt"), audit),
            "error " + (dir_ / "d.txt").string() + " is not an approved destination");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].result, "refused");
  EXPECT_EQ(events[1].detail,
            "to " + (dir_ / "d.txt").string() + ": " + (dir_ / "d.txt").string() + " is not an approved destination");
  ControlServer::Client bad;
  bad.request = parse_request("export\tfiles/notes/day1.txt");
  EXPECT_EQ(answer_export(*fs_, approved, allow_all_, bad, audit), "error bad export request");
  EXPECT_EQ(events.size(), 2u) << "a malformed request is not recorded";
}

// The program is named only while the asker is known to be alive: a pidfd
// of an asker that has exited means the pid may be someone else's now.
TEST_F(ExportTest, AnAskerThatHasGoneIsNotNamedByAReusedPid) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
  ASSERT_TRUE(pidfd.valid());
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  std::vector<vault::AuditEvent> events;
  auto audit = [&](const vault::AuditEvent& e) { events.push_back(e); };
  ControlServer::Client c = asking("files/notes/day1.txt", out_ / "gone.txt");
  c.pid = child;
  c.pidfd = std::move(pidfd);
  EXPECT_EQ(answer_export(*fs_, {out_}, allow_all_, c, audit), "ok " + std::to_string(content_.size()));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].pid, child);
  EXPECT_EQ(events[0].exe, "");
}

class CopyGuardTest : public ExportTest {
 protected:
  std::uint64_t day1() {
    auto files = fs_->lookup(kRootIno, "files");
    auto notes = fs_->lookup(files.ino, "notes");
    return fs_->lookup(notes.ino, "day1.txt").ino;
  }
  MountOptions options_ = [this] {
    MountOptions o;
    o.mountpoint = dir_ / "mnt";
    return o;
  }();
  std::vector<vault::AuditEvent> events_;
  CopyGuard::Audit audit_ = [this](const vault::AuditEvent& e) { events_.push_back(e); };
};

TEST_F(CopyGuardTest, Layer1RefusesAReaderWritingElsewhereAndAuditsItOnce) {
  CopyGuard guard(options_, *fs_, audit_);
  std::uint64_t ino = day1();
  fs_->open(ino, O_RDONLY, {});
  std::vector<std::uint8_t> buf(16);
  // A child holding a file open for writing in an unapproved place is refused.
  fs::path elsewhere = dir_ / "copy.txt";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int fd = ::open(elsewhere.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    (void)!::write(ready[1], "r", 1);
    ::pause();
    ::_exit(fd >= 0 ? 0 : 1);
  }
  char r = 0;
  ASSERT_EQ(::read(ready[0], &r, 1), 1);
  ::close(ready[0]);
  ::close(ready[1]);
  Caller copier{static_cast<std::uint32_t>(::getuid()), static_cast<std::uint32_t>(::getgid()), child};
  EXPECT_THROW(fs_->read(ino, 0, buf, copier), Error);
  EXPECT_THROW(fs_->read(ino, 0, buf, copier), Error);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  fs_->release(ino);
  ASSERT_EQ(events_.size(), 1u) << "audited once per process and file";
  EXPECT_EQ(events_[0].kind, vault::AuditKind::kCopyBlocked);
  EXPECT_EQ(events_[0].pid, child);
  EXPECT_EQ(events_[0].object, "files/notes/day1.txt");
  EXPECT_EQ(events_[0].result, "refused");
  // The child also inherited this process's writable descriptors (the
  // coffer file itself): the first unapproved one found is named.
  EXPECT_EQ(events_[0].detail.rfind("to /", 0), 0u) << events_[0].detail;
  EXPECT_NE(events_[0].detail.find(" (a file on this computer outside the approved places) through descriptor "),
            std::string::npos)
      << events_[0].detail;
}

TEST_F(CopyGuardTest, Layer3AdmitsOnlyTheSessionOnceItIsKnown) {
  options_.session_keeper = {"/usr/bin/coffer", "session-keeper"};
  CopyGuard guard(options_, *fs_, audit_);
  Caller me{static_cast<std::uint32_t>(::getuid()), static_cast<std::uint32_t>(::getgid()), ::getpid()};
  EXPECT_THROW(fs_->lookup(kRootIno, "files", me), Error) << "nobody before the keeper is known";
  guard.admit_session(*guard::process_identity(::getpid()));
  EXPECT_NO_THROW(fs_->lookup(kRootIno, "files", me));
  Caller other = me;
  other.pid = 1;  // init: not in the session
  EXPECT_THROW(fs_->lookup(kRootIno, "files", other), Error);
}

TEST_F(CopyGuardTest, Layer2IsOptionalUnlessRequired) {
  options_.guard_socket = dir_ / "no-guard.sock";
  CopyGuard guard(options_, *fs_, audit_);
  EXPECT_NO_THROW(guard.connect_service());
  EXPECT_EQ(guard.service_fd(), -1);
  EXPECT_EQ(guard.on_service_event(), "");
  options_.guard_required = true;
  CopyGuard required(options_, *fs_, audit_);
  EXPECT_ANY_THROW(required.connect_service());
}

TEST(CallerAudit, NamesTheCaller) {
  auto e = caller_event(vault::AuditKind::kCopyBlocked, 7, ::getpid(), "files/a", "refused", "to /media/x", 42);
  EXPECT_EQ(e.time, 42);
  EXPECT_EQ(e.uid, 7u);
  EXPECT_EQ(e.exe, process_executable(::getpid()));
  EXPECT_NE(e.exe, "(unknown)");
  EXPECT_EQ(e.kind, vault::AuditKind::kCopyBlocked);
  EXPECT_EQ(e.object, "files/a");
  EXPECT_EQ(e.result, "refused");
  EXPECT_EQ(e.detail, "to /media/x");
  // Reported by the copy guard: its executable is kept as given.
  auto g = caller_event(vault::AuditKind::kCopyBlocked, 7, 999999999, "", "refused", "", 1, "/usr/bin/cp");
  EXPECT_EQ(g.exe, "/usr/bin/cp");
  EXPECT_EQ(process_executable(999999999), "(unknown)");
}

TEST(CopyGuardLines, ShowTheLayersInForce) {
  MountOptions o;
  EXPECT_EQ(
      copy_guard_lines(o),
      std::vector<std::string>{"layer 1: reads refused to programs writing to removable media or unapproved places"});
  o.guard_socket = "/run/coffer-guard.sock";
  auto lines = copy_guard_lines(o);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], "layer 2: the copy guard service (when running)");
  o.guard_required = true;
  o.session_keeper = {"/usr/bin/coffer", "session-keeper"};
  lines = copy_guard_lines(o);
  EXPECT_EQ(lines[1], "layer 3: a Landlock session; only its programs may use the coffer");
  // Issue 15: what the session closes, and what it cannot, said plainly.
  auto has = [&](const std::string& start) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.rfind(start, 0) == 0; });
  };
  EXPECT_TRUE(has("  its own network (loopback only"));
  EXPECT_TRUE(has("  started only on a terminal or /dev/null"));
  EXPECT_TRUE(has("  memory closed to other programs of this user: "));
  EXPECT_TRUE(has("  refusals inside the session: not recorded in the coffer's audit trail"));
  EXPECT_EQ(lines.back(), "layer 2: the copy guard service (required: the coffer locks if it stops)");
  EXPECT_EQ(lines[lines.size() - 2], "layer 2: removable media are read-only for every user while this coffer is open");
}

// A standard coffer the guard did not register (not running, out of
// connections, gone since) claims no layer 2 in status.
TEST(CopyGuardLines, LayerTwoOnlyWhileRegistered) {
  MountOptions o;
  o.guard_socket = "/run/coffer-guard.sock";
  EXPECT_EQ(copy_guard_lines(o, true), copy_guard_lines(o));
  auto lines = copy_guard_lines(o, false);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], "layer 2: off (this coffer is not registered with the copy guard service)");
}

TEST(Readme, SaysWhenItExpiresAndLocks) {
  vault::Header h;
  h.owner = "Ms Smith";
  h.profile = "trip";
  h.expires = *vault::end_of_local_day("2027-07-20");
  std::string text = readme_text(h, std::chrono::seconds(900));
  EXPECT_NE(text.find("Owner:    Ms Smith\n"), std::string::npos);
  EXPECT_NE(text.find("Expires:  2027-07-20 (end of day)"), std::string::npos);
  EXPECT_NE(text.find("Locks:    after 15 minutes without use"), std::string::npos);
  EXPECT_NE(readme_text(h, std::chrono::seconds(60)).find("after 1 minute without"), std::string::npos);
  EXPECT_NE(readme_text(h, std::chrono::seconds(30)).find("after 30 seconds without"), std::string::npos);
  EXPECT_NE(readme_text(h, std::chrono::seconds(90)).find("after 1 min 30 s without"), std::string::npos);
}

TEST(ProcessesUsing, FindsAnOpenDescriptor) {
  test::TempDir d;
  EXPECT_TRUE(processes_using(d.path()).empty());
  // This process is left out (the daemon never lists itself): a child holds it.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int fd = ::open((d.path() / "held").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ::pause();
    ::_exit(fd >= 0 ? 0 : 1);
  }
  std::vector<std::string> found;
  for (int i = 0; i < 100 && found.empty(); ++i) {
    ::usleep(20000);
    found = processes_using(d.path());
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].rfind(std::to_string(child) + " (", 0), 0u) << found[0];
}

}  // namespace
}  // namespace coffer::fusefs
