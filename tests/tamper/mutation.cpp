// The mutations of a tamper trial; see mutation.h. Offsets follow
// docs/FORMAT.md: two 4096-byte header copies, then SQLCipher pages of
// 16384 bytes (page p at 8192 + (p - 1) * 16384).
#include "mutation.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <span>
#include <stdexcept>

#include "coffer/keystore/digest.h"
#include "coffer/vault/container/header.h"
#include "test_support.h"

namespace coffer::tamper {
namespace {

constexpr std::uint64_t kHeaderArea = 2 * vault::kHeaderCopySize;
constexpr std::uint64_t kPage = 16384;
constexpr std::uint64_t kReserveStart = kPage - 48;  // IV 16, HMAC 20, padding 12

using Bytes = std::vector<std::uint8_t>;

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::uint64_t uniform(std::mt19937_64& rng, std::uint64_t lo, std::uint64_t hi) {
  return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
}

std::uint8_t nonzero_byte(std::mt19937_64& rng) { return static_cast<std::uint8_t>(uniform(rng, 1, 255)); }

std::uint64_t page_offset(std::uint64_t page) { return kHeaderArea + (page - 1) * kPage; }

std::string header_field(std::uint64_t o) {
  using namespace vault;
  if (o < 8) return "magic";
  if (o < 16) return "version, size, flags";
  if (o < 32) return "vault id";
  if (o < 48) return "created, expires";
  if (o < 80) return "purpose";
  if (o < kSlotsOffset) return "owner";
  if (o < kRecoveryOffset) return "key slot " + std::to_string((o - kSlotsOffset) / kSlotSize);
  if (o < kAuditOffset) return "recovery slot";
  if (o < kAuditOffset + kAuditSize) return "audit key field";
  if (o < kMacOffset) return "reserved";
  if (o < kGenerationOffset) return "header MAC";
  if (o < kFailedAttemptsOffset) return "generation (unauthenticated)";
  if (o < kFailedAttemptsOffset + 4) return "failed-attempt counter (unauthenticated)";
  if (o < kChecksumOffset) return "reserved tail (unauthenticated)";
  return "copy checksum";
}

std::string page_field(std::uint64_t page, std::uint64_t o) {
  if (page == 1 && o < 16) return "database salt";
  if (o < kReserveStart) return "ciphertext";
  if (o < kReserveStart + 16) return "IV";
  if (o < kReserveStart + 36) return "HMAC";
  return "padding";
}

void flip(Bytes& b, std::uint64_t offset, std::uint8_t mask, std::string& out) {
  b[offset] ^= mask;
  out += (out.empty() ? "" : ", ") + describe_offset(offset) + " ^" + hex(mask);
}

Mutation flip_bytes(Bytes& b, std::mt19937_64& rng, std::uint64_t lo, std::uint64_t hi, MutationKind kind) {
  Mutation m{kind, "", false};
  std::uint64_t n = uniform(rng, 1, 8);
  // Header flips are mirrored into the other copy half of the time: one
  // damaged copy is repaired from the other, both damaged must be refused.
  bool mirror = kind == MutationKind::kFlipHeader && uniform(rng, 0, 1) == 1;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t at = uniform(rng, lo, hi - 1);
    std::uint8_t mask = nonzero_byte(rng);
    flip(b, at, mask, m.description);
    if (mirror) flip(b, at ^ vault::kHeaderCopySize, mask, m.description);
  }
  m.description = "flip " + std::to_string(n) + (mirror ? " byte(s) in both copies: " : " byte(s): ") + m.description;
  return m;
}

bool inside_keyless_checksum(std::uint64_t o) {
  using namespace vault;
  if (o >= kSlotsOffset && o < kRecoveryOffset) return (o - kSlotsOffset) % kSlotSize >= 104;
  return o >= kRecoveryOffset + 112 && o < kAuditOffset;
}

// Redoes every checksum a reader checks without the key (slot, recovery
// slot, copy), as someone editing the file on purpose would.
void recompute_checksums(Bytes& b, std::uint64_t base) {
  using namespace vault;
  auto redo = [&](std::uint64_t at, std::uint64_t covered, auto digest) {
    std::span<const std::uint8_t> data(b.data() + at, covered);
    if (std::all_of(data.begin(), data.end(), [](std::uint8_t x) { return x == 0; })) return;
    auto sum = digest(data);
    std::copy(sum.begin(), sum.end(), b.begin() + static_cast<std::ptrdiff_t>(at + covered));
  };
  for (std::size_t i = 0; i < kSlotCount; ++i) redo(base + kSlotsOffset + i * kSlotSize, 104, keystore::checksum16);
  redo(base + kRecoveryOffset, 112, keystore::checksum16);
  auto sum = keystore::checksum32(std::span<const std::uint8_t>(b.data() + base, kChecksumOffset));
  std::copy(sum.begin(), sum.end(), b.begin() + static_cast<std::ptrdiff_t>(base + kChecksumOffset));
}

// The same edit in both copies, with valid checksums: only the header MAC,
// the slot's AEAD and the strict parser are left to notice it.
Mutation forge_header(Bytes& b, std::mt19937_64& rng) {
  Mutation m{MutationKind::kForgeHeader, "", false};
  std::uint64_t n = uniform(rng, 1, 4);
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t at = 0;
    do at = uniform(rng, 0, vault::kChecksumOffset - 1);
    while (inside_keyless_checksum(at));
    std::uint8_t mask = nonzero_byte(rng);
    flip(b, at, mask, m.description);
    b[at + vault::kHeaderCopySize] ^= mask;
  }
  recompute_checksums(b, 0);
  recompute_checksums(b, vault::kHeaderCopySize);
  m.description = "forge " + std::to_string(n) + " byte(s) in both copies, checksums redone: " + m.description;
  return m;
}

