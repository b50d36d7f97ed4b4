// The damage a tamper trial does to a copy of the populated coffer: one
// mutation per trial, at random places chosen from a seeded generator, so a
// trial is reproduced by its seed and number alone.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coffer::tamper {

enum class MutationKind {
  kFlipAny,        // 1..8 bytes anywhere in the file, header area included
  kFlipHeader,     // 1..8 bytes in the two header copies (sometimes both alike)
  kForgeHeader,    // bytes edited in both copies with every keyless checksum redone
  kZeroPage,       // one whole 16 KiB database page zeroed
  kZeroChainTail,  // the last page of a row's overflow chain zeroed
  kFlipChainTail,  // 1..4 bytes flipped in the last page of a row's overflow chain
  kTruncate,       // cut to a random length, or at a page boundary
  kAppend,         // random bytes appended, or whole random pages
  kSwapPages,      // two database pages exchanged
};

const std::vector<MutationKind>& all_mutation_kinds();
std::string_view kind_name(MutationKind kind);
std::optional<MutationKind> kind_from_name(std::string_view name);

// What the mutation needs to know about the coffer it damages.
struct Target {
  std::uint64_t pages = 0;  // database pages in the file
  // Last pages of overflow chains (1-based page number, whose row).
  std::vector<std::pair<std::uint64_t, std::string>> chain_tails;
};

struct Mutation {
  MutationKind kind;
  std::string description;  // where and what, for the report and reproduction
  bool changed_size = false;
};

// Applies one mutation of `kind` to the file at `path`, in place.
Mutation mutate(const std::filesystem::path& path, MutationKind kind, const Target& target, std::mt19937_64& rng);

// "header copy A +0x1a0 (key slot 0)", "page 17 +0x3f00 (HMAC)", ...
std::string describe_offset(std::uint64_t offset);

}  // namespace coffer::tamper
