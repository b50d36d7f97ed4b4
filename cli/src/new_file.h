// Writing output files IT keeps (keys, manifests, handover sheets): never
// replacing an existing file unless asked to, synced before success is
// reported, so a crash leaves either the old or the new content.
#pragma once

#include <sys/types.h>
#include <optional>
#include <string>

namespace coffer::cli {

// Creates path (O_EXCL, no symlink follow) with mode, writes text, fsyncs.
// Throws kPolicy if it exists, kIo otherwise; leaves no partial file.
void write_new_file(const std::string& path, const std::string& text, mode_t mode);
// Replaces path (or creates it) with text atomically: writes and syncs a
// temporary sibling, renames it over path, syncs the directory. A crash
// leaves the old content or the new, never a mix. Throws kIo.
void replace_file(const std::string& path, const std::string& text, mode_t mode);
// Renames from to `to` without replacing an existing `to` (kPolicy if it
// exists), then syncs the directory. Throws kIo otherwise.
void rename_new(const std::string& from, const std::string& to);
// fsync of a directory, so a create, rename or unlink in it is durable.
void sync_directory(const std::string& dir);
// The content of a small regular file (not followed if a symlink), or
// nullopt if it does not exist. Throws kIo for any other failure.
std::optional<std::string> read_file_if_exists(const std::string& path);

}  // namespace coffer::cli
