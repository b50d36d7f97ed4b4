// Layer 1 caller inspection against real processes: a child holds exactly
// the descriptors a scenario needs (everything inherited is closed first,
// ctest's own log file included) and the test inspects it from outside, as
// the filesystem daemon does.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "coffer/guard/caller_check.h"
#include "test_support.h"

namespace coffer::guard {
namespace {
namespace fs = std::filesystem;

// A child that runs `setup` (opening its descriptors), reports ready and
// waits to be killed. The destructor kills and reaps it on every path.
class Holder {
 public:
  explicit Holder(const std::function<void()>& setup) {
    int p[2];
    EXPECT_EQ(::pipe(p), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(p[0]);
      for (int fd = 3; fd < 1024; ++fd)
        if (fd != p[1]) ::close(fd);
      // Standard streams: read-only /dev/null, so only `setup` matters.
      int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::close(null);
      setup();
      char c = 'r';
      (void)!::write(p[1], &c, 1);
      ::alarm(30);
      for (;;) ::pause();
    }
    ::close(p[1]);
    char c = 0;
    EXPECT_EQ(::read(p[0], &c, 1), 1);
    ::close(p[0]);
  }
  ~Holder() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

class CallerCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    fs::create_directories(dir_ / "approved");
    fs::create_directories(dir_ / "elsewhere");
    fs::create_directories(dir_ / "home/.cache");
  }
  void TearDown() override {
    if (!stick_.empty()) ::umount2(stick_.c_str(), MNT_DETACH);
  }
  WriteRules rules() const {
    WriteRules r;
    r.approved = {dir_ / "approved"};
    r.app_state = {dir_ / "home/.cache"};
    r.media.declared_removable = {dir_ / "stick"};
    return r;
  }
  // A tmpfs the rules declare removable (as the system policy does for
  // the tests; nothing makes a real stick look internal).
  void mount_stick() {
    stick_ = dir_ / "stick";
    fs::create_directories(stick_);
    ASSERT_EQ(::mount("usbstick", stick_.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
  }
  static void open_at(const fs::path& p, int flags, int as_fd = -1) {
    int fd = ::open(p.c_str(), flags | O_CREAT, 0600);
    if (fd < 0) _exit(90);
    if (as_fd >= 0) {
      ::dup2(fd, as_fd);
      ::close(fd);
    }
  }

  test::TempDir tmp_;
  fs::path dir_, stick_;
};

TEST_F(CallerCheckTest, WritableFileOutsideTheApprovedPlacesIsACopier) {
  fs::path out = dir_ / "elsewhere/out.csv";
  Holder h([&] { open_at(out, O_WRONLY); });
  CallerInspector inspector(rules());
  auto f = inspector.inspect(h.pid());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->target, out.string());
  EXPECT_EQ(f->reason, "a file on this computer outside the approved places");
}

TEST_F(CallerCheckTest, StandardOutputRedirectedCounts) {
  fs::path out = dir_ / "elsewhere/redirect.txt";
  Holder h([&] { open_at(out, O_WRONLY | O_TRUNC, 1); });
  auto f = CallerInspector(rules()).inspect(h.pid());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->fd, 1);
  EXPECT_EQ(describe_fd(f->fd), "standard output");
}

TEST_F(CallerCheckTest, ApprovedAppStateReadOnlyPipesAndDevNullAreFine) {
  Holder h([&] {
    open_at(dir_ / "approved/export.csv", O_WRONLY);
    open_at(dir_ / "home/.cache/editor.state", O_RDWR);
    open_at(dir_ / "elsewhere/only-read.txt", O_RDONLY);
    int p[2];
    if (::pipe(p) != 0) _exit(91);
    if (::open("/dev/null", O_WRONLY) < 0) _exit(92);
  });
  EXPECT_FALSE(CallerInspector(rules()).inspect(h.pid()));
}

TEST_F(CallerCheckTest, PrefixMatchIsByWholeComponent) {
  fs::path sneaky = dir_ / "approved-not";
  fs::create_directories(sneaky);
  Holder h([&] { open_at(sneaky / "x", O_WRONLY); });
  EXPECT_TRUE(CallerInspector(rules()).inspect(h.pid()));
}

TEST_F(CallerCheckTest, DeletedTargetStillRefused) {
  fs::path tmp = dir_ / "elsewhere/tmpfile";
  Holder h([&] {
    open_at(tmp, O_RDWR);
    ::unlink(tmp.c_str());
  });
  auto f = CallerInspector(rules()).inspect(h.pid());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->target, tmp.string());
}

