// Format names, loading sources from disk, and applying a coffer's profile
// to what an importer read; see import.h.
#include "coffer/vault/records/import.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "coffer/error.h"
#include "csv_table.h"
#include "import_common.h"

namespace coffer::vault {
namespace fs = std::filesystem;
namespace {

// Big enough for any school's export, small enough that a wrong path (a
// disk image, a video) is refused instead of read into memory.
constexpr std::uintmax_t kMaxSourceBytes = 256u << 20;

SourceFile load(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw Error(ErrorCode::kUsage, path.string() + ": no such file (or not a regular file)");
  if (fs::file_size(path, ec) > kMaxSourceBytes)
    throw Error(ErrorCode::kUsage, path.string() + ": larger than 256 MiB; is this the right file?");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return SourceFile{path.string(), s.str()};
}

std::string lower_ascii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string join_keys(const std::vector<std::string>& keys) {
  std::string out;
  for (std::size_t i = 0; i < keys.size() && i < 10; ++i) out += (i ? ", " : "") + keys[i];
  if (keys.size() > 10) out += " and " + std::to_string(keys.size() - 10) + " more";
  return out;
}

}  // namespace

std::string_view format_name(SourceFormat f) {
  switch (f) {
    case SourceFormat::kCofferCsv:
      return "coffer-csv";
    case SourceFormat::kMappedCsv:
      return "csv";
    case SourceFormat::kOneRoster:
      return "oneroster";
    case SourceFormat::kCtf:
      return "ctf";
    case SourceFormat::kSds:
      return "sds";
  }
  return "?";
}

std::optional<SourceFormat> parse_format(std::string_view name) {
  for (auto f : {SourceFormat::kCofferCsv, SourceFormat::kMappedCsv, SourceFormat::kOneRoster, SourceFormat::kCtf,
                 SourceFormat::kSds})
    if (format_name(f) == name) return f;
  return std::nullopt;
}

bool Selection::selects(const Pupil& p) const {
  if (empty() || pupils.contains(p.key) || groups.contains(p.reg_group)) return true;
  return std::any_of(p.classes.begin(), p.classes.end(), [&](const std::string& c) { return groups.contains(c); });
}

namespace {

// The header row's names (first line, BOM and quotes stripped), or empty
// when the file is not there. Enough to tell formats apart; the importer
// then reads the file properly.
std::vector<std::string> header_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string line;
  if (!in || !std::getline(in, line)) return {};
  if (line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= line.size()) {
    std::size_t end = line.find(',', pos);
    if (end == std::string::npos) end = line.size();
    std::string cell = detail::trim(std::string_view(line).substr(pos, end - pos));
    if (cell.size() >= 2 && cell.front() == '"' && cell.back() == '"') cell = cell.substr(1, cell.size() - 2);
    out.push_back(std::move(cell));
    pos = end + 1;
  }
  return out;
}

bool has(const std::vector<std::string>& header, std::string_view name) {
  return std::find(header.begin(), header.end(), name) != header.end();
}

// A directory with users.csv: OneRoster (1.1 or 1.2) or Microsoft SDS v2.1.
// Signs of each, from the file set and the headers (docs/IMPORT.md):
//  OneRoster: manifest.csv; users.csv with status, enabledUser, role or
//    agentSourcedIds; roles.csv with sourcedId or roleType.
//  SDS: relationships.csv or userFlags.csv; users.csv with
//    activeDirectoryMatchId; roles.csv with orgSourcedId but no sourcedId.
SourceFormat oneroster_or_sds(const fs::path& dir) {
  std::error_code ec;
  auto present = [&](const char* name) {
    // Any case: a set copied through Windows may say UserFlags.csv.
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (lower_ascii(it->path().filename().string()) == name) return true;
    return false;
  };
  auto users = header_of(dir / "users.csv");
  auto roles = header_of(dir / "roles.csv");
  std::vector<std::string> oneroster, sds;  // the signs seen, for the message
  if (present("manifest.csv")) oneroster.push_back("manifest.csv");
  for (const char* c : {"status", "enabledUser", "role", "agentSourcedIds"})
    if (has(users, c)) oneroster.push_back(std::string("users.csv column ") + c);
  if (has(roles, "sourcedId") || has(roles, "roleType")) oneroster.push_back("roles.csv with sourcedId/roleType");
  if (present("relationships.csv")) sds.push_back("relationships.csv");
  if (present("userflags.csv")) sds.push_back("userFlags.csv");
  if (has(users, "activeDirectoryMatchId")) sds.push_back("users.csv column activeDirectoryMatchId");
  if (has(roles, "orgSourcedId") && !has(roles, "sourcedId")) sds.push_back("roles.csv with orgSourcedId");
  if (!oneroster.empty() && sds.empty()) return SourceFormat::kOneRoster;
  if (!sds.empty() && oneroster.empty()) return SourceFormat::kSds;
  auto list = [](const std::vector<std::string>& v) {
    std::string out;
    for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out.empty() ? std::string("none") : out;
  };
  throw Error(ErrorCode::kUsage, dir.string() +
                                     ": cannot tell OneRoster from Microsoft School Data Sync (SDS v2.1): signs of "
                                     "OneRoster: " +
                                     list(oneroster) + "; signs of SDS: " + list(sds) +
                                     "; name the format with --format oneroster or --format sds");
}

}  // namespace

