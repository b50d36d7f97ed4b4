// Importers: each reads one MIS export format into canonical pupil records,
// keeps only the selected pupils, drops every deny-listed column or element
// (reporting its name, never its values) and names file, line and column
// for anything it cannot read. They are pure functions over file contents,
// so tests and fuzzers drive them without a disk; read_source() loads the
// files. See docs/IMPORT.md for every format's contract.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/vault/records/record.h"

namespace coffer::vault {

enum class SourceFormat { kCofferCsv, kMappedCsv, kOneRoster, kCtf, kSds };
std::string_view format_name(SourceFormat f);
std::optional<SourceFormat> parse_format(std::string_view name);

struct SourceFile {
  std::string name;  // shown in messages (the path as given)
  std::string text;
};

// Which pupils to take: by the source's own pupil key, or every pupil in a
// registration group or class. Empty = everyone (refused for profiles that
// require a selection, see prepare_import).
struct Selection {
  std::set<std::string> pupils;
  std::set<std::string> groups;
  bool empty() const { return pupils.empty() && groups.empty(); }
  bool selects(const Pupil& p) const;
};

// What an importer read.
struct SourceData {
  std::string format;                    // "coffer-csv", "OneRoster 1.1", "CTF 25.0", ...
  std::vector<Pupil> pupils;             // the selected pupils only
  std::size_t source_pupils = 0;         // how many pupils the source holds
  std::set<std::string> dropped;         // deny-listed columns/elements dropped (names)
  std::set<std::string> unmapped;        // other columns not carried (names)
  std::vector<std::string> warnings;     // "file:line: ..." (no personal data)
  std::set<std::string> matched_groups;  // selection groups that matched a pupil
  // Pupil key -> where its date of birth was read ("file:line: column DOB
  // (7): "), so prepare_import can name it.
  std::map<std::string, std::string> dob_where;
  // The source fields (source_fields() names) the source has a column or
  // element for, whether or not any pupil has a value: an empty allergies
  // column is "none recorded", no allergies column is "not provided".
  std::set<std::string> provided;
};

// Throws Error(kUsage) "file:line:column: what; what to do" for bad input,
// and for selected pupil keys or groups the source does not contain.
SourceData parse_coffer_csv(const SourceFile& pupils, const std::optional<SourceFile>& contacts,
                            const Selection& selection);
SourceData parse_mapped_csv(const SourceFile& csv, const SourceFile& mapping, const Selection& selection);
// files: the OneRoster CSVs; each is recognised by the file name part of
// its name ("dir/users.csv" is users.csv), so messages can name the path.
SourceData parse_oneroster(const std::vector<SourceFile>& files, const Selection& selection);
SourceData parse_ctf(const SourceFile& xml, const Selection& selection);
// files: a Microsoft School Data Sync v2.1 CSV set, recognised by file name
// as for OneRoster (users.csv and roles.csv required). userFlags.csv is
// never parsed (its name is reported as dropped; read_source does not even
// load it), and of demographics.csv only birthDate and sex are read.
SourceData parse_sds(const std::vector<SourceFile>& files, const Selection& selection);

// Guesses the format of a file or directory by content (research §6.6).
// A directory with users.csv is OneRoster or SDS v2.1, told apart by the
// file set and headers (docs/IMPORT.md); when the signs disagree or are
// missing it throws, naming both, instead of guessing.
SourceFormat detect_format(const std::filesystem::path& from);
// Loads the files a format needs from `from` (a file or a directory) and
// parses them. A mapping file is required for kMappedCsv.
SourceData read_source(SourceFormat format, const std::filesystem::path& from,
                       const std::optional<std::filesystem::path>& mapping, const Selection& selection);

// Reads a --pupils-file: one pupil key per line, blank lines and # comments
// ignored.
std::set<std::string> read_pupil_list(const std::filesystem::path& file);

struct ImportOptions {
  bool allow_missing = false;  // import pupils lacking a required field anyway
  // Today's date (from the caller's clock): a date of birth after it is
  // refused like an impossible date. Unset: not checked.
  std::optional<Date> today = std::nullopt;
};

// The records that will go into a coffer, minimised to its profile.
struct PreparedImport {
  std::string format;
  std::vector<Pupil> pupils;
  std::vector<std::string> fields;       // the profile's groups carried
  std::set<std::string> dropped;         // deny-listed source columns
  std::set<std::string> not_in_profile;  // field groups the source had, the profile refused
  std::set<std::string> unmapped;
  std::vector<std::string> warnings;
  // Pupils without an emergency contact with a phone, imported because
  // allow_missing said so ("N pupil(s) have no ...: keys"); the CLI warns.
  std::optional<std::string> imported_unreachable;
  std::size_t source_pupils = 0;
  std::set<std::string> provided;  // as SourceData::provided
  // The labels of the source fields the profile carries that the source
  // does not provide ("allergies", ...), in source_fields() order.
  std::vector<std::string> not_provided;
};

// The warning an import or provision gives once per coffer when the source
// lacks fields the profile carries; nullopt when it lacks none.
std::optional<std::string> not_provided_warning(const PreparedImport& p);

// Applies the profile: refuses an empty selection where the profile needs
// one, minimises every record to the allowed groups and checks the fields
// the profile requires (a trip pupil needs an emergency contact with a
// phone unless allow_missing). Throws Error(kUsage) naming the pupil keys.
PreparedImport prepare_import(SourceData data, const Profile& profile, const Selection& selection,
                              const ImportOptions& options);

}  // namespace coffer::vault
