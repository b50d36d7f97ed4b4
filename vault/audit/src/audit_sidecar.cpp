// The audit sidecar journal PATH.audit: events sealed to the school's audit
// key, chained by forward-secure MACs; see audit.h and docs/FORMAT.md §12.2.
// Every byte of the file is hostile to the reader: lengths are capped and
// every failure is reported, never trusted.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "coffer/error.h"
#include "coffer/keystore/encoding.h"
#include "coffer/unique_fd.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/container/file_io.h"

namespace coffer::vault {
namespace {

constexpr std::string_view kMagic = "COFFERAU";
constexpr std::size_t kVersionOffset = 8, kVaultIdOffset = 16, kFingerprintOffset = 32, kSealedKeyOffset = 48;
static_assert(kSealedKeyOffset + keystore::kSealedChainKeySize == kSidecarHeaderSize);
constexpr std::size_t kRecordPrefix = 4 + 1 + 8;  // length, flags, index
constexpr std::size_t kMacSize = 32;
constexpr std::uint8_t kAuthenticated = 1;
// The smallest sealed event: "{}" sealed (the reader refuses it, but it frames).
constexpr std::uint32_t kMinRecordLength = 1 + 8 + keystore::kSealOverhead;
// The reader keeps the whole file in memory; beyond this it refuses.
constexpr std::uint64_t kMaxSidecarFile = 512ull * 1024 * 1024;
// After a MAC failure, keys this many steps ahead are tried, so one missing
// record does not hide every later one.
constexpr int kResyncWindow = 16;

std::uint64_t get_le(const std::uint8_t* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return v;
}

void put_le(std::vector<std::uint8_t>& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

[[noreturn]] void os_fail(const std::string& what, const std::filesystem::path& path) {
  int e = errno;
  bool full = e == ENOSPC || e == EDQUOT;
  throw Error(full ? ErrorCode::kNoSpace : ErrorCode::kIo,
              what + " " + path.string() + ": " + (full ? "the disk is full" : std::strerror(e)));
}

// --- framing (no key needed) ---------------------------------------------

struct Framed {
  std::uint64_t offset = 0;  // of the length field
  std::uint32_t length = 0;  // bytes after the length field
  std::uint8_t flags = 0;
  std::uint64_t index = 0;
  std::uint64_t end() const { return offset + 4 + length; }
  bool authenticated() const { return (flags & kAuthenticated) != 0; }
  // Where the MAC starts (the end for an unauthenticated record).
  std::uint64_t mac_offset() const { return authenticated() ? end() - kMacSize : end(); }
};

struct Framing {
  std::vector<Framed> records;
  std::uint64_t good_end = kSidecarHeaderSize;  // end of the last complete record
  bool torn = false;                            // an incomplete record follows good_end
  bool broken = false;                          // an impossible length at good_end
};

// read(offset, out) fills out from the file (offset + size <= file_size).
Framing frame(std::uint64_t file_size, const std::function<void(std::uint64_t, std::span<std::uint8_t>)>& read) {
  Framing f;
  std::uint64_t at = kSidecarHeaderSize;
  while (at < file_size) {
    std::uint64_t left = file_size - at;
    if (left < kRecordPrefix) {
      // Too short even for the prefix: torn, unless the length it has is impossible.
      if (left >= 4) {
        std::array<std::uint8_t, 4> len{};
        read(at, len);
        auto l = get_le(len.data(), 4);
        if (l < kMinRecordLength || l > kMaxSidecarRecord) f.broken = true;
      }
      f.torn = !f.broken;
      break;
    }
    std::array<std::uint8_t, kRecordPrefix> prefix{};
    read(at, prefix);
    Framed r;
    r.offset = at;
    r.length = static_cast<std::uint32_t>(get_le(prefix.data(), 4));
    r.flags = prefix[4];
    r.index = get_le(prefix.data() + 5, 8);
    std::uint32_t min = kMinRecordLength + (r.authenticated() ? kMacSize : 0);
    if (r.length < min || r.length > kMaxSidecarRecord) {
      f.broken = true;
      break;
    }
    if (left < 4ull + r.length) {
      f.torn = true;
      break;
    }
    f.records.push_back(r);
    at = r.end();
    f.good_end = at;
  }
  return f;
}

// --- header ---------------------------------------------------------------

struct SidecarHeader {
  std::array<std::uint8_t, kSidecarHeaderSize> bytes{};
  std::span<const std::uint8_t> vault_id() const { return std::span(bytes).subspan(kVaultIdOffset, 16); }
  std::span<const std::uint8_t> fingerprint() const { return std::span(bytes).subspan(kFingerprintOffset, 16); }
  std::span<const std::uint8_t> sealed_key() const {
    return std::span(bytes).subspan(kSealedKeyOffset, keystore::kSealedChainKeySize);
  }
};

// Throws Error(kDamaged) unless bytes start with a version-1 sidecar header.
SidecarHeader parse_header(std::span<const std::uint8_t> bytes, std::string_view source) {
  if (bytes.size() < kMagic.size() || !std::equal(kMagic.begin(), kMagic.end(), bytes.begin()))
    throw Error(ErrorCode::kDamaged, std::string(source) + ": not a coffer audit sidecar");
  if (bytes.size() < kSidecarHeaderSize)
    throw Error(ErrorCode::kDamaged, std::string(source) + ": the audit sidecar's header is truncated");
  std::uint64_t version = get_le(bytes.data() + kVersionOffset, 4);
  if (version != kSidecarVersion)
    throw Error(ErrorCode::kDamaged, std::string(source) + ": audit sidecar format version " + std::to_string(version) +
                                         " is not known to this build");
  if (get_le(bytes.data() + 12, 4) != 0)
    throw Error(ErrorCode::kDamaged, std::string(source) + ": the audit sidecar's header is malformed");
  SidecarHeader h;
  std::copy_n(bytes.begin(), kSidecarHeaderSize, h.bytes.begin());
  return h;
}

void check_fingerprint(const SidecarHeader& h, const keystore::SchoolPublicKey& key, std::string_view source) {
  auto given = key.fingerprint();
  if (!keystore::equal_constant_time(h.fingerprint(), given))
    throw Error(ErrorCode::kWrongPassphrase, std::string(source) + " is sealed to the audit key with fingerprint " +
                                                 keystore::to_hex(h.fingerprint()) + ", not to the key given (" +
                                                 keystore::to_hex(given) +
                                                 "); give the school's audit key it was made with");
}

// --- a locked descriptor on the file --------------------------------------

struct OpenSidecar {
  UniqueFd fd;
  std::uint64_t size = 0;
  SidecarHeader header;
  Framing framing;
  void read(std::uint64_t offset, std::span<std::uint8_t> out, const std::filesystem::path& path) const {
    if (io::pread_all(fd.get(), out, offset, path) != out.size())
      throw Error(ErrorCode::kIo, "the audit sidecar " + path.string() + " changed while read");
  }
};

OpenSidecar open_sidecar(const std::filesystem::path& path, bool write) {
  OpenSidecar s;
  int flags = (write ? O_RDWR | O_APPEND : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC;
  s.fd = UniqueFd(::open(path.c_str(), flags));
  if (s.fd.get() < 0) os_fail("cannot open the audit sidecar", path);
  // Writers (the mount, a failed unlock, a sweep) take turns; an append is short.
  while (::flock(s.fd.get(), write ? LOCK_EX : LOCK_SH) != 0)
    if (errno != EINTR) os_fail("cannot lock the audit sidecar", path);
  struct stat st {};
  if (::fstat(s.fd.get(), &st) != 0) os_fail("cannot stat the audit sidecar", path);
  if (!S_ISREG(st.st_mode)) throw Error(ErrorCode::kDamaged, path.string() + ": not a coffer audit sidecar");
  s.size = static_cast<std::uint64_t>(st.st_size);
  std::array<std::uint8_t, kSidecarHeaderSize> head{};
  std::size_t n = io::pread_all(s.fd.get(), head, 0, path);
  s.header = parse_header(std::span<const std::uint8_t>(head.data(), n), path.string());
  s.framing = frame(s.size, [&](std::uint64_t off, std::span<std::uint8_t> out) { s.read(off, out, path); });
  return s;
}

// Feeds file bytes [from, to) to the MAC.
void mac_range(keystore::AuditMacStream& mac, const OpenSidecar& s, std::uint64_t from, std::uint64_t to,
               const std::filesystem::path& path) {
  std::vector<std::uint8_t> buf(64 * 1024);
  while (from < to) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), to - from));
    s.read(from, std::span(buf).first(n), path);
    mac.update(std::span(buf).first(n));
    from += n;
  }
}

