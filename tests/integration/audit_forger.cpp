// coffer-audit-forger: the attacker of tests/integration/audit_anchor.sh,
// built from coffer's own library (what anyone can do with the published
// format and the school's public audit key). Test-only, never installed.
//
//   fabricate SIDECAR VAULT_ID_HEX AUDIT_PUB
//       a new trail for that vault id, from nothing but the id and the
//       public key: a fresh K0, a "create" and an "unlock" record.
//   rewrite COFFER PASSPHRASE_FILE
//       the teacher with the passphrase: replaces the sidecar with a fresh
//       trail holding every event of the coffer's chain except "key-added",
//       and moves the coffer's audit_sidecar row (and kept header) to it.
//   unauthenticated SIDECAR AUDIT_PUB KIND
//       appends a record of KIND without the coffer key (any program can).
#include <fstream>
#include <iostream>
#include <sstream>

#include "coffer/keystore/encoding.h"
#include "coffer/keystore/random.h"
#include "coffer/keystore/school_key.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/audit/audit_anchor.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/container/meta.h"

namespace {
using namespace coffer;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

vault::AuditEvent event(vault::AuditKind kind, std::string result, std::string detail = {}) {
  return vault::make_self_event(kind, std::time(nullptr), "", std::move(result), std::move(detail));
}

int fabricate(const std::string& sidecar, const std::string& vid_hex, const std::string& pub_file) {
  auto pub = keystore::parse_public_key_file(slurp(pub_file), pub_file);
  std::array<std::uint8_t, 16> vid{};
  if (vid_hex.size() != 32) return 2;
  for (std::size_t i = 0; i < 16; ++i)
    vid[i] = static_cast<std::uint8_t>(std::stoi(vid_hex.substr(2 * i, 2), nullptr, 16));
  auto key = vault::AuditSidecar::create(sidecar, vid, pub, keystore::system_random());
  vault::append_authenticated(sidecar, key, event(vault::AuditKind::kCreate, "ok", "purpose trip"), pub);
  vault::append_authenticated(sidecar, key, event(vault::AuditKind::kUnlock, "ok"), pub);
  return 0;
}

int rewrite(const std::string& coffer_path, const std::string& pw_file) {
  std::string line = slurp(pw_file);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  keystore::Passphrase pw;
  for (char ch : line) pw.push_back(static_cast<std::uint8_t>(ch));
  vault::UnlockPolicy policy;
  policy.raise_clock_mark = false;
  vault::Coffer c = vault::Coffer::unlock(coffer_path, pw, keystore::system_random(), policy);
  auto pub = *c.audit_public_key();
  auto events = c.audit_events();
  std::filesystem::remove(c.sidecar());
  auto key = vault::AuditSidecar::create(c.sidecar(), c.header().vault_id, pub, keystore::system_random());
  std::uint64_t records = 0;
  for (auto& e : events) {
    if (e.event.kind == vault::AuditKind::kKeyAdded) continue;
    records = vault::append_authenticated(c.sidecar(), key, e.event, pub) + 1;
  }
  auto st = c.database().prepare("INSERT OR REPLACE INTO audit_sidecar(id, chain_key, records) VALUES (1, ?, ?)");
  st.bind_blob(1, key.reveal_bytes()).bind(2, static_cast<std::int64_t>(records));
  st.step();
  vault::put_meta(c.database(),
                  {{"audit_sidecar_header", keystore::to_hex(vault::read_sidecar_genesis(c.sidecar()).header)}});
  return 0;
}

int unauthenticated(const std::string& sidecar, const std::string& pub_file, const std::string& kind) {
  auto pub = keystore::parse_public_key_file(slurp(pub_file), pub_file);
  auto k = vault::audit_kind_from_name(kind);
  if (!k) return 2;
  vault::AuditEvent e = event(*k, "ok");
  e.object = "files/notes.txt (read)";
  vault::append_unauthenticated(sidecar, e, pub);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if (a.size() == 4 && a[0] == "fabricate") return fabricate(a[1], a[2], a[3]);
    if (a.size() == 3 && a[0] == "rewrite") return rewrite(a[1], a[2]);
    if (a.size() == 4 && a[0] == "unauthenticated") return unauthenticated(a[1], a[2], a[3]);
  } catch (const std::exception& e) {
    std::cerr << "coffer-audit-forger: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: coffer-audit-forger fabricate|rewrite|unauthenticated ...\n";
  return 2;
}
