// Header (de)serialisation and copy selection; see header.h and
// docs/FORMAT.md. The parser treats every byte as hostile and is strict:
// reserved bytes must be zero and serialize(parse(b)) == b.
#include "coffer/vault/container/header.h"

#include <algorithm>
#include <cstring>

#include "coffer/error.h"

namespace coffer::vault {
namespace {

constexpr char kMagic[8] = {'C', 'O', 'F', 'F', 'E', 'R', '0', '1'};
constexpr std::size_t kSlotChecksumOffset = 104;
constexpr std::size_t kRecoveryChecksumOffset = 112;
constexpr std::uint32_t kFlagOnHold = 1;  // flags bit 0 (docs/FORMAT.md)

template <class T>
void put(std::uint8_t* p, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i)
    p[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> (8 * i));
}

template <class T>
T get(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return static_cast<T>(v);
}

bool zero(const std::uint8_t* p, std::size_t n) {
  return std::all_of(p, p + n, [](std::uint8_t b) { return b == 0; });
}

void put_string(std::uint8_t* p, const std::string& s, std::size_t max) {
  if (s.empty() || s.size() > max || s.find('\0') != std::string::npos)
    throw std::logic_error("header string out of range");
  p[0] = static_cast<std::uint8_t>(s.size());
  std::copy(s.begin(), s.end(), p + 1);
}

bool get_string(const std::uint8_t* p, std::size_t max, std::string& out) {
  std::size_t len = p[0];
  if (len == 0 || len > max) return false;
  if (std::find(p + 1, p + 1 + len, 0) != p + 1 + len) return false;
  if (!zero(p + 1 + len, max - len)) return false;
  out.assign(reinterpret_cast<const char*>(p + 1), len);
  return true;
}

void put_slot_fields(std::uint8_t* s, SlotState state, const keystore::KdfParams& kdf) {
  s[0] = static_cast<std::uint8_t>(state);
  s[1] = static_cast<std::uint8_t>(kdf.algorithm);
  put<std::uint32_t>(s + 4, kdf.ops_limit);
  put<std::uint64_t>(s + 8, kdf.mem_limit);
  std::memcpy(s + 16, kdf.salt.data(), 16);
}

void put_slot(std::uint8_t* s, const KeySlot& slot) {
  if (slot.damaged) {
    std::memcpy(s, slot.raw.data(), kSlotSize);
    return;
  }
  if (slot.state == SlotState::kEmpty) return;  // all zero
  put_slot_fields(s, slot.state, slot.kdf);
  std::memcpy(s + 32, slot.wrapped.nonce.data(), 24);
  std::memcpy(s + 56, slot.wrapped.ciphertext.data(), 48);
  auto sum = keystore::checksum16({s, kSlotChecksumOffset});
  std::memcpy(s + kSlotChecksumOffset, sum.data(), sum.size());
}

// A slot whose own checksum or fixed fields fail is kept raw and marked
// damaged, so it is reported as damage, never as a wrong passphrase.
KeySlot get_slot(const std::uint8_t* s) {
  KeySlot slot;
  if (zero(s, kSlotSize)) return slot;
  auto sum = keystore::checksum16({s, kSlotChecksumOffset});
  bool ok = keystore::equal_constant_time(sum, {s + kSlotChecksumOffset, 16}) &&
            s[0] == static_cast<std::uint8_t>(SlotState::kPassphrase) &&
            s[1] == static_cast<std::uint8_t>(keystore::KdfAlgorithm::kArgon2id13) && zero(s + 2, 2);
  if (!ok) {
    slot.damaged = true;
    std::memcpy(slot.raw.data(), s, kSlotSize);
    return slot;
  }
  slot.state = SlotState::kPassphrase;
  slot.kdf.algorithm = keystore::KdfAlgorithm::kArgon2id13;
  slot.kdf.ops_limit = get<std::uint32_t>(s + 4);
  slot.kdf.mem_limit = get<std::uint64_t>(s + 8);
  std::memcpy(slot.kdf.salt.data(), s + 16, 16);
  std::memcpy(slot.wrapped.nonce.data(), s + 32, 24);
  std::memcpy(slot.wrapped.ciphertext.data(), s + 56, 48);
  return slot;
}

ParsedCopy fail(CopyStatus status, std::string problem) { return ParsedCopy{status, std::nullopt, std::move(problem)}; }

ParsedCopy parse_copy(std::span<const std::uint8_t> bytes, bool check_copy_checksum) {
  if (bytes.size() != kHeaderCopySize) return fail(CopyStatus::kNotCoffer, "file too short");
  const std::uint8_t* b = bytes.data();
  if (std::memcmp(b, kMagic, 8) != 0) return fail(CopyStatus::kNotCoffer, "no coffer signature");
  // Magic and version are the only fields every format version keeps in
  // place, so the version is judged before this version's checksum.
  Header h;
  h.version = get<std::uint16_t>(b + 8);
  if (h.version != kFormatVersion)
    return fail(CopyStatus::kUnknownVersion, "format version " + std::to_string(h.version) +
                                                 ", but this build of coffer reads only version " +
                                                 std::to_string(kFormatVersion));
  auto sum = keystore::checksum32(bytes.first(kChecksumOffset));
  if (check_copy_checksum && !keystore::equal_constant_time(sum, bytes.subspan(kChecksumOffset, 32)))
    return fail(CopyStatus::kBadChecksum, "checksum mismatch");
  const std::uint32_t flags = get<std::uint32_t>(b + 12);
  if (get<std::uint16_t>(b + 10) != kHeaderCopySize || (flags & ~kFlagOnHold) != 0)
    return fail(CopyStatus::kMalformed, "bad header size or flags");
  h.on_hold = (flags & kFlagOnHold) != 0;
  std::memcpy(h.vault_id.data(), b + 16, 16);
  h.created = get<std::int64_t>(b + 32);
  h.expires = get<std::int64_t>(b + 40);
  if (!get_string(b + 48, kMaxProfileLength, h.profile)) return fail(CopyStatus::kMalformed, "bad purpose field");
  if (!get_string(b + 80, kMaxOwnerLength, h.owner)) return fail(CopyStatus::kMalformed, "bad owner field");
  for (std::size_t i = 0; i < kSlotCount; ++i) h.slots[i] = get_slot(b + kSlotsOffset + i * kSlotSize);

  const std::uint8_t* r = b + kRecoveryOffset;
  if (r[0] == 1) {
    auto rsum = keystore::checksum16({r, kRecoveryChecksumOffset});
    if (!zero(r + 1, 15) || !keystore::equal_constant_time(rsum, {r + kRecoveryChecksumOffset, 16}))
      return fail(CopyStatus::kMalformed, "recovery slot damaged");
    RecoverySlot rs;
    std::memcpy(rs.fingerprint.data(), r + 16, 16);
    std::memcpy(rs.sealed.data(), r + 32, rs.sealed.size());
    h.recovery = rs;
  } else if (!zero(r, kRecoverySize)) {
    return fail(CopyStatus::kMalformed, "recovery slot damaged");
  }

  const std::uint8_t* a = b + kAuditOffset;
  if (a[0] == 1) {
    if (!zero(a + 1, 15)) return fail(CopyStatus::kMalformed, "bad audit key field");
    AuditKeyRef ak;
    std::memcpy(ak.fingerprint.data(), a + 16, 16);
    std::memcpy(ak.public_key.data(), a + 32, 32);
    h.audit = ak;
  } else if (!zero(a, kAuditSize)) {
    return fail(CopyStatus::kMalformed, "bad audit key field");
  }
  if (!zero(b + kAuditOffset + kAuditSize, kMacOffset - kAuditOffset - kAuditSize))
    return fail(CopyStatus::kMalformed, "reserved bytes are not zero");
  std::memcpy(h.mac.data(), b + kMacOffset, 32);
  h.generation = get<std::uint64_t>(b + kGenerationOffset);
  h.failed_attempts = get<std::uint32_t>(b + kFailedAttemptsOffset);
  if (!zero(b + kFailedAttemptsOffset + 4, kChecksumOffset - kFailedAttemptsOffset - 4))
    return fail(CopyStatus::kMalformed, "reserved bytes are not zero");
  return ParsedCopy{CopyStatus::kOk, std::move(h), {}};
}

}  // namespace

