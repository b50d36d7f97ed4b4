// Slot descriptions; see describe.h.
#include "describe.h"

#include <fmt/core.h>

namespace coffer::cli {

std::string describe_slot(const vault::KeySlot& s) {
  if (s.damaged) return "DAMAGED (its checksum fails; it cannot open the coffer)";
  if (!s.in_use()) return "empty";
  std::uint64_t mem = s.kdf.mem_limit;
  std::string size = mem >= (1u << 20) ? fmt::format("{} MiB", mem >> 20) : fmt::format("{} KiB", mem >> 10);
  return fmt::format("passphrase (argon2id, {}, {} pass{}){}", size, s.kdf.ops_limit, s.kdf.ops_limit == 1 ? "" : "es",
                     keystore::is_insecure(s.kdf) ? " INSECURE test cost" : "");
}

}  // namespace coffer::cli