// Where the MAC of the next authenticated record starts, and the MAC it
// chains from: the last authenticated record among the first `count`
// records, or the header (whose BLAKE2b-256 stands in for a MAC).
struct ChainPoint {
  std::uint64_t end = kSidecarHeaderSize;
  keystore::Digest32 mac{};
};

ChainPoint header_point(const SidecarHeader& h) { return {kSidecarHeaderSize, keystore::checksum32(h.bytes)}; }

std::optional<ChainPoint> chain_point(const OpenSidecar& s, std::uint64_t count, const std::filesystem::path& path) {
  for (std::uint64_t i = std::min<std::uint64_t>(count, s.framing.records.size()); i-- > 0;) {
    const Framed& r = s.framing.records[i];
    if (!r.authenticated()) continue;
    ChainPoint p;
    p.end = r.end();
    s.read(r.mac_offset(), p.mac, path);
    return p;
  }
  return header_point(s.header);
}

keystore::Digest32 record_mac(const keystore::AuditChainKey& key, const ChainPoint& prev, const OpenSidecar& s,
                              std::uint64_t mac_offset, const std::filesystem::path& path) {
  keystore::AuditMacStream mac(key);
  mac.update(prev.mac);
  mac_range(mac, s, prev.end, mac_offset, path);
  return mac.finish();
}

