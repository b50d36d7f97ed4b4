// The coffer file below any key; see coffer_file.h.
#include "coffer/vault/container/coffer_file.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "coffer/error.h"
#include "coffer/keystore/encoding.h"
#include "coffer/keystore/subkeys.h"
#include "coffer/unique_fd.h"
#include "coffer/vault/container/file_io.h"
#include "coffer/vault/container/header_binding.h"
#include "coffer/vault/container/layout.h"
#include "coffer/vault/container/schema.h"

namespace coffer::vault {
namespace fs = std::filesystem;

namespace {

// Pragmas for every connection. cipher_page_size must precede the first
// read; locking_mode=EXCLUSIVE avoids a -shm file; the rollback journal
// (DELETE, which in exclusive mode persists the journal file until close) is
// chosen over WAL, which writes bulk data twice (docs/FORMAT.md, "Journal").
constexpr const char* kConnectionPragmas =
    "PRAGMA cipher_page_size = 16384;"
    "PRAGMA locking_mode = EXCLUSIVE;"
    "PRAGMA journal_mode = DELETE;"
    "PRAGMA synchronous = FULL;"
    "PRAGMA temp_store = MEMORY;"
    "PRAGMA secure_delete = ON;"
    // In exclusive mode the rollback journal persists between transactions
    // holding before-images (encrypted) of changed pages, purged records
    // included: truncate it after every transaction.
    "PRAGMA journal_size_limit = 0;"
    "PRAGMA foreign_keys = ON;";

// True if every whole page in [from, to) is one SQLite wrote at that
// position under this coffer's key (its SQLCipher HMAC for that page
// number verifies): left by an interrupted commit, not bytes added later.
// Zero pages, random bytes and pages of another coffer all fail.
bool tail_pages_were_written_by_sqlite(Database& db, std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint8_t> page(kCipherPageSize);
  for (std::uint64_t at = from; at + kCipherPageSize <= to; at += kCipherPageSize) {
    db.read_raw(page, at);
    const auto pgno = static_cast<std::uint32_t>((at - kPayloadOffset) / kCipherPageSize + 1);
    if (!db.page_authentic(page, pgno)) return false;
  }
  return true;
}

}  // namespace

std::vector<fs::path> sibling_files(const fs::path& path) {
  return {fs::path(path.string() + "-journal"), fs::path(path.string() + "-wal"), fs::path(path.string() + "-shm")};
}

std::uint64_t require_regular_file(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0)
    throw Error(ErrorCode::kIo, "cannot open " + path.string() + ": " + std::strerror(errno));
  if (S_ISLNK(st.st_mode))
    throw Error(ErrorCode::kDamaged, path.string() +
                                         " is a symbolic link, not a coffer file; "
                                         "give the file itself");
  if (!S_ISREG(st.st_mode))
    throw Error(ErrorCode::kDamaged, path.string() + " is not a coffer file (not a regular file)");
  return static_cast<std::uint64_t>(st.st_size);
}

SelectedHeader read_header(const fs::path& path) {
  require_regular_file(path);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) throw Error(ErrorCode::kIo, "cannot open " + path.string() + ": " + std::strerror(errno));
  std::array<std::uint8_t, 2 * kHeaderCopySize> area{};
  io::pread_all(fd.get(), area, 0, path);
  SelectedHeader sel =
      select_header(std::span(area).first(kHeaderCopySize), std::span(area).subspan(kHeaderCopySize), path.string());
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) < kPayloadOffset + kCipherPageSize)
    throw Error(ErrorCode::kDamaged, path.string() + " is truncated (" + std::to_string(st.st_size) +
                                         " bytes): the database after the header is missing");
  return sel;
}

void check_payload_size(std::uint64_t size, const fs::path& path) {
  if (size < kPayloadOffset + kCipherPageSize || (size - kPayloadOffset) % kCipherPageSize != 0)
    throw Error(ErrorCode::kDamaged, path.string() + " is truncated or has bytes appended (size " +
                                         std::to_string(size) + " is not the header plus whole pages)");
}

void open_database(Database& db, const keystore::MasterKey& master) {
  db.key(keystore::derive_db_key(master));
  db.exec(kConnectionPragmas);
}

MetaRows hint_rows(const Header& h) {
  return {{"vault_id", keystore::to_hex(h.vault_id)},
          {"profile", h.profile},
          {"owner", h.owner},
          {"created", std::to_string(h.created)},
          {"expires", std::to_string(h.expires)}};
}

std::vector<std::string> meta_mismatches(Database& db, const Header& h) {
  std::vector<std::string> out;
  auto get = db.prepare("SELECT value FROM coffer_meta WHERE key = ?");
  for (const auto& [k, v] : hint_rows(h)) {
    get.bind(1, k);
    if (!get.step() || get.column_text(0) != v) out.push_back(k);
    get.reset();
  }
  return out;
}

