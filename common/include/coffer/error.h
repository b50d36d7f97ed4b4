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

// What the user can do about a failure, as data. Libraries say what
// happened (the message) and name the remedy; only the CLI knows its own
// commands and flags, so it words the remedy (cli/src/remedy.cpp). Each
// value is one wording: add a value rather than reuse one that reads wrong.
enum class Remedy {
  kNone,
  // unlocking
  kRecoverLockedOut,     // IT reopens a locked-out coffer with the recovery key
  kRecoverNoPassphrase,  // IT sets a passphrase with the recovery key
  kRecoverNoUsableSlot,  // IT reopens a coffer whose slots are unusable
  kLockOtherProcess,     // the coffer is open elsewhere: lock it there
  // holds and creation
  kHoldNeedsReason,     // a hold needs a reason
  kReleaseHoldWithKey,  // only the recovery key lifts a hold
  kRecoveryKeyIsAudit,  // the key given as recovery key is an audit key
  kAuditKeyIsRecovery,  // the key given as audit key is a recovery key
  // the audit trail
  kVerifyAudit,  // a damaged sidecar: verify the trail
  // importing
  kNameFormat,            // the format of a directory could not be told
  kNameFormatOfFile,      // the format of a file could not be told
  kSourceDirectoryPath,   // the MIS export (a directory) is not there
  kSourceFilePath,        // the MIS export (a file) is not there
  kMappingNeeded,         // a mapped CSV needs its column mapping
  kMappedCsvIsOneFile,    // a mapped CSV is one file, not a directory
  kUseMapping,            // a column outside the contract: map it
  kSelectPupils,          // the profile needs a selection of pupils
  kSelectByUpn,           // a CTF selects by UPN only
  kAllowMissingContacts,  // pupils without a reachable contact
};
// The last value: what a remedy read back from another process (the mount's
// control socket) is checked against. Keep it the last one listed.
inline constexpr Remedy kLastRemedy = Remedy::kAllowMissingContacts;

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, Remedy remedy = Remedy::kNone)
      : std::runtime_error(message), code_(code), remedy_(remedy) {}
  ErrorCode code() const noexcept { return code_; }
  Remedy remedy() const noexcept { return remedy_; }

 private:
  ErrorCode code_;
  Remedy remedy_;
};

}  // namespace coffer