AuditEvent capped(const AuditEvent& e) {
  AuditEvent c = e;
  // The actor's name, resolved here on the machine that writes the record.
  if (c.user.empty()) c.user = user_name_of(c.uid);
  for (std::string* s : {&c.exe, &c.object, &c.result, &c.detail, &c.user})
    if (s->size() > kMaxSidecarField) s->resize(kMaxSidecarField);
  return c;
}

void write_all(int fd, std::span<const std::uint8_t> data, const std::filesystem::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      os_fail("cannot write the audit sidecar", path);
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

std::uint64_t append(const std::filesystem::path& path, keystore::AuditChainKey* key, const AuditEvent& event,
                     const keystore::SchoolPublicKey& audit_pub) {
  OpenSidecar s = open_sidecar(path, true);
  check_fingerprint(s.header, audit_pub, path.string());
  if (s.framing.broken)
    throw Error(ErrorCode::kDamaged,
                "the audit sidecar " + path.string() + " is damaged at byte " + std::to_string(s.framing.good_end) +
                    "; not appending",
                Remedy::kVerifyAudit);
  if (s.framing.torn) {
    // An interrupted append: it was never a record. Cut it away so the
    // new record frames.
    if (::ftruncate(s.fd.get(), static_cast<off_t>(s.framing.good_end)) != 0)
      os_fail("cannot cut the torn record off", path);
    s.size = s.framing.good_end;
  }
  const std::uint64_t index = s.framing.records.size();
  const bool authenticated = key != nullptr;
  std::string json = audit_event_json(capped(event), index, authenticated);
  auto sealed =
      keystore::seal_to_school(std::span(reinterpret_cast<const std::uint8_t*>(json.data()), json.size()), audit_pub);
  std::vector<std::uint8_t> record;
  std::uint64_t length = 1 + 8 + sealed.size() + (authenticated ? kMacSize : 0);
  if (length > kMaxSidecarRecord) throw Error(ErrorCode::kOther, "audit event too large for the sidecar");
  put_le(record, length, 4);
  record.push_back(authenticated ? kAuthenticated : 0);
  put_le(record, index, 8);
  record.insert(record.end(), sealed.begin(), sealed.end());
  if (authenticated) {
    auto prev = chain_point(s, index, path);
    keystore::AuditMacStream mac(*key);
    mac.update(prev->mac);
    mac_range(mac, s, prev->end, s.framing.good_end, path);
    mac.update(record);
    auto tag = mac.finish();
    record.insert(record.end(), tag.begin(), tag.end());
  }
  write_all(s.fd.get(), record, path);
  io::sync_data(s.fd.get(), path);
  // Only once the record is durable: K_i is erased, K_{i+1} replaces it.
  if (key) keystore::ratchet(*key);
  return index;
}

}  // namespace

std::filesystem::path sidecar_path(const std::filesystem::path& coffer_path) {
  auto p = coffer_path;
  p += ".audit";
  return p;
}

