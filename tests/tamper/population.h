// The populated coffer every tamper trial damages a copy of: pupil records
// imported from the coffer-csv fixture, files in files/ from a few bytes to
// several 128 KiB chunks, audit events in both trails; and which of its
// pages end a chunk's overflow chain.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "coffer/keystore/secret.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/container/clock.h"

namespace coffer::tamper {

// Every unlock of a trial runs at this time, so what it writes (clock mark,
// audit time) is the same in every trial.
inline constexpr std::int64_t kNow = 1795000000;

// The last page of a row's overflow chain: SQLCipher 3.4.1 decodes such a
// page, zeroed or failing its HMAC, as zeros and says nothing until the
// next page is fetched, and after the last page of a chain there may be none.
struct ChainTail {
  std::uint64_t page = 0;  // 1-based SQLite page number
  std::string row;         // "file chunk", "pupil record", "audit event"
};

struct Population {
  std::filesystem::path coffer;  // its audit sidecar is vault::sidecar_path(coffer)
  std::uint64_t pages = 0;       // database pages in the file
  // See chain_tail() in population.cpp for how they are found.
  std::vector<ChainTail> chain_tails;
  std::size_t audit_events = 0;  // in the coffer's chain before any trial unlocks it
  // Strings no error message may contain: the passphrases, pupils' and
  // contacts' names, names of the files stored inside.
  std::vector<std::string> secrets;
};

keystore::Passphrase trial_passphrase();
// As the mount unlocks: raises the clock mark and audits the unlock at once.
vault::UnlockPolicy trial_policy(const vault::Clock& clock);

// Builds the coffer as dir/tamper.coffer (+ .audit) from the fixtures in
// `fixtures` (tests/fixtures).
Population populate(const std::filesystem::path& dir, const std::filesystem::path& fixtures);

// A file's database pages (its size must be the header plus whole pages).
std::uint64_t database_pages(const std::filesystem::path& coffer);

}  // namespace coffer::tamper
