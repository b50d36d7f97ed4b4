// Typed error -> errno; see errno_map.h.
#include "errno_map.h"

#include <cerrno>
#include <new>

#include "coffer/error.h"
#include "coffer/vault/files/filestore.h"

namespace coffer::fusefs {

int errno_of_current_exception() noexcept {
  try {
    throw;
  } catch (const vault::FsError& e) {
    return static_cast<int>(e.code());
  } catch (const Error& e) {
    switch (e.code()) {
      case ErrorCode::kNoSpace:
        return ENOSPC;
      case ErrorCode::kPolicy:
        return EACCES;
      case ErrorCode::kBusy:
        return EBUSY;
      case ErrorCode::kUsage:
        return EINVAL;
      case ErrorCode::kDamaged:  // an integrity failure is EIO, never data
      case ErrorCode::kIo:
      default:
        return EIO;
    }
  } catch (const std::bad_alloc&) {
    return ENOMEM;
  } catch (...) {
    return EIO;
  }
}

}  // namespace coffer::fusefs
