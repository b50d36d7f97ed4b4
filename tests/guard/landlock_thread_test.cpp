// Landlock confines only the calling thread: restrict_self() run on a thread
// of this process sandboxes that thread alone, so the sandbox's rules are
// shown in-process (its other tests fork, and a sandboxed child cannot even
// write its coverage counters). Also unsafe_stdio() on this process's own
// standard error, redirected for a moment.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <thread>

#include "coffer/error.h"
#include "coffer/guard/landlock.h"
#include "coffer/unique_fd.h"
#include "test_support.h"

namespace coffer::guard {
namespace {
namespace fs = std::filesystem;

struct Outcome {
  LandlockStatus applied;
  int inside_errno = -1, outside_errno = -1, file_errno = -1, missing_ok = 0;
  std::string error;
};

// errno of creating PATH for writing (0 when it worked).
int create_errno(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  return fd.valid() ? 0 : errno;
}

TEST(LandlockThread, OnlyTheSandboxedThreadIsConfined) {
  ASSERT_GE(landlock_status().abi, 1) << "this machine's kernel must offer Landlock";
  test::TempDir tmp;
  fs::create_directories(tmp / "in");
  fs::create_directories(tmp / "out");
  test::write_bytes(tmp / "out" / "allowed.txt", {});
  Outcome o;
  std::thread t([&] {
    try {
      SandboxSpec spec;
      spec.writable_dirs = {tmp / "in", tmp / "does-not-exist"};
      spec.writable_files = {tmp / "out" / "allowed.txt"};
      o.applied = restrict_self(spec);
      o.inside_errno = create_errno(tmp / "in" / "a");
      o.outside_errno = create_errno(tmp / "out" / "b");
      UniqueFd f(::open((tmp / "out" / "allowed.txt").c_str(), O_WRONLY | O_CLOEXEC));
      o.file_errno = f.valid() ? 0 : errno;
    } catch (const Error& e) {
      o.error = e.what();
    }
  });
  t.join();
  ASSERT_EQ(o.error, "");
  EXPECT_EQ(o.applied.abi, landlock_status().abi);
  EXPECT_TRUE(o.applied.fs);
  EXPECT_FALSE(o.applied.scope_abstract_unix) << "X11's abstract socket must stay reachable";
  EXPECT_EQ(o.inside_errno, 0);
  EXPECT_EQ(o.outside_errno, EACCES);
  EXPECT_EQ(o.file_errno, 0) << "a writable single file";
  EXPECT_TRUE(fs::exists(tmp / "in" / "a"));
  EXPECT_FALSE(fs::exists(tmp / "out" / "b"));
  // This thread was never confined.
  EXPECT_EQ(create_errno(tmp / "out" / "c"), 0);
}

TEST(LandlockThread, OptionalRestrictionsCanBeLeftOff) {
  ASSERT_GE(landlock_status().abi, 1);
  test::TempDir tmp;
  Outcome o;
  std::thread t([&] {
    SandboxSpec spec;
    spec.writable_dirs = {tmp.path()};
    spec.deny_tcp = false;
    spec.scope = false;
    o.applied = restrict_self(spec);
    o.inside_errno = create_errno(tmp / "x");
  });
  t.join();
  EXPECT_FALSE(o.applied.net_tcp);
  EXPECT_FALSE(o.applied.scope_signal);
  EXPECT_EQ(o.inside_errno, 0);
}

TEST(LandlockStdioInProcess, StandardErrorOnAFileIsNamedUnlessApproved) {
  test::TempDir tmp;
  const fs::path target = tmp / "err.txt";
  UniqueFd file(::open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  ASSERT_TRUE(file.valid());
  UniqueFd saved(::fcntl(2, F_DUPFD_CLOEXEC, 3));
  UniqueFd saved_in(::fcntl(0, F_DUPFD_CLOEXEC, 3)), saved_out(::fcntl(1, F_DUPFD_CLOEXEC, 3));
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(saved.valid() && saved_in.valid() && saved_out.valid() && null.valid());
  // The other streams on /dev/null: ctest's pipe on standard output would
  // be refused (issue 15: a pipe leads outside a session).
  ASSERT_EQ(::dup2(null.get(), 0), 0);
  ASSERT_EQ(::dup2(null.get(), 1), 1);
  ASSERT_EQ(::dup2(file.get(), 2), 2);
  auto refused = unsafe_stdio([&](const fs::path& p) { return p != target; });
  auto approved = unsafe_stdio([](const fs::path&) { return true; });
  ASSERT_EQ(::dup2(saved.get(), 2), 2);
  ASSERT_EQ(::dup2(saved_in.get(), 0), 0);
  ASSERT_EQ(::dup2(saved_out.get(), 1), 1);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(*refused, "standard error is redirected to " + target.string() +
                          ", outside the coffer and the approved destinations: run without the redirection");
  EXPECT_FALSE(approved.has_value());
}

}  // namespace
}  // namespace coffer::guard
