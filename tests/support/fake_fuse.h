// Fakes of the libfuse3 functions the FUSE adapter calls (fuse_reply_*,
// fuse_req_*, the session and loop calls), defined in fake_fuse.cpp: a test
// binary links them instead of libfuse (a link-time seam, nothing in the
// adapter knows), sends requests through the operations table the adapter
// gave fuse_session_new, and reads the one reply each request got.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace coffer::test {

enum class ReplyKind {
  kNone,
  kErr,
  kNoReply,
  kEntry,
  kAttr,
  kXattrSize,
  kBuf,
  kReadlink,
  kOpen,
  kCreate,
  kWrite,
  kStatfs
};

// One entry of a readdir reply, decoded from the kernel's fuse_dirent form.
struct DirentReply {
  std::string name;
  std::uint64_t ino = 0;
  std::uint64_t next_cookie = 0;
  std::uint32_t type = 0;  // S_IFMT bits
};

// What a request was answered with (kind kNone: it was not answered, a bug).
struct Reply {
  ReplyKind kind = ReplyKind::kNone;
  int replies = 0;  // exactly one per request
  int err = 0;      // kErr: 0 for success, else the errno
  fuse_entry_param entry{};
  struct stat attr {};
  double attr_timeout = -1;
  std::size_t size = 0;  // kXattrSize, kWrite
  std::string data;      // kBuf, kReadlink
  fuse_file_info fi{};   // kOpen, kCreate
  struct statvfs statvfs {};
  std::vector<DirentReply> dirents() const;  // data as a readdir reply
};

// The state of the fake libfuse, one per test binary.
struct FakeFuse {
  fuse_lowlevel_ops ops{};   // what the adapter registered
  void* userdata = nullptr;  // ... with this
  bool fail_session_new = false;
  int mount_result = 0;
  std::string mountpoint;
  std::vector<std::string> args;  // the arguments given to fuse_session_new
  bool mounted = false;
  int loops = 0, destroyed = 0;
  std::vector<std::uint64_t> invalidated;
  // The caller every request comes from.
  fuse_ctx ctx{1000, 1000, 4242, 022};
};
FakeFuse& fake_fuse();
void reset_fake_fuse();

}  // namespace coffer::test

// A request: the adapter sees it only as an opaque fuse_req_t.
struct fuse_req {
  coffer::test::Reply reply;
};
