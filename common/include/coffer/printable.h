// Text from outside (file names, owners, purposes, pupil fields, audit
// records) made safe to print to a terminal: every control character — C0
// (ESC and newline included), DEL and C1 (U+0080..U+009F, which some
// terminals obey like ESC sequences) — and every byte that is not valid
// UTF-8 is shown as \xNN, and a backslash as \\, so an escape sequence
// cannot move the cursor, erase earlier lines or fake a line of its own.
// Human output only: JSON escapes by itself.
#pragma once

#include <string>
#include <string_view>

namespace coffer {

std::string printable(std::string_view text);

}  // namespace coffer
