// Passphrase key slots; see key_slots.h.
#include "coffer/vault/container/key_slots.h"

#include "coffer/error.h"
#include "coffer/keystore/wrap.h"

namespace coffer::vault {

SlotSearch KeySlots::open(const keystore::Passphrase& passphrase) const {
  SlotSearch out;
  for (std::size_t i = 0; i < kSlotCount; ++i) {
    const KeySlot& slot = header_.slots[i];
    if (slot.damaged) {
      out.refused += "; key slot " + std::to_string(i) + " damaged or altered: its checksum fails (not tried)";
      continue;
    }
    if (slot.state != SlotState::kPassphrase) continue;
    try {
      keystore::validate_kdf_params(slot.kdf);
    } catch (const Error& e) {
      out.refused += "; key slot " + std::to_string(i) + " damaged or altered: " + e.what() + " (not tried)";
      continue;
    }
    out.any_intact = true;
    keystore::Kek kek = keystore::derive_kek(passphrase, slot.kdf);
    auto master =
        keystore::unwrap_key<keystore::MasterKey>(slot.wrapped, kek, slot_associated_data(header_, i, slot.kdf));
    if (master) {
      out.master.emplace(std::move(*master));
      out.slot = i;
      return out;
    }
  }
  return out;
}

std::size_t KeySlots::free_slot(std::optional<std::size_t> wanted) const {
  if (wanted) {
    if (*wanted >= kSlotCount)
      throw Error(ErrorCode::kUsage,
                  "slot " + std::to_string(*wanted) + " does not exist (0.." + std::to_string(kSlotCount - 1) + ")");
    if (header_.slots[*wanted].in_use())
      throw Error(ErrorCode::kPolicy, "slot " + std::to_string(*wanted) + " is already in use");
    return *wanted;
  }
  for (std::size_t i = 0; i < kSlotCount; ++i)
    if (!header_.slots[i].in_use()) return i;
  throw Error(ErrorCode::kPolicy, "all " + std::to_string(kSlotCount) + " key slots are in use; remove one first");
}

void KeySlots::write(std::size_t index, const keystore::MasterKey& master, const keystore::Passphrase& passphrase,
                     keystore::KdfCost cost, keystore::Random& random) {
  if (index >= kSlotCount) throw Error(ErrorCode::kUsage, "no such slot");
  KeySlot slot;
  slot.state = SlotState::kPassphrase;
  slot.kdf = keystore::make_kdf_params(cost, random);
  keystore::Kek kek = keystore::derive_kek(passphrase, slot.kdf);
  slot.wrapped = keystore::wrap_key(master, kek, slot_associated_data(header_, index, slot.kdf), random);
  header_.slots[index] = slot;
}

void KeySlots::remove(std::size_t index) {
  if (index >= kSlotCount || !header_.slots[index].in_use())
    throw Error(ErrorCode::kUsage, "slot " + std::to_string(index) + " is not in use");
  if (header_.slots_in_use() == 1 && !header_.recovery)
    throw Error(ErrorCode::kPolicy, "slot " + std::to_string(index) +
                                        " is the last way into this coffer and it has no recovery key; add another "
                                        "passphrase first");
  header_.slots[index] = KeySlot{};
}

void KeySlots::clear_all() {
  for (auto& s : header_.slots) s = KeySlot{};
}

}  // namespace coffer::vault
