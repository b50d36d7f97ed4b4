// ErrorCode -> exit code; see exit_codes.h.
#include "exit_codes.h"

namespace coffer::cli {

int exit_code_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOther:
      return kExitOther;
    case ErrorCode::kUsage:
      return kExitUsage;
    case ErrorCode::kWrongPassphrase:
      return kExitWrongPassphrase;
    case ErrorCode::kDamaged:
      return kExitDamaged;
    case ErrorCode::kExpired:
      return kExitExpired;
    case ErrorCode::kPolicy:
      return kExitPolicy;
    case ErrorCode::kIo:
      return kExitIo;
    case ErrorCode::kNoSpace:
      return kExitIo;
    case ErrorCode::kBusy:
      return kExitBusy;
    case ErrorCode::kLockedOut:
      return kExitLockedOut;
  }
  return kExitOther;
}

const char* exit_code_help() {
  return "Exit codes: 0 success, 1 other error, 2 usage, 3 wrong passphrase,\n"
         "  4 not a coffer / damaged / tampered, 5 expired, 6 refused by policy,\n"
         "  7 I/O error, 8 busy (open elsewhere), 9 locked out.";
}

}  // namespace coffer::cli