Mutation zero_page(Bytes& b, std::uint64_t page, MutationKind kind) {
  std::fill_n(b.begin() + static_cast<std::ptrdiff_t>(page_offset(page)), kPage, std::uint8_t{0});
  return {kind, "zero page " + std::to_string(page), false};
}

const std::pair<std::uint64_t, std::string>& some_chain_tail(const Target& t, std::mt19937_64& rng) {
  return t.chain_tails[uniform(rng, 0, t.chain_tails.size() - 1)];
}

Mutation zero_chain_tail(Bytes& b, const Target& t, std::mt19937_64& rng) {
  const auto& [page, row] = some_chain_tail(t, rng);
  Mutation m = zero_page(b, page, MutationKind::kZeroChainTail);
  m.description += " (the last page of a " + row + "'s overflow chain)";
  return m;
}

// The page then fails SQLCipher's HMAC, which decodes it as zeros (and
// flags the error for the next page fetched): unlike a zeroed page, the
// VFS shim cannot see this one.
Mutation flip_chain_tail(Bytes& b, const Target& t, std::mt19937_64& rng) {
  const auto& [page, row] = some_chain_tail(t, rng);
  Mutation m{MutationKind::kFlipChainTail, "", false};
  std::uint64_t n = uniform(rng, 1, 4);
  for (std::uint64_t i = 0; i < n; ++i)
    flip(b, page_offset(page) + uniform(rng, 0, kReserveStart - 1), nonzero_byte(rng), m.description);
  m.description =
      "flip " + std::to_string(n) + " byte(s) in the last page of a " + row + "'s overflow chain: " + m.description;
  return m;
}

Mutation truncate(Bytes& b, const Target& t, std::mt19937_64& rng) {
  const std::uint64_t old = b.size();
  bool boundary = uniform(rng, 0, 1) == 1;
  std::uint64_t size = boundary ? page_offset(uniform(rng, 1, t.pages)) : uniform(rng, 0, old - 1);
  b.resize(size);
  return {MutationKind::kTruncate,
          "truncate " + std::to_string(old) + " -> " + std::to_string(size) + " bytes" +
              (boundary ? " (page boundary: " + std::to_string((old - size) / kPage) + " page(s) cut)" : ""),
          true};
}

Mutation append(Bytes& b, std::mt19937_64& rng) {
  bool pages = uniform(rng, 0, 1) == 1;
  std::uint64_t n = pages ? kPage * uniform(rng, 1, 2) : uniform(rng, 1, kPage - 1);
  for (std::uint64_t i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(rng()));
  return {MutationKind::kAppend, "append " + std::to_string(n) + " random bytes" + (pages ? " (whole pages)" : ""),
          true};
}