void write_header_copies(Database& db, Header& header) {
  header.generation += 1;
  HeaderCopy bytes = serialize_header(header);
  db.write_raw(bytes, 0);
  db.sync_raw();
  db.write_raw(bytes, kHeaderCopySize);
  db.sync_raw();
}

void write_header_copy(Database& db, Header& header, int copy) {
  header.generation += 1;
  HeaderCopy bytes = serialize_header(header);
  db.write_raw(bytes, copy == 0 ? 0 : kHeaderCopySize);
  db.sync_raw();
}

FsckReport check_container(Database& db, const Header& header, const keystore::HeaderMacKey& mac_key,
                           const fs::path& path) {
  FsckReport r;
  std::array<std::uint8_t, 2 * kHeaderCopySize> area{};
  db.read_raw(area, 0);
  const bool bound = schema_version(db) >= 6 && HeaderBinding(db).current().has_value();
  if (!bound) r.problems.push_back("the database records no header binding");
  for (int copy = 0; copy < 2; ++copy) {
    ParsedCopy p = parse_header_copy(std::span(area).subspan(copy * kHeaderCopySize, kHeaderCopySize));
    if (!p.header) r.problems.push_back(std::string("header copy ") + (copy ? "B" : "A") + ": " + p.problem);
    else if (!verify_header_mac(*p.header, mac_key))
      r.problems.push_back(std::string("header copy ") + (copy ? "B" : "A") + ": header MAC mismatch");
    else if (bound && !HeaderBinding(db).accepts(header_digest(*p.header)))
      r.problems.push_back(std::string("header copy ") + (copy ? "B" : "A") +
                           ": not the header the database was last written with (an earlier header written back)");
  }
  if (schema_version(db) != kSchemaVersion)
    r.problems.push_back("schema version " + std::to_string(schema_version(db)) + ", expected " +
                         std::to_string(kSchemaVersion));
  for (auto& f : meta_mismatches(db, header)) r.problems.push_back("header field differs from the database: " + f);
  try {
    check_payload_size(db.raw_size(), path);
  } catch (const Error& e) {
    r.problems.push_back(e.what());
  }
  try {
    auto s = db.prepare("PRAGMA integrity_check");
    while (s.step()) {
      std::string line = s.column_text(0);
      if (line != "ok") r.problems.push_back("database: " + line);
    }
  } catch (const Error& e) {
    r.problems.push_back(std::string("database: ") + e.what());
  }
  std::int64_t free_pages = db.query_int64("PRAGMA freelist_count");
  if (free_pages != 0) r.problems.push_back(std::to_string(free_pages) + " free pages (auto_vacuum should leave none)");
  std::int64_t pages = db.query_int64("PRAGMA page_count");
  const std::uint64_t file_size = db.raw_size();
  const std::uint64_t expected = kPayloadOffset + pages * kCipherPageSize;
  // Whole pages past the database's end are what SQLite itself leaves when
  // a crash or a failed write falls between a commit and the truncation
  // that follows it (the fault trials make exactly this): the database's
  // own header says where it ends and nothing reads beyond. That tail is
  // what the last commit shrank the database by (SQLite truncates after the
  // commit point), as large as the data it deleted, so its length alone
  // cannot tell it from bytes appended; instead every page in it must be
  // one SQLite wrote at that position under this coffer's key (its page
  // HMAC verifies), which nobody without the key can make. Anything else
  // (zero pages, random bytes, another coffer's pages, a partial page,
  // bytes missing) is damage or tampering, found at its first page.
  const bool whole_tail = file_size > expected && (file_size - expected) % kCipherPageSize == 0;
  const std::uint64_t tail_pages = whole_tail ? (file_size - expected) / kCipherPageSize : 0;
  if (whole_tail && tail_pages_were_written_by_sqlite(db, expected, file_size))
    r.notes.push_back(std::to_string((file_size - expected) / kCipherPageSize) +
                      " unused pages past the end of the database (left by an interrupted "
                      "write; never read)");
  else if (whole_tail)
    r.problems.push_back("the file holds " + std::to_string(file_size) + " bytes, but the database accounts for " +
                         std::to_string(expected) + " (bytes appended or lost): the " + std::to_string(tail_pages) +
                         " whole pages past its end were not written by it (they fail its page authentication)");
  else if (file_size != expected)
    r.problems.push_back("the file holds " + std::to_string(file_size) + " bytes, but the database accounts for " +
                         std::to_string(expected) + " (bytes appended or lost)");
  r.notes.push_back(std::to_string(pages) + " database pages of " + std::to_string(kCipherPageSize) + " bytes checked");
  return r;
}

}  // namespace coffer::vault
