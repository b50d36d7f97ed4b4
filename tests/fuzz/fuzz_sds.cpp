// Fuzz target: the SDS v2.1 importer. The input is split on 0xFF (never
// valid in UTF-8) into users.csv, roles.csv, demographics.csv,
// enrollments.csv, classes.csv and relationships.csv; an empty part leaves
// that file out. Any input must import or be refused with coffer::Error.
// When a set imports, selecting its first pupil by key must give exactly
// that pupil, and one of its classes must select it again.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/error.h"
#include "coffer/vault/records/import.h"

using namespace coffer::vault;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static constexpr std::array<const char*, 6> kNames = {"set/users.csv",        "set/roles.csv",
                                                        "set/demographics.csv", "set/enrollments.csv",
                                                        "set/classes.csv",      "set/relationships.csv"};
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<SourceFile> files;
  for (std::size_t i = 0; i < kNames.size() && !in.empty(); ++i) {
    std::size_t end = in.find('\xFF');
    std::string_view part = in.substr(0, end);
    if (!part.empty()) files.push_back({kNames[i], std::string(part)});
    in = end == std::string_view::npos ? std::string_view() : in.substr(end + 1);
  }
  try {
    SourceData all = parse_sds(files, {});
    if (all.pupils.size() != all.source_pupils) std::abort();
    if (all.pupils.empty()) return 0;
    const Pupil& first = all.pupils.front();
    SourceData one = parse_sds(files, Selection{{first.key}, {}});
    if (one.pupils.size() != 1 || one.pupils.front().key != first.key) std::abort();
    if (!first.classes.empty()) {
      SourceData group = parse_sds(files, Selection{{}, {first.classes.front()}});
      if (std::none_of(group.pupils.begin(), group.pupils.end(), [&](const Pupil& p) { return p.key == first.key; }))
        std::abort();
    }
  } catch (const coffer::Error&) {
  }
  return 0;
}
