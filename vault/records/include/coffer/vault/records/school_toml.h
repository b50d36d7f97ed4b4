// Reading the school's root-owned TOML files (purpose profiles, the system
// policy): the trust rule, parsing, and errors that name the file and line.
// Both loaders use these, so a bad file reads the same in either.
#pragma once

#include <toml++/toml.h>

#include <filesystem>
#include <string>

namespace coffer::vault {

// Throws Error(kUsage) "FILE:LINE: what".
[[noreturn]] void toml_error(const std::filesystem::path& file, const toml::source_region& where,
                             const std::string& what);

// The whole of a root-trusted file. It is opened once, by a walk that
// refuses a symbolic link in any component (openat2 RESOLVE_NO_SYMLINKS),
// and checked and read through that one descriptor: a regular file owned by
// root and not writable by group or others (as sudo treats sudoers).
// Throws Error(kPolicy) otherwise, saying why.
std::string read_trusted_file(const std::filesystem::path& path);

// read_trusted_file, then parses; a syntax error is reported through
// toml_error.
toml::table load_trusted_toml(const std::filesystem::path& file);

}  // namespace coffer::vault