TEST_F(CallerCheckTest, RemovableMediaRefusedEvenInAnApprovedPlace) {
  mount_stick();
  WriteRules r = rules();
  r.approved.push_back(stick_);  // removable wins: a stick is never a local file
  Holder h([&] { open_at(stick_ / "x.csv", O_WRONLY); });
  auto f = CallerInspector(r).inspect(h.pid());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, MediaKind::kRemovable);
  EXPECT_EQ(f->reason, "removable media");
}

TEST_F(CallerCheckTest, TheCoffersOwnMountIsAllowed) {
  mount_stick();  // stands in for the coffer's mount here
  struct stat st {};
  ASSERT_EQ(::stat(stick_.c_str(), &st), 0);
  WriteRules r = rules();
  r.media.declared_removable.clear();
  r.coffer_major = major(st.st_dev);
  r.coffer_minor = minor(st.st_dev);
  Holder h([&] { open_at(stick_ / "files-note.txt", O_WRONLY); });
  EXPECT_FALSE(CallerInspector(r).inspect(h.pid()));
}

TEST_F(CallerCheckTest, MountAppearingLaterIsClassified) {
  CallerInspector inspector(rules());
  {
    Holder before([&] { open_at(dir_ / "approved/a", O_WRONLY); });
    EXPECT_FALSE(inspector.inspect(before.pid()));  // table cached now
  }
  mount_stick();
  Holder after([&] { open_at(stick_ / "b", O_WRONLY); });
  auto f = inspector.inspect(after.pid());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, MediaKind::kRemovable);
}

