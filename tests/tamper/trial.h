// One tamper trial, examined in a child process: unlock the damaged copy,
// read every part, compare with the undamaged coffer, run fsck and the audit
// verification. The child reports back through a pipe; a crash, a signal or
// a hang (alarm) ends only the child, and is reported as such.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "snapshot.h"

namespace coffer::tamper {

// What the undamaged coffer reads as, and where its parts are.
struct Expected {
  Layout layout;
  std::vector<PartRead> parts;  // all ok
  std::size_t audit_events_before = 0;
};

struct PartProblem {
  std::string part;
  std::string message;  // an error's message, or how the data differed
  std::string code;     // the coffer::Error code's name, if any
};

struct Examination {
  bool finished = false;     // the child reported (no crash, no hang)
  std::string abnormal_end;  // "signal 11", "timeout after 60 s", "exit 1"...
  bool unlocked = false;
  std::string refusal_code;  // when not unlocked
  std::string refusal_message;
  std::vector<std::string> warnings;       // header copies repaired at unlock
  std::vector<PartProblem> damaged;        // reads refused with kDamaged
  std::vector<PartProblem> other_errors;   // reads refused with another code
  std::vector<PartProblem> wrong;          // reads that returned other data without an error
  std::vector<std::string> fsck_problems;  // Coffer::check() and verify_audit()
  std::vector<std::string> unexpected;     // exceptions that are not coffer::Error
};

std::string_view code_name(ErrorCode code);

// Unlocks and reads `coffer` (with the trial passphrase and clock) in this
// process; used for the undamaged baseline. Throws if anything fails.
Expected read_expected(const std::filesystem::path& coffer, std::size_t audit_events_before);

// Examines `coffer` in a forked child, killed by SIGALRM after
// `timeout_seconds`.
Examination examine_in_child(const std::filesystem::path& coffer, const Expected& expected, unsigned timeout_seconds);

}  // namespace coffer::tamper
