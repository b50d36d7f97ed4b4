// fusefs: the one table from coffer's errors to what a program sees through
// the mount. The fault trials (tests/fault) show which coffer::Error an I/O
// error, a full disk or damage becomes; this pins what each becomes at the
// mount: EIO for an I/O error and for damage (never data), ENOSPC for a
// full disk.
#include <gtest/gtest.h>

#include <cerrno>
#include <new>
#include <system_error>

#include "coffer/error.h"
#include "coffer/vault/files/filestore.h"
#include "errno_map.h"

namespace coffer::fusefs {
namespace {

template <class E>
int errno_for(const E& e) {
  try {
    throw e;
  } catch (...) {
    return errno_of_current_exception();
  }
}

TEST(ErrnoMap, IoErrorAndDamageAreEioAndAFullDiskIsEnospc) {
  EXPECT_EQ(errno_for(Error(ErrorCode::kIo, "disk I/O error")), EIO);
  EXPECT_EQ(errno_for(Error(ErrorCode::kDamaged, "damaged")), EIO);
  EXPECT_EQ(errno_for(Error(ErrorCode::kNoSpace, "the disk is full")), ENOSPC);
}

TEST(ErrnoMap, RefusalsKeepTheirMeaning) {
  EXPECT_EQ(errno_for(Error(ErrorCode::kPolicy, "copy refused")), EACCES);
  EXPECT_EQ(errno_for(Error(ErrorCode::kBusy, "busy")), EBUSY);
  EXPECT_EQ(errno_for(vault::FsError(std::errc::no_such_file_or_directory)), ENOENT);
  EXPECT_EQ(errno_for(vault::FsError(std::errc::file_exists)), EEXIST);
  EXPECT_EQ(errno_for(std::bad_alloc()), ENOMEM);
  EXPECT_EQ(errno_for(42), EIO);  // anything unforeseen is an I/O error, never success
}

}  // namespace
}  // namespace coffer::fusefs