SourceFormat detect_format(const fs::path& from) {
  std::error_code ec;
  if (fs::is_directory(from, ec)) {
    if (fs::exists(from / "users.csv")) return oneroster_or_sds(from);
    if (fs::exists(from / "manifest.csv")) return SourceFormat::kOneRoster;
    if (fs::exists(from / "pupils.csv")) return SourceFormat::kCofferCsv;
    throw Error(
        ErrorCode::kUsage,
        from.string() + ": holds neither pupils.csv (coffer-csv) nor manifest.csv/users.csv (OneRoster or SDS v2.1)",
        Remedy::kNameFormat);
  }
  SourceFile f = load(from);
  std::string_view head = std::string_view(f.text).substr(0, 4096);
  if (head.find("<CTfile") != std::string_view::npos) return SourceFormat::kCtf;
  if (from.filename() == "pupils.csv") return SourceFormat::kCofferCsv;
  if (from.filename() == "users.csv") {
    fs::path dir = from.parent_path().empty() ? fs::path(".") : from.parent_path();
    return oneroster_or_sds(dir);
  }
  if (from.filename() == "manifest.csv") return SourceFormat::kOneRoster;
  throw Error(ErrorCode::kUsage, from.string() + ": cannot tell the format", Remedy::kNameFormatOfFile);
}

namespace {

SourceData read_source_unchecked(SourceFormat format, const fs::path& from, const std::optional<fs::path>& mapping,
                                 const Selection& selection) {
  std::error_code ec;
  bool dir = fs::is_directory(from, ec);
  if (!dir && !fs::exists(from, ec))
    throw Error(ErrorCode::kUsage, from.string() + ": no such file or directory",
                format == SourceFormat::kOneRoster || format == SourceFormat::kCofferCsv || format == SourceFormat::kSds
                    ? Remedy::kSourceDirectoryPath
                    : Remedy::kSourceFilePath);
  switch (format) {
    case SourceFormat::kCofferCsv: {
      fs::path pupils = dir ? from / "pupils.csv" : from;
      fs::path contacts = pupils.parent_path() / "contacts.csv";
      std::optional<SourceFile> c;
      if (fs::exists(contacts, ec)) c = load(contacts);
      return parse_coffer_csv(load(pupils), c, selection);
    }
    case SourceFormat::kMappedCsv:
      if (!mapping) throw Error(ErrorCode::kUsage, "a mapped CSV needs its column mapping", Remedy::kMappingNeeded);
      if (dir) throw Error(ErrorCode::kUsage, from.string() + " is a directory", Remedy::kMappedCsvIsOneFile);
      return parse_mapped_csv(load(from), load(*mapping), selection);
    case SourceFormat::kOneRoster:
    case SourceFormat::kSds: {
      const bool sds = format == SourceFormat::kSds;
      const std::string what = sds ? "SDS" : "OneRoster";
      fs::path d = dir ? from : from.parent_path();
      if (d.empty()) d = ".";
      std::vector<SourceFile> files;
      fs::directory_iterator it(d, ec);
      if (ec)
        throw Error(ErrorCode::kIo, "cannot list the " + what + " directory " + d.string() + ": " + ec.message() +
                                        "; check the path and its permissions");
      for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (!it->is_regular_file(ec) || it->path().extension() != ".csv") continue;
        // SDS's userFlags.csv (IEP, 504, free lunch) is never read, not
        // even into memory: the importer only reports its name.
        if (sds && lower_ascii(it->path().filename().string()) == "userflags.csv")
          files.push_back(SourceFile{it->path().string(), ""});
        else files.push_back(load(it->path()));
      }
      if (ec) throw Error(ErrorCode::kIo, "cannot list the " + what + " directory " + d.string() + ": " + ec.message());
      return sds ? parse_sds(files, selection) : parse_oneroster(files, selection);
    }
    case SourceFormat::kCtf:
      if (dir) throw Error(ErrorCode::kUsage, from.string() + " is a directory; a CTF is one XML file");
      return parse_ctf(load(from), selection);
  }
  throw Error(ErrorCode::kUsage, "unknown format");
}

}  // namespace