TEST_F(CallerCheckTest, CachedVerdictFollowsNewDescriptors) {
  // The child opens its destination only when told: the cached "allowed"
  // must not outlive the new descriptor.
  fs::path out = dir_ / "elsewhere/late.csv";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  int cmd[2];
  ASSERT_EQ(::pipe(cmd), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(ready[0]);
    ::close(cmd[1]);
    for (int fd = 3; fd < 1024; ++fd)
      if (fd != ready[1] && fd != cmd[0]) ::close(fd);
    // The test's own standard streams may be files (a log): not ours to judge.
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::close(null);
    char c = 'r';
    (void)!::write(ready[1], &c, 1);
    (void)!::read(cmd[0], &c, 1);
    open_at(out, O_WRONLY);
    (void)!::write(ready[1], &c, 1);
    ::alarm(30);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  ::close(cmd[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  CallerInspector inspector(rules());
  inspector.ttl = std::chrono::hours(1);
  auto first = inspector.check(child, 42);
  (void)!::write(cmd[1], &c, 1);
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  auto second = inspector.check(child, 42);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
  ::close(cmd[1]);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->target, out.string());
  EXPECT_FALSE(first);
}

TEST_F(CallerCheckTest, DetachedMountIsRefused) {
  // A stick detached with `umount -l` keeps its open files but leaves every
  // mount table: no longer a place coffer can classify.
  fs::path lazy = dir_ / "lazy";
  fs::create_directories(lazy);
  ASSERT_EQ(::mount("lazystick", lazy.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
  WriteRules r = rules();
  r.approved.push_back(lazy);  // approved while mounted, and still refused once detached
  Holder h([&] { open_at(lazy / "x.csv", O_WRONLY); });
  CallerInspector inspector(r);
  EXPECT_FALSE(inspector.inspect(h.pid()));
  ASSERT_EQ(::umount2(lazy.c_str(), MNT_DETACH), 0);
  EXPECT_TRUE(inspector.inspect(h.pid()));  // its cached table: now outside every approved path
  auto f = CallerInspector(r).inspect(h.pid());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->reason, "a detached or hidden filesystem");
}

// A sandboxed session's programs live in a mount namespace of their own
// (issue 15), with standard streams opened before it in the teacher's:
// their mount ids are in no table of the caller's namespace, but they are
// real mounts of ours, judged as such (not refused as hidden).
TEST_F(CallerCheckTest, ADescriptorFromBeforeTheCallersMountNamespaceIsJudgedByItsMount) {
  auto enter_own_namespace = [] {
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(94);
  };
  Holder approved([&] {
    open_at(dir_ / "approved/export.csv", O_WRONLY, 1);
    enter_own_namespace();
  });
  EXPECT_FALSE(CallerInspector(rules()).inspect(approved.pid()));
  fs::path out = dir_ / "elsewhere/out.csv";
  Holder elsewhere([&] {
    open_at(out, O_WRONLY, 1);
    enter_own_namespace();
  });
  auto f = CallerInspector(rules()).inspect(elsewhere.pid());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->target, out.string());
  EXPECT_EQ(f->reason, "a file on this computer outside the approved places");
}

TEST_F(CallerCheckTest, MemfdIsNotAPlace) {
  Holder h([] {
    if (::syscall(SYS_memfd_create, "scratch", 0u) < 0) _exit(93);
  });
  EXPECT_FALSE(CallerInspector(rules()).inspect(h.pid()));
}

TEST_F(CallerCheckTest, GoneProcessIsAllowed) {
  pid_t pid = ::fork();
  if (pid == 0) _exit(0);
  ::waitpid(pid, nullptr, 0);
  EXPECT_FALSE(CallerInspector(rules()).inspect(pid));
}

// Without a readable sysfs the disk holding the file cannot be classified:
// refused even in an approved place, as nothing vouches for the disk.
TEST_F(CallerCheckTest, AFilesystemThatCannotBeClassifiedIsRefusedEvenWhenApproved) {
  fs::path out = dir_ / "approved/out.csv";
  Holder h([&] { open_at(out, O_WRONLY); });
  WriteRules r = rules();
  r.media.sysfs_root = dir_ / "no-such-sysfs";
  auto f = CallerInspector(r).inspect(h.pid());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->target, out.string());
  EXPECT_EQ(f->kind, MediaKind::kUnknown);
  EXPECT_EQ(f->reason, "a filesystem coffer cannot classify");
}

// Issue 15 §3: approved places are matched by device and path within the
// filesystem, not by the text the caller sees. In a mount namespace of its
// own (unshare -Urm, as the teacher can), a bind mount of another folder
// over the approved path does not make that folder approved.
namespace {
// In the child: a private mount namespace, or exit 94.
void private_namespace() {
  if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(94);
}
void bind(const fs::path& from, const fs::path& to) {
  if (::mount(from.c_str(), to.c_str(), nullptr, MS_BIND, nullptr) != 0) _exit(95);
}
}  // namespace

TEST_F(CallerCheckTest, ABindMountOverTheApprovedPathInAnotherNamespaceIsNotApproved) {
  fs::path out = dir_ / "approved/roster.csv";
  Holder h([&] {
    private_namespace();
    bind(dir_ / "elsewhere", dir_ / "approved");
    open_at(out, O_WRONLY);
  });
  EXPECT_TRUE(fs::exists(dir_ / "elsewhere/roster.csv"));  // where the data really goes
  auto f = CallerInspector(rules()).inspect(h.pid());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->target, out.string());
  EXPECT_EQ(f->reason, "a file on this computer outside the approved places");
}

TEST_F(CallerCheckTest, AShareMountedOnTheApprovedPathLaterIsApproved) {
  // The approved path is the school's share, mounted after the coffer
  // opened: what the path is now, not what it was at registration.
  CallerInspector inspector(rules());
  fs::path share = dir_ / "approved";
  ASSERT_EQ(::mount("share", share.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
  stick_ = share;  // unmounted in TearDown
  Holder h([&] { open_at(share / "export.csv", O_WRONLY); });
  EXPECT_FALSE(inspector.inspect(h.pid()));
  auto all = inspector.survey(h.pid());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].place, PlaceClass::kApproved);
}