std::size_t Header::slots_in_use() const {
  return static_cast<std::size_t>(
      std::count_if(slots.begin(), slots.end(), [](const KeySlot& s) { return s.in_use(); }));
}

HeaderCopy serialize_header(const Header& h) {
  HeaderCopy out{};
  std::uint8_t* b = out.data();
  std::memcpy(b, kMagic, 8);
  put<std::uint16_t>(b + 8, h.version);
  put<std::uint16_t>(b + 10, static_cast<std::uint16_t>(kHeaderCopySize));
  put<std::uint32_t>(b + 12, h.on_hold ? kFlagOnHold : 0u);
  std::memcpy(b + 16, h.vault_id.data(), 16);
  put<std::int64_t>(b + 32, h.created);
  put<std::int64_t>(b + 40, h.expires);
  put_string(b + 48, h.profile, kMaxProfileLength);
  put_string(b + 80, h.owner, kMaxOwnerLength);
  for (std::size_t i = 0; i < kSlotCount; ++i) put_slot(b + kSlotsOffset + i * kSlotSize, h.slots[i]);
  if (h.recovery) {
    std::uint8_t* r = b + kRecoveryOffset;
    r[0] = 1;
    std::memcpy(r + 16, h.recovery->fingerprint.data(), 16);
    std::memcpy(r + 32, h.recovery->sealed.data(), h.recovery->sealed.size());
    auto sum = keystore::checksum16({r, kRecoveryChecksumOffset});
    std::memcpy(r + kRecoveryChecksumOffset, sum.data(), 16);
  }
  if (h.audit) {
    std::uint8_t* a = b + kAuditOffset;
    a[0] = 1;
    std::memcpy(a + 16, h.audit->fingerprint.data(), 16);
    std::memcpy(a + 32, h.audit->public_key.data(), 32);
  }
  std::memcpy(b + kMacOffset, h.mac.data(), 32);
  put<std::uint64_t>(b + kGenerationOffset, h.generation);
  put<std::uint32_t>(b + kFailedAttemptsOffset, h.failed_attempts);
  auto sum = keystore::checksum32(std::span<const std::uint8_t>(b, kChecksumOffset));
  std::memcpy(b + kChecksumOffset, sum.data(), 32);
  return out;
}

