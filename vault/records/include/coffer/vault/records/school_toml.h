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

// Checks the trust rule (require_trusted_policy_file, profile.h), then
// parses; a syntax error is reported through toml_error.
toml::table load_trusted_toml(const std::filesystem::path& file);

}  // namespace coffer::vault
