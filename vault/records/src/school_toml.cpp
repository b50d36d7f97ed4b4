// The school's TOML files; see school_toml.h.
#include "coffer/vault/records/school_toml.h"

#include "coffer/error.h"
#include "coffer/vault/records/profile.h"

namespace coffer::vault {

void toml_error(const std::filesystem::path& file, const toml::source_region& where, const std::string& what) {
  throw Error(ErrorCode::kUsage, file.string() + ":" + std::to_string(where.begin.line) + ": " + what);
}

toml::table load_trusted_toml(const std::filesystem::path& file) {
  require_trusted_policy_file(file);
  try {
    return toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    toml_error(file, e.source(), std::string(e.description()));
  }
}

}  // namespace coffer::vault
