// The documented, stable exit codes (docs/CLI.md). A retired code is never
// reused. ErrorCode -> exit code happens here and nowhere else.
#pragma once

#include "coffer/error.h"

namespace coffer::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitOther = 1,
  kExitUsage = 2,
  kExitWrongPassphrase = 3,
  kExitDamaged = 4,  // not a coffer, damaged or tampered
  kExitExpired = 5,
  kExitPolicy = 6,
  kExitIo = 7,
  kExitBusy = 8,
  kExitLockedOut = 9,
};

int exit_code_for(ErrorCode code);
// The table as printed under `coffer --help`.
const char* exit_code_help();

}  // namespace coffer::cli