keystore::AuditChainKey AuditSidecar::create(const std::filesystem::path& path,
                                             std::span<const std::uint8_t, 16> vault_id,
                                             const keystore::SchoolPublicKey& audit_pub, keystore::Random& random) {
  if (audit_pub.role != keystore::SchoolKeyRole::kAudit)
    throw Error(ErrorCode::kPolicy, "the audit sidecar needs the school's audit key, not its " +
                                        std::string(keystore::role_name(audit_pub.role)) + " key");
  auto k0 = keystore::random_audit_chain_key(random);
  std::vector<std::uint8_t> header(kMagic.begin(), kMagic.end());
  put_le(header, kSidecarVersion, 4);
  put_le(header, 0, 4);
  header.insert(header.end(), vault_id.begin(), vault_id.end());
  auto fp = audit_pub.fingerprint();
  header.insert(header.end(), fp.begin(), fp.end());
  auto sealed = keystore::seal_chain_key(k0, audit_pub);
  header.insert(header.end(), sealed.begin(), sealed.end());
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    if (errno == EEXIST) throw Error(ErrorCode::kPolicy, "the audit sidecar " + path.string() + " already exists");
    os_fail("cannot create the audit sidecar", path);
  }
  try {
    write_all(fd.get(), header, path);
    if (::fsync(fd.get()) != 0) os_fail("cannot sync", path);
    io::sync_directory_of(path);
  } catch (...) {
    ::unlink(path.c_str());
    throw;
  }
  return k0;
}

std::uint64_t append_authenticated(const std::filesystem::path& path, keystore::AuditChainKey& key_in_out,
                                   const AuditEvent& event, const keystore::SchoolPublicKey& audit_pub) {
  return append(path, &key_in_out, event, audit_pub);
}

std::uint64_t append_unauthenticated(const std::filesystem::path& path, const AuditEvent& event,
                                     const keystore::SchoolPublicKey& audit_pub) {
  return append(path, nullptr, event, audit_pub);
}

std::uint64_t catch_up(const std::filesystem::path& path, keystore::AuditChainKey& key, std::uint64_t& known_count,
                       std::uint64_t* records_in_file) {
  OpenSidecar s = open_sidecar(path, false);
  const auto& recs = s.framing.records;
  if (records_in_file) *records_in_file = recs.size();
  // The coffer's last known record must be an authenticated one (or none).
  if (known_count > recs.size() || (known_count > 0 && !recs[known_count - 1].authenticated())) return 0;
  auto prev = *chain_point(s, known_count, path);
  std::uint64_t caught = 0;
  for (std::uint64_t i = known_count; i < recs.size(); ++i) {
    const Framed& r = recs[i];
    if (!r.authenticated()) continue;
    keystore::Digest32 stored{};
    s.read(r.mac_offset(), stored, path);
    if (!keystore::digest_equal(record_mac(key, prev, s, r.mac_offset(), path), stored)) break;
    keystore::ratchet(key);
    known_count = i + 1;
    prev = ChainPoint{r.end(), stored};
    ++caught;
  }
  return caught;
}

std::uint64_t count_sidecar_records(const std::filesystem::path& path) {
  return open_sidecar(path, false).framing.records.size();
}

SidecarReport read_sidecar(const std::filesystem::path& path, const keystore::SchoolKeyPair& audit_key,
                           std::optional<std::uint64_t> expected_count) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) os_fail("cannot open the audit sidecar", path);
  while (::flock(fd.get(), LOCK_SH) != 0)
    if (errno != EINTR) os_fail("cannot lock the audit sidecar", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) os_fail("cannot stat the audit sidecar", path);
  if (!S_ISREG(st.st_mode)) throw Error(ErrorCode::kDamaged, path.string() + ": not a coffer audit sidecar");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxSidecarFile)
    throw Error(ErrorCode::kDamaged, path.string() + ": too large for an audit sidecar");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
  bytes.resize(io::pread_all(fd.get(), bytes, 0, path));
  return read_sidecar_bytes(bytes, audit_key, expected_count, path.string());
}

