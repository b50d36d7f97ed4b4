// Fuzz target: the mapped-CSV importer. The input is split on the first
// 0xFF (never valid in UTF-8) into the mapping (TOML) and the CSV. Any input
// must import or be refused with coffer::Error; an import never carries a
// column whose name is deny-listed, and every pupil has a key.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "coffer/error.h"
#include "coffer/vault/records/import.h"

using namespace coffer::vault;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::size_t sep = in.find('\xFF');
  if (sep == std::string_view::npos) return 0;
  SourceFile mapping{"map.toml", std::string(in.substr(0, sep))};
  SourceFile csv{"report.csv", std::string(in.substr(sep + 1))};
  try {
    SourceData d = parse_mapped_csv(csv, mapping, {});
    if (d.pupils.size() != d.source_pupils) std::abort();
    for (auto& p : d.pupils)
      if (p.key.empty()) std::abort();
  } catch (const coffer::Error&) {
  }
  return 0;
}
