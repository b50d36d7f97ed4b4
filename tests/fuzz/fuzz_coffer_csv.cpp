// Fuzz target: the coffer-csv importer and what follows it. The input is
// split on the first 0xFF (never valid in UTF-8) into pupils.csv and
// contacts.csv; without a 0xFF there is no contacts.csv. Any input must
// import or be refused with coffer::Error. When it imports: every pupil is
// taken by an empty selection, selecting the first pupil by key gives
// exactly that pupil, prepare_import with the built-in trip profile refuses
// the empty selection and leaves only the profile's field groups, and the
// views render (folder names fit one path component).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "coffer/error.h"
#include "coffer/vault/records/import.h"
#include "coffer/vault/records/profile.h"
#include "coffer/vault/records/record.h"
#include "coffer/vault/records/views.h"

using namespace coffer::vault;

namespace {

const Profile& trip() {
  static const Profile* p = [] {
    for (auto& q : builtin_profiles())
      if (q.name == "trip") return &q;
    std::abort();
  }();
  return *p;
}

void check_prepared(const PreparedImport& prepared) {
  for (auto& p : prepared.pupils) {
    for (auto& g : groups_present(p))
      if (!trip().fields.count(g)) std::abort();
    PupilEntry entry{1, p.key, p.display_name()};
    std::string folder = pupil_folder_name(entry);
    if (folder.size() > 255 || folder.find('/') != std::string::npos) std::abort();
    (void)profile_txt(p, prepared.fields);
  }
  (void)roster_csv(prepared.pupils, prepared.fields);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::size_t sep = in.find('\xFF');
  SourceFile pupils{"pupils.csv", std::string(in.substr(0, sep))};
  std::optional<SourceFile> contacts;
  if (sep != std::string_view::npos) contacts = SourceFile{"contacts.csv", std::string(in.substr(sep + 1))};

  std::string key = "P00001";
  try {
    SourceData all = parse_coffer_csv(pupils, contacts, {});
    if (all.pupils.size() != all.source_pupils) std::abort();
    for (auto& p : all.pupils) {
      if (p.key.empty()) std::abort();
      if (!std::is_sorted(p.contacts.begin(), p.contacts.end(),
                          [](const Contact& a, const Contact& b) { return a.priority < b.priority; }))
        std::abort();
      for (auto& c : p.contacts)
        if (c.priority < 1 || c.name.empty()) std::abort();
    }
    if (!all.pupils.empty()) key = all.pupils.front().key;
    // The trip profile refuses a whole-school import.
    try {
      prepare_import(all, trip(), {}, {true});
      std::abort();
    } catch (const coffer::Error&) {
    }
  } catch (const coffer::Error&) {
  }

  Selection one{{key}, {}};
  try {
    SourceData d = parse_coffer_csv(pupils, contacts, one);
    if (d.pupils.size() != 1 || d.pupils.front().key != key) std::abort();
    for (bool allow_missing : {false, true}) {
      try {
        check_prepared(prepare_import(d, trip(), one, {allow_missing}));
      } catch (const coffer::Error&) {
      }
    }
  } catch (const coffer::Error&) {
  }
  return 0;
}