TEST_F(CallerCheckTest, TheApprovedFolderSeenElsewhereInAnotherNamespaceIsApproved) {
  // A Flatpak sees the approved folder at a path of its own: judged by what
  // it is, not refused for being in another namespace.
  fs::create_directories(dir_ / "sandbox-view");
  Holder h([&] {
    private_namespace();
    bind(dir_ / "approved", dir_ / "sandbox-view");
    open_at(dir_ / "sandbox-view/export.csv", O_WRONLY);
    open_at(dir_ / "home/.cache/state", O_WRONLY);
  });
  CallerInspector inspector(rules());
  EXPECT_FALSE(inspector.inspect(h.pid()));
  auto all = inspector.survey(h.pid());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].place, PlaceClass::kApproved);
  EXPECT_EQ(all[1].place, PlaceClass::kAppState);
}

TEST_F(CallerCheckTest, AChrootDoesNotShiftPathsWithinTheFilesystem) {
  // Mount points in a chrooted caller's table are relative to its root,
  // its descriptors' targets are not: they are compared below that root.
  Holder h([&] {
    private_namespace();
    bind(dir_, dir_);  // a mount whose root the chroot can see
    if (::chroot(dir_.c_str()) != 0 || ::chdir("/") != 0) _exit(96);
    open_at("/approved/a.csv", O_WRONLY);
    open_at("/elsewhere/b.csv", O_WRONLY);
  });
  CallerInspector inspector(rules());
  auto all = inspector.survey(h.pid());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].place, PlaceClass::kApproved);
  EXPECT_EQ(all[1].place, PlaceClass::kLocal);
}

TEST_F(CallerCheckTest, AnOverlayWithItsUpperDirectoryInMemoryIsLocalNotVirtual) {
  fs::create_directories(dir_ / "lower");
  fs::create_directories(dir_ / "shm");
  fs::create_directories(dir_ / "merged");
  Holder h([&] {
    private_namespace();
    if (::mount("shm", (dir_ / "shm").c_str(), "tmpfs", 0, "size=1m") != 0) _exit(97);
    fs::create_directories(dir_ / "shm/u");
    fs::create_directories(dir_ / "shm/w");
    std::string opts = "lowerdir=" + (dir_ / "lower").string() + ",upperdir=" + (dir_ / "shm/u").string() +
                       ",workdir=" + (dir_ / "shm/w").string();
    if (::mount("overlay", (dir_ / "merged").c_str(), "overlay", 0, opts.c_str()) != 0) _exit(98);
    open_at(dir_ / "merged/roster.csv", O_WRONLY);
  });
  auto f = CallerInspector(rules()).inspect(h.pid());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, MediaKind::kInternal);
  EXPECT_EQ(f->reason, "a file on this computer outside the approved places");
}

// The path of P within its filesystem, as the inspector computes it for
// the approved folder.
std::string path_in_its_filesystem(const fs::path& p) {
  struct statx stx {};
  if (::statx(AT_FDCWD, p.c_str(), 0, STATX_MNT_ID, &stx) != 0) return {};
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream text;
  text << in.rdbuf();
  std::string canonical = fs::canonical(p).string();
  for (auto& m : parse_mountinfo(text.str())) {
    if (m.mount_id != stx.stx_mnt_id) continue;
    std::string rest = m.mount_point == "/" ? canonical : canonical.substr(m.mount_point.size());
    return m.root == "/" ? rest : m.root + rest;
  }
  return {};
}