ParsedCopy parse_header_copy(std::span<const std::uint8_t> bytes) { return parse_copy(bytes, true); }

SelectedHeader select_header(std::span<const std::uint8_t> copy_a, std::span<const std::uint8_t> copy_b,
                             const std::string& source) {
  ParsedCopy a = parse_header_copy(copy_a);
  ParsedCopy b = parse_header_copy(copy_b);
  SelectedHeader out;
  if (a.header && b.header) {
    bool b_newer = b.header->generation > a.header->generation;
    out.chosen_is_b = b_newer;
    if (!std::equal(copy_a.begin(), copy_a.begin() + kMacOffset, copy_b.begin()))
      out.other = b_newer ? *a.header : *b.header;
    out.header = std::move(b_newer ? *b.header : *a.header);
    out.needs_repair = !std::equal(copy_a.begin(), copy_a.end(), copy_b.begin(), copy_b.end());
    if (out.needs_repair)
      out.warnings.push_back(a.header->generation == b.header->generation
                                 ? std::string("the two header copies differ; copy A is used and copy B will be "
                                               "rewritten at the next unlock")
                                 : std::string("header copy ") + (b_newer ? "A" : "B") +
                                       " is older than the other (an interrupted update); it will be repaired at "
                                       "the next unlock");
    return out;
  }
  if (a.header || b.header) {
    bool use_a = a.header.has_value();
    out.header = std::move(use_a ? *a.header : *b.header);
    out.needs_repair = true;
    out.warnings.push_back(std::string("header copy ") + (use_a ? "B" : "A") + " of " + source + " is damaged (" +
                           (use_a ? b.problem : a.problem) + "); using copy " + (use_a ? "A" : "B") +
                           ", it will be repaired at the next unlock");
    return out;
  }
  if (a.status == CopyStatus::kNotCoffer && b.status == CopyStatus::kNotCoffer)
    throw Error(ErrorCode::kDamaged, source + " is not a coffer file (" + a.problem + ")");
  for (const ParsedCopy* p : {&a, &b})
    if (p->status == CopyStatus::kUnknownVersion)
      throw Error(ErrorCode::kDamaged, source + ": " + p->problem + "; install a newer coffer");
  // Both copies failed: say as precisely as possible what is damaged.
  ParsedCopy salvage = parse_copy(copy_a, false);
  if (salvage.header) {
    for (std::size_t i = 0; i < kSlotCount; ++i)
      if (salvage.header->slots[i].damaged)
        throw Error(ErrorCode::kDamaged,
                    source + ": key slot " + std::to_string(i) + " is damaged in both header copies");
  }
  throw Error(ErrorCode::kDamaged,
              source + ": both header copies are damaged (A: " + a.problem + "; B: " + b.problem + ")");
}

keystore::Digest32 compute_header_mac(const Header& header, const keystore::HeaderMacKey& key) {
  HeaderCopy bytes = serialize_header(header);
  return keystore::header_mac(key, std::span<const std::uint8_t>(bytes.data(), kMacOffset));
}

bool verify_header_mac(const Header& header, const keystore::HeaderMacKey& key) {
  return keystore::equal_constant_time(compute_header_mac(header, key), header.mac);
}

std::vector<std::uint8_t> slot_associated_data(const Header& header, std::size_t slot_index,
                                               const keystore::KdfParams& kdf) {
  HeaderCopy bytes = serialize_header(header);
  std::vector<std::uint8_t> ad(bytes.begin(), bytes.begin() + 32);
  // The flags (hold) change during a coffer's life without rewrapping the
  // slots: they are bound by the header MAC, and enter the AD as zero.
  std::fill(ad.begin() + 12, ad.begin() + 16, std::uint8_t{0});
  ad.push_back(static_cast<std::uint8_t>(slot_index));
  std::uint8_t fields[32] = {};
  put_slot_fields(fields, SlotState::kPassphrase, kdf);
  ad.insert(ad.end(), fields, fields + 32);
  return ad;
}

}  // namespace coffer::vault