Mutation swap_pages(Bytes& b, const Target& t, std::mt19937_64& rng) {
  std::uint64_t p = uniform(rng, 1, t.pages), q = p;
  while (q == p) q = uniform(rng, 1, t.pages);
  std::swap_ranges(b.begin() + static_cast<std::ptrdiff_t>(page_offset(p)),
                   b.begin() + static_cast<std::ptrdiff_t>(page_offset(p) + kPage),
                   b.begin() + static_cast<std::ptrdiff_t>(page_offset(q)));
  return {MutationKind::kSwapPages, "swap pages " + std::to_string(p) + " and " + std::to_string(q), false};
}

Mutation apply(Bytes& b, MutationKind kind, const Target& t, std::mt19937_64& rng) {
  switch (kind) {
    case MutationKind::kFlipAny:
      return flip_bytes(b, rng, 0, b.size(), kind);
    case MutationKind::kFlipHeader:
      return flip_bytes(b, rng, 0, kHeaderArea, kind);
    case MutationKind::kForgeHeader:
      return forge_header(b, rng);
    case MutationKind::kZeroPage:
      return zero_page(b, uniform(rng, 1, t.pages), kind);
    case MutationKind::kZeroChainTail:
      return zero_chain_tail(b, t, rng);
    case MutationKind::kFlipChainTail:
      return flip_chain_tail(b, t, rng);
    case MutationKind::kTruncate:
      return truncate(b, t, rng);
    case MutationKind::kAppend:
      return append(b, rng);
    case MutationKind::kSwapPages:
      return swap_pages(b, t, rng);
  }
  throw std::logic_error("unknown mutation kind");
}

}  // namespace

const std::vector<MutationKind>& all_mutation_kinds() {
  static const std::vector<MutationKind> kinds{
      MutationKind::kFlipAny,  MutationKind::kFlipHeader,    MutationKind::kForgeHeader,
      MutationKind::kZeroPage, MutationKind::kZeroChainTail, MutationKind::kFlipChainTail,
      MutationKind::kTruncate, MutationKind::kAppend,        MutationKind::kSwapPages};
  return kinds;
}

std::string_view kind_name(MutationKind kind) {
  switch (kind) {
    case MutationKind::kFlipAny:
      return "flip";
    case MutationKind::kFlipHeader:
      return "flip-header";
    case MutationKind::kForgeHeader:
      return "forge-header";
    case MutationKind::kZeroPage:
      return "zero-page";
    case MutationKind::kZeroChainTail:
      return "zero-chain-tail";
    case MutationKind::kFlipChainTail:
      return "flip-chain-tail";
    case MutationKind::kTruncate:
      return "truncate";
    case MutationKind::kAppend:
      return "append";
    case MutationKind::kSwapPages:
      return "swap-pages";
  }
  return "?";
}

std::optional<MutationKind> kind_from_name(std::string_view name) {
  for (MutationKind k : all_mutation_kinds())
    if (kind_name(k) == name) return k;
  return std::nullopt;
}

std::string describe_offset(std::uint64_t offset) {
  if (offset < kHeaderArea) {
    std::uint64_t o = offset % vault::kHeaderCopySize;
    return std::string("header copy ") + (offset < vault::kHeaderCopySize ? "A" : "B") + " +" + hex(o) + " (" +
           header_field(o) + ")";
  }
  std::uint64_t page = (offset - kHeaderArea) / kPage + 1, o = (offset - kHeaderArea) % kPage;
  return "page " + std::to_string(page) + " +" + hex(o) + " (" + page_field(page, o) + ")";
}

Mutation mutate(const std::filesystem::path& path, MutationKind kind, const Target& target, std::mt19937_64& rng) {
  Bytes b = test::read_bytes(path);
  if (b.size() != kHeaderArea + target.pages * kPage)
    throw std::logic_error("the coffer to damage is not the populated one");
  Mutation m = apply(b, kind, target, rng);
  test::write_bytes(path, b);
  return m;
}

}  // namespace coffer::tamper