SidecarReport read_sidecar_bytes(std::span<const std::uint8_t> bytes, const keystore::SchoolKeyPair& audit_key,
                                 std::optional<std::uint64_t> expected_count, std::string_view source) {
  if (audit_key.public_key.role != keystore::SchoolKeyRole::kAudit)
    throw Error(ErrorCode::kPolicy, "that is the school's " +
                                        std::string(keystore::role_name(audit_key.public_key.role)) +
                                        " key; the audit trail opens with the audit key");
  SidecarHeader header = parse_header(bytes, source);
  check_fingerprint(header, audit_key.public_key, source);
  auto key = keystore::unseal_chain_key(header.sealed_key(), audit_key);
  if (!key)
    throw Error(ErrorCode::kDamaged, std::string(source) +
                                         ": the audit sidecar's sealed chain key does not open "
                                         "(damaged or forged header)");
  SidecarReport report;
  report.header = header.bytes;
  auto problem = [&](std::string s) { report.problems.push_back(std::move(s)); };
  Framing f = frame(bytes.size(), [&](std::uint64_t off, std::span<std::uint8_t> out) {
    std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(off), out.size(), out.begin());
  });
  report.records = f.records.size();
  ChainPoint prev = header_point(header);
  auto mac_of = [&](const keystore::AuditChainKey& k, const Framed& r) {
    keystore::AuditMacStream mac(k);
    mac.update(prev.mac);
    mac.update(bytes.subspan(prev.end, r.mac_offset() - prev.end));
    return mac.finish();
  };
  std::size_t pending_from = 0;  // first entry not yet covered by a MAC
  for (std::size_t p = 0; p < f.records.size(); ++p) {
    const Framed& r = f.records[p];
    std::string at = "record " + std::to_string(p) + " (byte " + std::to_string(r.offset) + ")";
    SidecarEntry entry;
    entry.seq = r.index;
    entry.authenticated = r.authenticated();
    if (r.index != p)
      problem(at + " carries number " + std::to_string(r.index) + ": records were removed, inserted or reordered");
    if ((r.flags & ~kAuthenticated) != 0) problem(at + ": unknown flags (edited)");
    auto sealed = bytes.subspan(r.offset + kRecordPrefix, r.mac_offset() - r.offset - kRecordPrefix);
    auto plain = keystore::open_sealed(sealed, audit_key);
    if (!plain) {
      problem(at + ": does not decrypt with the audit key (edited or damaged)");
    } else {
      auto parsed =
          parse_audit_event_json(std::string_view(reinterpret_cast<const char*>(plain->data()), plain->size()));
      if (!parsed) {
        problem(at + ": its event is not a valid audit event");
      } else {
        entry.event = std::move(parsed->event);
        if (parsed->seq != r.index || parsed->authenticated != r.authenticated())
          problem(at + ": the sealed event's number or flag differs from the record's (moved or forged)");
        else if (!r.authenticated() && !written_without_key_allowed(entry.event.kind))
          problem(at + ": written without the coffer key, but of kind " +
                  std::string(audit_kind_name(entry.event.kind)) +
                  " (only failed unlocks, lock-outs and wipes are written so): forged by a program without the key");
      }
    }
    report.entries.push_back(std::move(entry));
    if (!r.authenticated()) continue;

    keystore::Digest32 stored{};
    std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(r.mac_offset()), kMacSize, stored.begin());
    bool verified = keystore::digest_equal(mac_of(*key, r), stored);
    if (!verified) {
      // Resynchronise: if a later key verifies it, records are missing before it.
      auto ahead = keystore::copy_chain_key(*key);
      for (int step = 1; step <= kResyncWindow && !verified; ++step) {
        keystore::ratchet(ahead);
        if (keystore::digest_equal(mac_of(ahead, r), stored)) {
          verified = true;
          problem(at + ": verifies only with the chain key " + std::to_string(step) +
                  " step(s) on: authenticated records before it were removed");
          *key = std::move(ahead);
          break;
        }
      }
      if (!verified)
        problem(at +
                ": its MAC does not verify (edited, forged, or records before it "
                "removed or reordered)");
    }
    for (std::size_t i = pending_from; i < report.entries.size(); ++i) report.entries[i].verified = verified;
    pending_from = report.entries.size();
    keystore::ratchet(*key);
    prev = ChainPoint{r.end(), stored};
  }
  report.unconfirmed = report.entries.size() - pending_from;
  if (report.unconfirmed > 0)
    report.notes.push_back(std::to_string(report.unconfirmed) +
                           " record(s) at the end are not yet confirmed by an unlock "
                           "(written without the coffer key; no MAC covers them yet)");
  if (f.torn) {
    report.torn_tail = true;
    report.notes.push_back("torn final record: " + std::to_string(bytes.size() - f.good_end) + " byte(s) from byte " +
                           std::to_string(f.good_end) +
                           " are an interrupted write (ignored; the next append removes them)");
  }
  if (f.broken)
    problem("the record at byte " + std::to_string(f.good_end) + " has an impossible length; the " +
            std::to_string(bytes.size() - f.good_end) + " byte(s) from there cannot be read");
  if (expected_count && report.records < *expected_count)
    problem("the audit sidecar is truncated: " + std::to_string(*expected_count) + " records were written, it holds " +
            std::to_string(report.records));
  return report;
}

}  // namespace coffer::vault
