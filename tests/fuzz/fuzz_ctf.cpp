// Fuzz target: the CTF importer. Any bytes must import or be refused with
// coffer::Error. When a file imports, selecting its first pupil by UPN must
// give exactly that pupil.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "coffer/error.h"
#include "coffer/vault/records/import.h"

using namespace coffer::vault;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  SourceFile file{"fuzz.xml", std::string(reinterpret_cast<const char*>(data), size)};
  try {
    SourceData all = parse_ctf(file, {});
    if (all.pupils.size() != all.source_pupils) std::abort();
    if (all.pupils.empty()) return 0;
    std::string key = all.pupils.front().key;
    SourceData one = parse_ctf(file, Selection{{key}, {}});
    if (one.pupils.size() != 1 || one.pupils.front().key != key) std::abort();
  } catch (const coffer::Error&) {
  }
  return 0;
}
