// Reading everything an unlocked coffer holds, through the vault API, as
// named parts (roster.csv, each pupil's sheet, the manifest, each file in
// files/, the audit trail...). Each part is read on its own, so damage that
// makes one part fail cannot hide wrong data in another.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "coffer/error.h"
#include "coffer/vault/coffer/coffer.h"

namespace coffer::tamper {

// Where the parts are: found in the undamaged coffer, then looked for in
// each damaged copy (a damaged copy must not decide what is read).
struct Layout {
  std::vector<std::string> file_paths;                       // regular files and symlinks under files/
  std::vector<std::pair<std::int64_t, std::string>> pupils;  // record id, folder name
};

enum class ReadStatus {
  kOk,           // value holds the part's content
  kCofferError,  // a coffer::Error (code, message in value)
  kFsError,      // a POSIX error (ENOENT...) for a part that exists: data went missing silently
  kException,    // any other exception: a bug
};

struct PartRead {
  std::string name;
  ReadStatus status = ReadStatus::kOk;
  std::string value;  // the content, or the error's message
  ErrorCode code = ErrorCode::kOther;
};

Layout discover_layout(vault::Coffer& coffer);

// Reads every part. Events this unlock wrote (seq > audit_events_before)
// are compared without their pid, which is the reading process's own.
std::vector<PartRead> read_parts(vault::Coffer& coffer, const Layout& layout, std::size_t audit_events_before);

}  // namespace coffer::tamper
