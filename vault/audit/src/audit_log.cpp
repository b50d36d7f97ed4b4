// The in-coffer audit trail: a hash chain over the audit_log table, its
// head in coffer_meta, and the sidecar writer state; see audit.h and
// docs/FORMAT.md §12.1.
#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>
#include <utility>

#include "coffer/error.h"
#include "coffer/keystore/encoding.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/container/meta.h"

namespace coffer::vault {
namespace {

constexpr std::string_view kCountKey = "audit_count";
constexpr std::string_view kHeadKey = "audit_head";
constexpr std::string_view kSidecarHeaderKey = "audit_sidecar_header";

void put_le(std::vector<std::uint8_t>& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void put_field(std::vector<std::uint8_t>& out, std::string_view s) {
  put_le(out, s.size(), 4);
  out.insert(out.end(), s.begin(), s.end());
}

// The canonical encoding of one entry (FORMAT.md §12.1): fixed-width
// little-endian numbers, then each string with a u32 length, so no field's
// bytes can slide into the next one.
std::vector<std::uint8_t> encode_entry(std::uint64_t seq, const AuditEvent& e) {
  std::vector<std::uint8_t> out;
  out.reserve(34 + e.exe.size() + e.object.size() + e.result.size() + e.detail.size());
  put_le(out, seq, 8);
  put_le(out, static_cast<std::uint64_t>(e.time), 8);
  put_le(out, e.uid, 4);
  put_le(out, static_cast<std::uint32_t>(e.pid), 4);
  put_le(out, static_cast<std::uint16_t>(e.kind), 2);
  put_field(out, e.exe);
  put_field(out, e.object);
  put_field(out, e.result);
  put_field(out, e.detail);
  return out;
}

// Runs f in the caller's transaction if one is open, else in its own.
template <class F>
auto in_transaction(Database& db, F&& f) {
  if (db.in_transaction()) return f();
  db.exec("BEGIN IMMEDIATE");
  try {
    auto r = f();
    db.exec("COMMIT");
    return r;
  } catch (...) {
    try {
      db.exec("ROLLBACK");
    } catch (...) {
    }
    throw;
  }
}

std::optional<keystore::Digest32> digest_from_hex(std::string_view hex) {
  keystore::Digest32 out{};
  if (hex.size() != 2 * out.size()) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

struct Head {
  std::uint64_t count = 0;
  keystore::Digest32 hash{};  // zero before the first entry
  bool malformed = false;
};

Head read_head(Database& db) {
  Head h;
  auto count = get_meta(db, kCountKey);
  auto hash = get_meta(db, kHeadKey);
  if (!count && !hash) return h;
  if (!count || !hash || count->empty() || count->size() > 19 ||
      !std::all_of(count->begin(), count->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    h.malformed = true;
    return h;
  }
  h.count = std::stoull(*count);
  auto digest = digest_from_hex(*hash);
  if (!digest) {
    h.malformed = true;
    return h;
  }
  h.hash = *digest;
  return h;
}

struct Row {
  std::int64_t seq, time, uid, pid, kind;
  std::string exe, object, result, detail;
  std::vector<std::uint8_t> hash;
};

constexpr std::string_view kSelect =
    "SELECT seq, time, uid, pid, kind, exe, object, result, detail, hash FROM audit_log";

Row row_of(Statement& st) {
  return Row{st.column_int64(0), st.column_int64(1), st.column_int64(2), st.column_int64(3), st.column_int64(4),
             st.column_text(5),  st.column_text(6),  st.column_text(7),  st.column_text(8),  st.column_blob(9)};
}

AuditEvent event_of(const Row& r) {
  AuditEvent e;
  e.time = r.time;
  e.uid = static_cast<std::uint32_t>(r.uid);
  e.pid = static_cast<std::int32_t>(r.pid);
  e.kind = static_cast<AuditKind>(r.kind >= 0 && r.kind <= 0xffff ? r.kind : 0);
  e.exe = r.exe;
  e.object = r.object;
  e.result = r.result;
  e.detail = r.detail;
  return e;
}

}  // namespace

std::uint64_t AuditLog::append(const AuditEvent& event) {
  return in_transaction(db_, [&] {
    Head head = read_head(db_);
    if (head.malformed) throw Error(ErrorCode::kDamaged, "the coffer's audit log head is damaged; run coffer fsck");
    std::uint64_t seq = head.count + 1;
    auto hash = keystore::audit_chain_hash(key_, head.hash, encode_entry(seq, event));
    auto ins = db_.prepare(
        "INSERT INTO audit_log(seq, time, uid, pid, kind, exe, object, result, detail, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, static_cast<std::int64_t>(seq))
        .bind(2, event.time)
        .bind(3, static_cast<std::int64_t>(event.uid))
        .bind(4, static_cast<std::int64_t>(event.pid))
        .bind(5, static_cast<std::int64_t>(event.kind))
        .bind(6, event.exe)
        .bind(7, event.object)
        .bind(8, event.result)
        .bind(9, event.detail)
        .bind_blob(10, hash);
    ins.step();
    put_meta(db_, {{std::string(kCountKey), std::to_string(seq)}, {std::string(kHeadKey), keystore::to_hex(hash)}});
    return seq;
  });
}

std::vector<StoredAuditEvent> AuditLog::read(std::optional<std::int64_t> since) {
  std::vector<StoredAuditEvent> out;
  auto st = db_.prepare(std::string(kSelect) + (since ? " WHERE time >= ?" : "") + " ORDER BY seq");
  if (since) st.bind(1, *since);
  while (st.step()) {
    Row r = row_of(st);
    out.push_back({static_cast<std::uint64_t>(r.seq), event_of(r)});
  }
  return out;
}

AuditVerdict AuditLog::verify() {
  AuditVerdict v;
  auto problem = [&](std::string s) { v.problems.push_back(std::move(s)); };
  keystore::Digest32 prev{};
  std::int64_t expected = 1;
  std::int64_t last_seq = 0;
  auto st = db_.prepare(std::string(kSelect) + " ORDER BY seq");
  while (st.step()) {
    Row r = row_of(st);
    ++v.entries;
    std::string at = "audit entry " + std::to_string(r.seq);
    if (r.seq != expected)
      problem(at + ": expected entry " + std::to_string(expected) + " here (entries missing or out of order)");
    bool in_range = r.uid >= 0 && r.uid <= UINT32_MAX && r.pid >= INT32_MIN && r.pid <= INT32_MAX &&
                    audit_kind_from_number(r.kind).has_value();
    if (!in_range) problem(at + ": a field is out of range (edited)");
    keystore::Digest32 stored{};
    if (r.hash.size() != stored.size()) {
      problem(at + ": its hash is missing or malformed");
    } else {
      std::copy(r.hash.begin(), r.hash.end(), stored.begin());
      auto computed =
          keystore::audit_chain_hash(key_, prev, encode_entry(static_cast<std::uint64_t>(r.seq), event_of(r)));
      if (in_range && !keystore::digest_equal(computed, stored))
        problem(at + ": does not verify (edited, moved, or an entry before it removed)");
    }
    prev = stored;
    last_seq = r.seq;
    expected = r.seq + 1;
  }
  Head head = read_head(db_);
  if (head.malformed) {
    problem("the audit log head in coffer_meta is malformed");
    return v;
  }
  if (head.count != v.entries || static_cast<std::uint64_t>(last_seq) != head.count) {
    if (head.count > v.entries)
      problem("the audit log is truncated: its head says " + std::to_string(head.count) + " entries, the log holds " +
              std::to_string(v.entries));
    else
      problem("the audit log does not match its head: the head says " + std::to_string(head.count) +
              " entries, the log holds " + std::to_string(v.entries) + " (last " + std::to_string(last_seq) + ")");
  } else if (v.entries > 0 && !keystore::digest_equal(head.hash, prev)) {
    problem("the audit log's last entry is not the one its head names (replaced)");
  }
  return v;
}

std::uint64_t AuditLog::rekey_chain(const keystore::AuditKey& previous) {
  if (!db_.in_transaction()) throw std::logic_error("the audit chain is re-keyed inside the caller's transaction");
  AuditVerdict old = AuditLog(db_, previous).verify();
  if (!old.ok())
    throw Error(ErrorCode::kDamaged, "the coffer's audit log does not verify (" + old.problems.front() +
                                         "); nothing was re-keyed: run coffer fsck and coffer audit --verify");
  keystore::Digest32 prev{};
  std::vector<std::pair<std::int64_t, keystore::Digest32>> hashes;
  {
    auto st = db_.prepare(std::string(kSelect) + " ORDER BY seq");
    while (st.step()) {
      Row r = row_of(st);
      prev = keystore::audit_chain_hash(key_, prev, encode_entry(static_cast<std::uint64_t>(r.seq), event_of(r)));
      hashes.emplace_back(r.seq, prev);
    }
  }
  auto update = db_.prepare("UPDATE audit_log SET hash = ? WHERE seq = ?");
  for (const auto& [seq, hash] : hashes) {
    update.bind_blob(1, hash).bind(2, seq);
    update.step();
    update.reset();
  }
  if (!hashes.empty())
    put_meta(db_, {{std::string(kCountKey), std::to_string(hashes.size())},
                   {std::string(kHeadKey), keystore::to_hex(prev)}});
  return hashes.size();
}

std::optional<SidecarWriterState> AuditLog::sidecar_state() {
  auto st = db_.prepare("SELECT chain_key, records FROM audit_sidecar WHERE id = 1");
  if (!st.step()) return std::nullopt;
  auto blob = st.column_blob(0);
  std::int64_t records = st.column_int64(1);
  SidecarWriterState s;
  bool ok = blob.size() == keystore::AuditChainKey::kSize && records >= 0;
  if (ok) std::copy(blob.begin(), blob.end(), s.key.writable_bytes().begin());
  keystore::wipe(blob);
  if (!ok) throw Error(ErrorCode::kDamaged, "the coffer's audit sidecar state is damaged");
  s.records = static_cast<std::uint64_t>(records);
  return s;
}

void AuditLog::store_sidecar_state(const keystore::AuditChainKey& key, std::uint64_t records) {
  // INSERT OR REPLACE on the one row: with secure_delete on, the page that
  // held the old key is overwritten, not left in the free list.
  auto st = db_.prepare("INSERT OR REPLACE INTO audit_sidecar(id, chain_key, records) VALUES (1, ?, ?)");
  st.bind_blob(1, key.reveal_bytes()).bind(2, static_cast<std::int64_t>(records));
  st.step();
}

std::optional<std::array<std::uint8_t, 128>> AuditLog::sidecar_header() {
  auto hex = get_meta(db_, kSidecarHeaderKey);
  if (!hex || hex->size() != 256) return std::nullopt;
  std::array<std::uint8_t, 128> out{};
  for (std::size_t i = 0; i < 4; ++i) {
    auto part = digest_from_hex(std::string_view(*hex).substr(64 * i, 64));
    if (!part) return std::nullopt;
    std::copy(part->begin(), part->end(), out.begin() + static_cast<std::ptrdiff_t>(32 * i));
  }
  return out;
}

void AuditLog::store_sidecar_header(std::span<const std::uint8_t, 128> header) {
  put_meta(db_, {{std::string(kSidecarHeaderKey), keystore::to_hex(header)}});
}

std::uint64_t AuditLog::append_both(const AuditEvent& event, const std::filesystem::path& sidecar,
                                    const keystore::SchoolPublicKey& audit_pub) {
  auto state = sidecar_state();
  if (!state) throw Error(ErrorCode::kOther, "this coffer has no audit sidecar");
  // Sidecar first (synced), then the coffer: a crash in between leaves a
  // record the coffer's key has not moved past, which catch_up steps over.
  std::uint64_t in_file = 0;
  catch_up(sidecar, state->key, state->records, &in_file);
  auto write = [&](const AuditEvent& e) {
    std::uint64_t index = append_authenticated(sidecar, state->key, e, audit_pub);
    return in_transaction(db_, [&] {
      std::uint64_t seq = append(e);
      store_sidecar_state(state->key, index + 1);
      return seq;
    });
  };
  if (in_file < state->records) {
    AuditEvent found = event;
    found.kind = AuditKind::kAuditDamaged;
    found.object = "audit sidecar";
    found.result = "truncated";
    found.detail = "the coffer knows of " + std::to_string(state->records) + " record(s); the file holds " +
                   std::to_string(in_file);
    write(found);
  }
  return write(event);
}

}  // namespace coffer::vault
