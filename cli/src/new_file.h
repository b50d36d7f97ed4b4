// Writing output files IT keeps (keys, manifests, handover sheets): never
// replacing an existing file, synced before success is reported.
#pragma once

#include <string>
#include <sys/types.h>

namespace coffer::cli {

// Creates path (O_EXCL, no symlink follow) with mode, writes text, fsyncs.
// Throws kPolicy if it exists, kIo otherwise; leaves no partial file.
void write_new_file(const std::string& path, const std::string& text, mode_t mode);

}  // namespace coffer::cli
