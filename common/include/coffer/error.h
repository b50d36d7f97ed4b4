// The one typed error for expected failures (wrong passphrase, damage,
// policy refusal, bad input...). Bugs are other exceptions. Each boundary
// (CLI exit codes, FUSE errno) translates ErrorCode through one table.
#pragma once

#include <stdexcept>
#include <string>

namespace coffer {

enum class ErrorCode {
  kOther,            // anything without a more precise code
  kUsage,            // bad arguments
  kWrongPassphrase,  // no key slot opened with the passphrase given
  kDamaged,          // not a coffer, truncated, corrupt, tampered
  kExpired,          // retention period over
  kPolicy,           // refused by policy (weak passphrase, overwrite, ...)
  kIo,               // the operating system failed an I/O call
  kNoSpace,          // the disk is full
  kBusy,             // open in another process
  kLockedOut,        // too many failed unlocks
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace coffer
