// Building the populated coffer; see population.h.
#include "population.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "coffer/error.h"
#include "coffer/vault/audit/audit.h"
#include "coffer/vault/files/filestore.h"
#include "coffer/vault/records/import.h"
#include "coffer/vault/records/profile.h"
#include "coffer/vault/records/records.h"
#include "test_support.h"

namespace coffer::tamper {
namespace {

namespace fs = std::filesystem;
using vault::FileStore;
using vault::kChunkSize;

constexpr const char* kPassphrase = "tamper trials: Quartz-Lamp-77";
constexpr const char* kSecondPassphrase = "second slot: Marsh-Harbour-12";
constexpr std::uint64_t kHeaderArea = 8192;
constexpr std::uint64_t kPage = 16384;

const vault::Profile& trip_profile() {
  for (const auto& p : vault::builtin_profiles())
    if (p.name == "trip") return p;
  throw std::logic_error("no built-in trip profile");
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read the fixture " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void add_secret(std::vector<std::string>& secrets, const std::string& s) {
  // Short strings ("Li", "9A") would match innocent words in messages.
  if (s.size() >= 4) secrets.push_back(s);
}

// The fixture's five pupils under the trip profile, as `coffer import` does
// it (F005's only contact has no phone: imported with --allow-missing).
void import_fixture(vault::Coffer& c, const fs::path& fixtures, std::vector<std::string>& secrets) {
  const fs::path dir = fixtures / "import" / "coffer-csv";
  vault::Selection all{{"F001", "F002", "F003", "F004", "F005"}, {}};
  vault::SourceData data = vault::parse_coffer_csv({"pupils.csv", slurp(dir / "pupils.csv")},
                                                   vault::SourceFile{"contacts.csv", slurp(dir / "contacts.csv")}, all);
  vault::ImportOptions options;
  options.allow_missing = true;
  vault::PreparedImport p = vault::prepare_import(std::move(data), trip_profile(), all, options);
  vault::ImportLogEntry log{
      kNow,      "tamper-trials",  p.format,  "pupils.csv", static_cast<std::int64_t>(p.pupils.size()),
      p.dropped, p.not_in_profile, p.unmapped};
  vault::RecordStore(c.database()).import(p.pupils, log);
  c.audit(vault::AuditKind::kImport, "pupils.csv", "ok", std::to_string(p.pupils.size()) + " pupil(s)");
  for (const auto& pupil : p.pupils) {
    for (const auto* s : {&pupil.surname, &pupil.forename, &pupil.preferred_surname, &pupil.preferred_forename})
      add_secret(secrets, *s);
    for (const auto& contact : pupil.contacts) add_secret(secrets, contact.name);
  }
}

std::vector<std::uint8_t> content(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(size);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

std::uint64_t make(FileStore& files, std::uint64_t parent, const std::string& name, std::uint32_t mode,
                   std::vector<std::string>& secrets, std::string_view target = {}) {
  add_secret(secrets, name);
  return files.make_node(parent, name, mode, vault::kMounterId, vault::kMounterId, 0, target).ino;
}

// Small files, an empty one, a symlink, directories, a two-chunk file and a
// sparse one (one chunk stored, five holes before it), in one commit.
void write_small_files(FileStore& files, std::vector<std::string>& secrets) {
  const std::uint64_t root = vault::kFilesRootIno;
  auto write_new = [&](std::uint64_t parent, const std::string& name, std::size_t size, unsigned seed) {
    std::uint64_t ino = make(files, parent, name, S_IFREG | 0644, secrets);
    files.write(ino, 0, content(size, seed));
  };
  // Names are distinctive, so that finding one in a message means a leak.
  write_new(root, "trip notes.txt", 700, 1);
  write_new(root, "itinerary.txt", 5000, 2);
  write_new(root, "blank form.txt", 0, 3);
  make(files, root, "latest-notes", S_IFLNK | 0777, secrets, "trip notes.txt");
  std::uint64_t sub = make(files, root, "consent forms", S_IFDIR | 0755, secrets);
  write_new(sub, "Ashdown consent.pdf", 40000, 4);
  std::uint64_t photos = make(files, root, "coach photos", S_IFDIR | 0700, secrets);
  write_new(photos, "coach.jpg", kChunkSize + 10, 5);
  std::uint64_t sparse = make(files, root, "sparse.bin", S_IFREG | 0600, secrets);
  files.write(sparse, 5 * kChunkSize, content(100, 6));
  files.commit();
}

// Overflow pages of a table-leaf cell with a payload of `payload` bytes
// (SQLite's rule, usable page size 16384 - 48 reserved = 16336): up to
// 16301 bytes stay local; beyond that K = M + (P - M) mod (U - 4) stay local
// if K <= 16301, else M = 2025; the rest fills overflow pages of U - 4.
std::uint64_t overflow_pages(std::uint64_t payload) {
  const std::uint64_t u = kPage - 48, max_local = u - 35, min_local = (u - 12) * 32 / 255 - 23;
  if (payload <= max_local) return 0;
  std::uint64_t k = min_local + (payload - min_local) % (u - 4);
  std::uint64_t local = k <= max_local ? k : min_local;
  return (payload - local + u - 5) / (u - 4);
}

// How the last page of a row's overflow chain is found without the key:
// SQLite allocates a new cell's overflow pages one after the other (in
// fillInCell) before it puts the cell in its leaf, and before any split
// (balance) or index insert allocates b-tree pages; with auto_vacuum = FULL
// no page is free after a commit, so each allocation appends a page at the
// end of the file (pointer-map pages come only every 3267 pages). So a
// commit that inserts one large row, and nothing else large, adds the
// chain's pages in chain order: the chain's length, computed from the row's
// size (`payload`, the sizes used here keep it far from a page boundary),
// tells which added page ends it. A commit that added more pages also split
// a b-tree page, at a place in the sequence that is not known: it is not
// used. Fewer pages than the chain means the reasoning is wrong: the tool
// stops rather than damage some other page. (The trials confirm each page
// found: damaging it leaves every part but that row's readable.)
std::optional<std::uint64_t> chain_tail(const fs::path& path, std::uint64_t payload,
                                        const std::function<void()>& insert_and_commit) {
  const std::uint64_t chain = overflow_pages(payload), before = database_pages(path);
  insert_and_commit();
  const std::uint64_t added = database_pages(path) - before;
  if (added < chain)
    throw std::runtime_error("a commit inserting one row of about " + std::to_string(payload) + " bytes added " +
                             std::to_string(added) + " page(s), fewer than its overflow chain of " +
                             std::to_string(chain) + ": cannot locate chain tails");
  if (added > chain) return std::nullopt;
  return before + chain;
}

// The chunk row: the data, its 32-byte MAC, a few bytes of record header
// and integers.
constexpr std::uint64_t kChunkRowPayload = kChunkSize + 32 + 12;

// Files written one chunk per commit (4 chunks, the last partial; then 2
// more), locating the chain tail of each whole chunk.
void write_chunked_files(FileStore& files, const fs::path& path, std::vector<ChainTail>& tails,
                         std::vector<std::string>& secrets) {
  for (auto [name, size, seed] :
       {std::tuple{"big.bin", 3 * kChunkSize + 4321, 7u}, std::tuple{"register scan.pdf", 2 * kChunkSize, 8u}}) {
    std::uint64_t ino = make(files, vault::kFilesRootIno, name, S_IFREG | 0644, secrets);
    files.commit();
    const std::vector<std::uint8_t> data = content(size, seed);
    for (std::size_t at = 0; at < data.size(); at += kChunkSize) {
      const std::size_t n = std::min(kChunkSize, data.size() - at);
      auto write = [&] {
        files.write(ino, at, std::span(data).subspan(at, n));
        files.commit();
      };
      if (n < kChunkSize) write();
      else if (auto page = chain_tail(path, kChunkRowPayload, write)) tails.push_back({*page, "file chunk"});
    }
  }
}

std::string long_text(std::size_t size, const std::string& line) {
  std::string out;
  for (int n = 1; out.size() < size; ++n) out += std::to_string(n) + ". " + line + "\n";
  out.resize(size);
  return out;
}

// A pupil whose support note (40,000 bytes) overflows into a chain of its
// own: record text has no MAC of its own, unlike file chunks.
void import_long_record(vault::Coffer& c, std::vector<ChainTail>& tails, std::vector<std::string>& secrets) {
  vault::Pupil p;
  p.key = "T001";
  p.surname = "Longnote";
  p.forename = "Tamsin";
  p.reg_group = "9A";
  p.support_note = long_text(40000, "agreed with parents: quiet room, movement breaks, key adult named");
  add_secret(secrets, p.surname);
  add_secret(secrets, p.forename);
  vault::ImportLogEntry log{kNow, "tamper-trials", "coffer-csv", "long-note.csv", 1, {}, {}, {}};
  auto import = [&] { vault::RecordStore(c.database()).import({p}, log); };
  // The row: the note, the names and short columns, its record header.
  if (auto page = chain_tail(c.path(), p.support_note.size() + 120, import)) tails.push_back({*page, "pupil record"});
}

// An audit event with a long detail (30,000 bytes), so that its audit_log
// row has an overflow chain.
void audit_long_event(vault::Coffer& c, std::vector<ChainTail>& tails) {
  std::string detail = long_text(30000, "exported files/register scan.pdf to an approved folder");
  auto audit = [&] { c.audit(vault::AuditKind::kExport, "files/", "ok", detail); };
  if (auto page = chain_tail(c.path(), detail.size() + 160, audit)) tails.push_back({*page, "audit event"});
}

void audit_some_reads(vault::Coffer& c) {
  for (const char* what : {"roster.csv (read)", "files/trip notes.txt (read)", "manifest.txt (read)"})
    c.audit(vault::AuditKind::kOpenView, what, "ok");
  c.audit(vault::AuditKind::kCopyBlocked, "files/big.bin", "refused", "a writer on a removable disk");
}

}  // namespace

keystore::Passphrase trial_passphrase() { return test::passphrase(kPassphrase); }

vault::UnlockPolicy trial_policy(const vault::Clock& clock) {
  vault::UnlockPolicy policy;
  policy.clock = &clock;
  return policy;
}

std::uint64_t database_pages(const fs::path& coffer) {
  struct stat st {};
  if (::stat(coffer.c_str(), &st) != 0) throw std::runtime_error("cannot stat " + coffer.string());
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < kHeaderArea || (size - kHeaderArea) % kPage != 0)
    throw std::runtime_error(coffer.string() + " is not the header plus whole pages");
  return (size - kHeaderArea) / kPage;
}

Population populate(const fs::path& dir, const fs::path& fixtures) {
  Population pop;
  pop.coffer = dir / "tamper.coffer";
  pop.secrets = {kPassphrase, kSecondPassphrase};
  keystore::Random& random = keystore::system_random();
  test::FixedClock clock(kNow);
  vault::CreateParams params =
      test::CreateParamsBuilder()
          .owner("Ms T. Rial")
          .expires(kNow + 30 * 86400)
          .audit_key(keystore::generate_school_key(keystore::SchoolKeyRole::kAudit, random).public_key)
          .recovery_key(keystore::generate_school_key(keystore::SchoolKeyRole::kRecovery, random).public_key)
          .profile_fields({trip_profile().fields.begin(), trip_profile().fields.end()})
          .created_by("tamper-trials")
          .build();
  vault::Coffer::create(pop.coffer, params, trial_passphrase(), random, clock);

  vault::Coffer c = vault::Coffer::unlock(pop.coffer, trial_passphrase(), random, trial_policy(clock));
  import_fixture(c, fixtures, pop.secrets);
  c.add_passphrase(test::passphrase(kSecondPassphrase), keystore::KdfCost::kTest);
  audit_some_reads(c);
  FileStore files(c.database(), c.chunk_mac_key(), clock);
  write_small_files(files, pop.secrets);
  // Last: only inserts follow, which free no page, so nothing moves the
  // pages located here (auto_vacuum moves pages only to fill freed ones).
  write_chunked_files(files, pop.coffer, pop.chain_tails, pop.secrets);
  import_long_record(c, pop.chain_tails, pop.secrets);
  audit_long_event(c, pop.chain_tails);
  if (pop.chain_tails.empty()) throw std::runtime_error("no chain tail located");
  pop.audit_events = c.audit_events().size();
  pop.pages = database_pages(pop.coffer);
  return pop;
}

}  // namespace coffer::tamper