TEST_F(CallerCheckTest, AnOverlayFileWithTheApprovedFoldersDeviceAndPathIsNotApproved) {
  // Upper directory on the approved folder's filesystem, lower on another,
  // and below the overlay's mount point a path that reads as the approved
  // folder's within its filesystem. Kernels before 6.x (xino off, layers on
  // different filesystems) report the upper filesystem's device for such
  // files; this one reports the overlay's. Either way the overlay mount is
  // not the approved folder's filesystem: not approved.
  std::string approved_in_fs = path_in_its_filesystem(dir_ / "approved");
  ASSERT_FALSE(approved_in_fs.empty());
  fs::create_directories(dir_ / "lowerfs");
  fs::create_directories(dir_ / "u" / approved_in_fs.substr(1));
  fs::create_directories(dir_ / "w");
  fs::create_directories(dir_ / "o");
  fs::path out = dir_ / "o" / approved_in_fs.substr(1) / "roster.csv";
  Holder h([&] {
    private_namespace();
    if (::mount("lower", (dir_ / "lowerfs").c_str(), "tmpfs", 0, "size=1m") != 0) _exit(97);
    std::string opts = "lowerdir=" + (dir_ / "lowerfs").string() + ",upperdir=" + (dir_ / "u").string() +
                       ",workdir=" + (dir_ / "w").string();
    if (::mount("overlay", (dir_ / "o").c_str(), "overlay", 0, opts.c_str()) != 0) _exit(98);
    open_at(out, O_WRONLY);
  });
  auto f = CallerInspector(rules()).inspect(h.pid());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->target, out.string());
  EXPECT_EQ(f->reason, "a file on this computer outside the approved places");
}

TEST_F(CallerCheckTest, AnOverlayWhoseUpperPathHasASymlinkIsUnknown) {
  // The options show the text given at mount time; a symlink in it may
  // point anywhere by now: not followed, so not classified.
  fs::create_directories(dir_ / "lower");
  fs::create_directories(dir_ / "real/u");
  fs::create_directories(dir_ / "real/w");
  fs::create_directories(dir_ / "merged");
  fs::create_directory_symlink(dir_ / "real", dir_ / "link");
  Holder h([&] {
    private_namespace();
    std::string opts = "lowerdir=" + (dir_ / "lower").string() + ",upperdir=" + (dir_ / "link/u").string() +
                       ",workdir=" + (dir_ / "link/w").string();
    if (::mount("overlay", (dir_ / "merged").c_str(), "overlay", 0, opts.c_str()) != 0) _exit(98);
    open_at(dir_ / "merged/roster.csv", O_WRONLY);
  });
  auto f = CallerInspector(rules()).inspect(h.pid());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, MediaKind::kUnknown);
}

// Issue 15 §6: a copier with its standard output in a log file is named by
// the file it copies to, and the audit lists every destination by class.
TEST_F(CallerCheckTest, TheRealDestinationIsNamedBeforeALogOnAStandardStream) {
  mount_stick();
  fs::path log = dir_ / "elsewhere/cp.log";
  fs::path copy = stick_ / "roster.csv";
  Holder h([&] {
    open_at(log, O_WRONLY | O_APPEND, 1);
    open_at(dir_ / "approved/ok.csv", O_WRONLY, 100);
    open_at(copy, O_WRONLY, 101);
  });
  CallerInspector inspector(rules());
  auto f = inspector.inspect(h.pid());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->fd, 101);
  EXPECT_EQ(f->target, copy.string());
  auto all = inspector.survey(h.pid());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(describe_destinations(all), "local " + log.string() + " (standard output); approved " +
                                            (dir_ / "approved/ok.csv").string() + " (descriptor 100); removable " +
                                            copy.string() + " (descriptor 101)");
  EXPECT_EQ(describe_destinations(all, 1), "local " + log.string() + " (standard output); and 2 more");
}

TEST(DescribeDestinations, NoneAndClassNames) {
  EXPECT_EQ(describe_destinations({}), "none");
  EXPECT_EQ(place_class_name(PlaceClass::kAppState), "app-state");
  EXPECT_EQ(place_class_name(PlaceClass::kSchoolStick), "school-stick");
  EXPECT_EQ(place_class_name(PlaceClass::kOtherFuse), "other-fuse");
}

TEST(DescribeFd, NamesTheStandardStreamsAndNumbersTheRest) {
  EXPECT_EQ(describe_fd(0), "standard input");
  EXPECT_EQ(describe_fd(1), "standard output");
  EXPECT_EQ(describe_fd(2), "standard error");
  EXPECT_EQ(describe_fd(3), "descriptor 3");
  EXPECT_EQ(describe_fd(-1), "descriptor -1");
}

}  // namespace
}  // namespace coffer::guard
