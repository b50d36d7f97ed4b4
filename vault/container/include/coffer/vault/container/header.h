// The container header, format version 1: a fixed 4096-byte copy, stored
// twice (at offsets 0 and 4096) with a generation number and checksum, so a
// torn rewrite never loses the key slots. docs/FORMAT.md gives every byte.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "coffer/keystore/digest.h"
#include "coffer/keystore/kdf.h"
#include "coffer/keystore/school_key.h"
#include "coffer/keystore/wrap.h"

namespace coffer::vault {

inline constexpr std::uint16_t kFormatVersion = 1;
inline constexpr std::size_t kHeaderCopySize = 4096;
inline constexpr std::size_t kSlotCount = 8;
inline constexpr std::size_t kSlotSize = 120;
inline constexpr std::size_t kMaxProfileLength = 31;
inline constexpr std::size_t kMaxOwnerLength = 127;
// Offsets inside one header copy (see docs/FORMAT.md).
inline constexpr std::size_t kSlotsOffset = 208;
inline constexpr std::size_t kRecoveryOffset = kSlotsOffset + kSlotCount * kSlotSize;  // 1168
inline constexpr std::size_t kRecoverySize = 128;
inline constexpr std::size_t kAuditOffset = kRecoveryOffset + kRecoverySize;  // 1296
inline constexpr std::size_t kAuditSize = 64;
inline constexpr std::size_t kMacOffset = 4000;         // MAC covers [0, kMacOffset)
inline constexpr std::size_t kGenerationOffset = 4032;  // unauthenticated from here
inline constexpr std::size_t kFailedAttemptsOffset = 4040;
inline constexpr std::size_t kChecksumOffset = 4064;  // checksum covers [0, 4064)

using HeaderCopy = std::array<std::uint8_t, kHeaderCopySize>;
using VaultId = std::array<std::uint8_t, 16>;

enum class SlotState : std::uint8_t { kEmpty = 0, kPassphrase = 1 };

struct KeySlot {
  SlotState state = SlotState::kEmpty;
  keystore::KdfParams kdf;
  keystore::WrappedKey wrapped;
  // Set by the parser when the slot's own checksum fails; raw keeps its bytes
  // so that serialize(parse(b)) == b still holds.
  bool damaged = false;
  std::array<std::uint8_t, kSlotSize> raw{};
  bool in_use() const { return damaged || state != SlotState::kEmpty; }
};

struct RecoverySlot {
  std::array<std::uint8_t, 16> fingerprint{};
  keystore::SealedMasterKey sealed{};
};

struct AuditKeyRef {
  std::array<std::uint8_t, 16> fingerprint{};
  std::array<std::uint8_t, 32> public_key{};
};

struct Header {
  std::uint16_t version = kFormatVersion;
  VaultId vault_id{};
  std::int64_t created = 0;  // unix seconds
  std::int64_t expires = 0;  // unix seconds: the last second of the expiry day
  std::string profile;
  std::string owner;
  // Flags bit 0: a hold is set (expiry, purges and sweeps suspended). The
  // authoritative copy is inside the database; `sweep` reads this one.
  bool on_hold = false;
  std::array<KeySlot, kSlotCount> slots{};
  std::optional<RecoverySlot> recovery;
  bool recovery_damaged = false;
  std::optional<AuditKeyRef> audit;
  keystore::Digest32 mac{};
  // Unauthenticated (written without the key):
  std::uint64_t generation = 0;
  std::uint32_t failed_attempts = 0;

  std::size_t slots_in_use() const;
};

// Serialises one copy, computing slot checksums and the copy checksum. The
// MAC is written as stored in header.mac (see compute_header_mac).
HeaderCopy serialize_header(const Header& header);

enum class CopyStatus { kOk, kNotCoffer, kBadChecksum, kUnknownVersion, kMalformed };
struct ParsedCopy {
  CopyStatus status = CopyStatus::kMalformed;
  std::optional<Header> header;
  std::string problem;  // human-readable, empty when kOk
};
// Parses one copy strictly. Never throws on any input.
ParsedCopy parse_header_copy(std::span<const std::uint8_t> bytes);

// Chooses between the two copies (the newer valid one). Throws
// Error(kDamaged) naming source when neither copy is usable.
struct SelectedHeader {
  Header header;
  std::vector<std::string> warnings;
  bool needs_repair = false;  // copies differ: rewrite both at the next chance
  // Both copies valid but their MAC-covered bytes differ (an interrupted
  // update, or an older header written back): the copy not chosen. Only the
  // database can tell which of the two is genuine (header_binding.h).
  std::optional<Header> other;
  bool chosen_is_b = false;  // where `header` came from (other is in the other copy)
};
SelectedHeader select_header(std::span<const std::uint8_t> copy_a, std::span<const std::uint8_t> copy_b,
                             const std::string& source);

keystore::Digest32 compute_header_mac(const Header& header, const keystore::HeaderMacKey& key);
bool verify_header_mac(const Header& header, const keystore::HeaderMacKey& key);

// Associated data binding a slot to this coffer: the fixed start of the header
// (magic, version, sizes, vault id), the slot index and the slot's KDF fields.
std::vector<std::uint8_t> slot_associated_data(const Header& header, std::size_t slot_index,
                                               const keystore::KdfParams& kdf);

}  // namespace coffer::vault