SourceData read_source(SourceFormat format, const fs::path& from, const std::optional<fs::path>& mapping,
                       const Selection& selection) {
  try {
    return read_source_unchecked(format, from, mapping, selection);
  } catch (const fs::filesystem_error& e) {
    // The checks above name the usual mistakes; anything else the OS
    // refuses is still an error with its path, never an internal error.
    throw Error(ErrorCode::kIo, "cannot read the MIS export " + from.string() + ": " + e.code().message() +
                                    "; check the path and its permissions");
  }
}

std::set<std::string> read_pupil_list(const fs::path& file) {
  SourceFile f = load(file);
  std::set<std::string> keys;
  std::istringstream in(f.text);
  std::string line;
  while (std::getline(in, line)) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    line = detail::trim(line);
    if (!line.empty()) keys.insert(line);
  }
  if (keys.empty()) throw Error(ErrorCode::kUsage, file.string() + ": lists no pupils (one pupil key per line)");
  return keys;
}

std::optional<std::string> not_provided_warning(const PreparedImport& p) {
  if (p.not_provided.empty()) return std::nullopt;
  std::string what;
  for (auto& f : p.not_provided) what += (what.empty() ? "" : ", ") + f;
  return p.format + " does not provide " + what +
         " for this profile; the sheets say \"not provided\" there: check with the school office";
}

PreparedImport prepare_import(SourceData data, const Profile& profile, const Selection& selection,
                              const ImportOptions& options) {
  if (profile.selection_required && selection.empty())
    throw Error(
        ErrorCode::kUsage,
        "the " + profile.name + " profile takes only the pupils who need to be in it; a whole-school import is refused",
        Remedy::kSelectPupils);
  PreparedImport out;
  out.format = data.format;
  out.dropped = std::move(data.dropped);
  out.unmapped = std::move(data.unmapped);
  out.warnings = std::move(data.warnings);
  out.source_pupils = data.source_pupils;
  out.fields.assign(profile.fields.begin(), profile.fields.end());
  out.provided = std::move(data.provided);
  for (auto& f : source_fields())
    if (f.name != "names" && profile.fields.contains(std::string(f.group)) &&
        !out.provided.contains(std::string(f.name)))
      out.not_provided.emplace_back(f.label);

  std::vector<std::string> unnamed, unreachable;
  const bool needs_contact = profile.fields.contains("emergency_contacts");
  if (options.today)
    for (auto& p : data.pupils)
      if (p.dob && *options.today < *p.dob) {
        auto w = data.dob_where.find(p.key);
        throw Error(ErrorCode::kUsage, (w == data.dob_where.end() ? "pupil " + p.key + ": " : w->second) +
                                           "the date of birth is in the future; correct it in the MIS and "
                                           "export again");
      }
  for (auto& p : data.pupils) {
    for (auto& g : groups_present(p))
      if (!profile.fields.contains(g)) out.not_in_profile.insert(g);
    minimise(p, out.fields);
    if (p.surname.empty() || p.forename.empty()) unnamed.push_back(p.key);
    if (needs_contact) {
      bool reachable = std::any_of(p.contacts.begin(), p.contacts.end(),
                                   [](const Contact& c) { return !c.do_not_release && !c.phones.empty(); });
      if (!reachable) unreachable.push_back(p.key);
    }
  }
  if (!unnamed.empty())
    throw Error(ErrorCode::kUsage, std::to_string(unnamed.size()) + " pupil(s) have no surname or forename: " +
                                       join_keys(unnamed) + "; fix the export and import again");
  if (!unreachable.empty()) {
    std::string what = std::to_string(unreachable.size()) +
                       " pupil(s) have no emergency contact with a phone number: " + join_keys(unreachable);
    if (!options.allow_missing) throw Error(ErrorCode::kUsage, what, Remedy::kAllowMissingContacts);
    out.imported_unreachable = what;
  }
  std::sort(data.pupils.begin(), data.pupils.end(), [](const Pupil& a, const Pupil& b) {
    return std::tie(a.surname, a.forename, a.key) < std::tie(b.surname, b.forename, b.key);
  });
  out.pupils = std::move(data.pupils);
  return out;
}

}  // namespace coffer::vault
