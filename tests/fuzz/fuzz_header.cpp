// Fuzz target: the container header parser and copy selection. Any input
// must parse or be refused with coffer::Error; a parsed copy must serialise
// back to exactly the same bytes.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "coffer/error.h"
#include "coffer/vault/container/header.h"

using namespace coffer::vault;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  ParsedCopy p = parse_header_copy(in.first(std::min(size, kHeaderCopySize)));
  if (p.header) {
    HeaderCopy again = serialize_header(*p.header);
    if (!std::equal(again.begin(), again.end(), data)) std::abort();
  }
  if (size >= 2 * kHeaderCopySize) {
    try {
      select_header(in.first(kHeaderCopySize), in.subspan(kHeaderCopySize, kHeaderCopySize), "fuzz");
    } catch (const coffer::Error&) {
    }
  }
  return 0;
}
