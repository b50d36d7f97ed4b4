// coffer::read_link on real /proc links and on what is not a link.
#include "coffer/proc.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "coffer/unique_fd.h"

namespace coffer {
namespace {

TEST(ReadLink, ReadsOwnExecutable) {
  auto exe = read_link("/proc/self/exe");
  ASSERT_TRUE(exe.has_value());
  EXPECT_EQ(*exe, std::filesystem::canonical("/proc/self/exe").string());
}

TEST(ReadLink, ReadsADescriptorTargetAndAPipe) {
  // coffer-test-: the prefix other tests (cli.canary) know as a test folder.
  std::string dir = std::filesystem::temp_directory_path() / "coffer-test-proc-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  std::string file = dir + "/f";
  {
    UniqueFd fd(::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd.valid());
    EXPECT_EQ(read_link("/proc/self/fd/" + std::to_string(fd.get())), std::filesystem::canonical(file).string());
    ::unlink(file.c_str());
    EXPECT_EQ(read_link("/proc/self/fd/" + std::to_string(fd.get())),
              std::filesystem::canonical(dir).string() + "/f (deleted)");
  }
  ::rmdir(dir.c_str());
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  auto target = read_link("/proc/self/fd/" + std::to_string(r.get()));
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->rfind("pipe:[", 0), 0u) << *target;
}

TEST(ReadLink, NothingForWhatIsNotALink) {
  EXPECT_EQ(read_link("/proc/self/status"), std::nullopt);
  EXPECT_EQ(read_link("/nonexistent/coffer/link"), std::nullopt);
  EXPECT_EQ(read_link(""), std::nullopt);
}

}  // namespace
}  // namespace coffer
