// The header binding; see header_binding.h.
#include "coffer/vault/container/header_binding.h"

#include <stdexcept>

namespace coffer::vault {
namespace {

std::optional<keystore::Digest32> column(Database& db, const char* name) {
  auto st = db.prepare(std::string("SELECT ") + name + " FROM header_binding WHERE id = 1");
  if (!st.step()) return std::nullopt;
  std::vector<std::uint8_t> blob = st.column_blob(0);
  keystore::Digest32 out{};
  if (blob.size() != out.size()) return std::nullopt;  // NULL (no pending) or not a digest
  std::copy(blob.begin(), blob.end(), out.begin());
  return out;
}

}  // namespace

keystore::Digest32 header_digest(const Header& header) {
  HeaderCopy bytes = serialize_header(header);
  return keystore::checksum32(std::span<const std::uint8_t>(bytes.data(), kMacOffset));
}

std::optional<keystore::Digest32> HeaderBinding::current() { return column(db_, "current"); }

std::optional<keystore::Digest32> HeaderBinding::pending() { return column(db_, "pending"); }

bool HeaderBinding::accepts(const keystore::Digest32& digest) {
  auto cur = current();
  if (cur && keystore::equal_constant_time(*cur, digest)) return true;
  auto pend = pending();
  return pend && keystore::equal_constant_time(*pend, digest);
}

void HeaderBinding::write(const keystore::Digest32& current, const keystore::Digest32* pending) {
  if (db_.in_transaction()) throw std::logic_error("the header binding is written in a transaction of its own");
  auto st = db_.prepare("INSERT OR REPLACE INTO header_binding(id, current, pending) VALUES (1, ?, ?)");
  st.bind_blob(1, current);
  if (pending) st.bind_blob(2, *pending);
  else st.bind_null(2);
  st.step();  // autocommit: durable (synchronous=FULL) when step returns
}

void HeaderBinding::establish(const keystore::Digest32& digest) {
  if (current()) throw std::logic_error("the header binding is already established");
  write(digest, nullptr);
}

void HeaderBinding::begin(const keystore::Digest32& digest) {
  auto cur = current();
  if (!cur) throw std::logic_error("header binding used before it was established");
  write(*cur, &digest);
}

void HeaderBinding::commit(const keystore::Digest32& digest) { write(digest, nullptr); }

void HeaderBinding::settle(const keystore::Digest32& digest) {
  if (!pending()) return;
  write(digest, nullptr);
}

}  // namespace coffer::vault
