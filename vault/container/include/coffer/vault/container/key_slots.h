// The passphrase key slots of a header (docs/FORMAT.md, "Key slots"): which
// slot a passphrase opens, and writing, choosing and clearing slots. Each
// call changes only the in-memory header; the caller recomputes the MAC,
// writes both copies (write_header_copies) and audits the change.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "coffer/keystore/kdf.h"
#include "coffer/keystore/random.h"
#include "coffer/keystore/secret.h"
#include "coffer/vault/container/header.h"

namespace coffer::vault {

// What trying a passphrase against every intact passphrase slot found.
struct SlotSearch {
  std::optional<keystore::MasterKey> master;  // set when a slot opened
  std::size_t slot = 0;                       // the slot that opened
  bool any_intact = false;                    // some slot could be tried
  // "; key slot N damaged or altered: ..." for each slot that was not tried:
  // its checksum fails, or its KDF cost is outside the caps (never derived).
  std::string refused;
};

class KeySlots {
 public:
  explicit KeySlots(Header& header) : header_(header) {}

  // Tries the passphrase on each intact passphrase slot in order (a slot's
  // KDF parameters are checked against the caps before any derivation; a
  // slot outside them is not intact, like one whose checksum fails).
  SlotSearch open(const keystore::Passphrase& passphrase) const;
  // The slot to add a passphrase in: `wanted` if free, else the first free
  // one. Throws kUsage (no such slot) or kPolicy (in use, or all in use).
  std::size_t free_slot(std::optional<std::size_t> wanted) const;
  // Wraps `master` under the passphrase into slot `index` (any state).
  void write(std::size_t index, const keystore::MasterKey& master, const keystore::Passphrase& passphrase,
             keystore::KdfCost cost, keystore::Random& random);
  // Empties slot `index`; refuses (kPolicy) the last way in when the coffer
  // has no recovery key, and (kUsage) a slot not in use.
  void remove(std::size_t index);
  // Empties every slot (after recovery, before writing slot 0).
  void clear_all();

 private:
  Header& header_;
};

}  // namespace coffer::vault
