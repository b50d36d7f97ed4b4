// coffer::unix_address: lengths, limits and the abstract namespace, and an
// address that really binds and connects.
#include "coffer/unix_socket.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "coffer/unique_fd.h"

namespace coffer {
namespace {

constexpr std::size_t kPathMax = sizeof(sockaddr_un::sun_path) - 1;  // 107

TEST(UnixAddress, PathIsCopiedWithItsNul) {
  auto a = unix_address("/run/coffer/guard.sock");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->addr.sun_family, AF_UNIX);
  EXPECT_STREQ(a->addr.sun_path, "/run/coffer/guard.sock");
  EXPECT_EQ(a->size, offsetof(sockaddr_un, sun_path) + std::strlen("/run/coffer/guard.sock") + 1);
  EXPECT_EQ(static_cast<const void*>(a->get()), static_cast<const void*>(&a->addr));
}

TEST(UnixAddress, EmptyOrTooLongIsRefusedNotTruncated) {
  EXPECT_FALSE(unix_address("").has_value());
  EXPECT_TRUE(unix_address("/" + std::string(kPathMax - 1, 'a')).has_value());
  EXPECT_FALSE(unix_address("/" + std::string(kPathMax, 'a')).has_value());
  EXPECT_FALSE(unix_address(std::string("/a\0b", 4)).has_value());
}

TEST(UnixAddress, AtIsAbstractOnlyWhenAsked) {
  auto path = unix_address("@coffer-notify");
  ASSERT_TRUE(path.has_value());
  EXPECT_STREQ(path->addr.sun_path, "@coffer-notify");

  auto abstract = unix_address("@coffer-notify", UnixName::kPathOrAbstract);
  ASSERT_TRUE(abstract.has_value());
  EXPECT_EQ(abstract->addr.sun_path[0], '\0');
  EXPECT_EQ(std::string(abstract->addr.sun_path + 1, 13), "coffer-notify");
  EXPECT_EQ(abstract->size, offsetof(sockaddr_un, sun_path) + 14);  // no NUL counted

  auto plain = unix_address("/run/x", UnixName::kPathOrAbstract);
  ASSERT_TRUE(plain.has_value());
  EXPECT_STREQ(plain->addr.sun_path, "/run/x");
}

TEST(UnixAddress, BindsAndConnects) {
  // coffer-test-: the prefix other tests (cli.canary) know as a test folder.
  std::string dir = std::filesystem::temp_directory_path() / "coffer-test-sock-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  auto a = unix_address(dir + "/s");
  ASSERT_TRUE(a.has_value());
  {
    UniqueFd server(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(::bind(server.get(), a->get(), a->size), 0);
    ASSERT_EQ(::listen(server.get(), 1), 0);
    UniqueFd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(::connect(client.get(), a->get(), a->size), 0);
  }
  std::filesystem::remove_all(dir);
}

TEST(UnixAddress, AbstractNameBinds) {
  const std::string name = "@coffer-test-" + std::to_string(::getpid());
  auto a = unix_address(name, UnixName::kPathOrAbstract);
  ASSERT_TRUE(a.has_value());
  UniqueFd server(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::bind(server.get(), a->get(), a->size), 0);
  UniqueFd client(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(::sendto(client.get(), "x", 1, 0, a->get(), a->size), 1);
}

}  // namespace
}  // namespace coffer
