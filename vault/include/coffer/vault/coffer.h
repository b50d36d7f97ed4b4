// A coffer file: create one, read its header without a key, unlock it with a
// passphrase or the school's recovery key, manage its key slots, check it,
// and crypto-erase it. While a Coffer object lives it holds an exclusive
// flock on the file, so two processes never write the same coffer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "coffer/keystore/kdf.h"
#include "coffer/keystore/random.h"
#include "coffer/keystore/school_key.h"
#include "coffer/keystore/secret.h"
#include "coffer/vault/clock.h"
#include "coffer/vault/database.h"
#include "coffer/vault/header.h"

namespace coffer::vault {

class Coffer;

struct CreateParams {
  std::string profile;
  std::string owner;
  std::int64_t expires = 0;  // unix seconds, the last second of validity
  keystore::KdfCost kdf_cost = keystore::KdfCost::kDefault;
  std::optional<keystore::SchoolPublicKey> recovery_key;
  std::optional<keystore::SchoolPublicKey> audit_key;
  std::vector<std::string> profile_fields;  // what imports may carry
  std::string protection = "standard";      // copy-protection level needed
  std::string created_by;                   // the account that made it (manifest)
  bool must_change_passphrase = false;      // one-time passphrase: change at first open
  // Runs inside the new coffer before it appears under its name (imports
  // records at provisioning): if it throws, no coffer is left behind.
  std::function<void(Coffer&)> populate;
};

struct FsckReport {
  std::vector<std::string> problems;  // empty = healthy
  std::vector<std::string> notes;
  bool ok() const { return problems.empty(); }
};

// The sibling files SQLite may leave next to a coffer (journal, WAL).
std::vector<std::filesystem::path> sibling_files(const std::filesystem::path& path);

// Reads and selects the header without a key or a lock (for `coffer info`).
SelectedHeader read_header(const std::filesystem::path& path);

// Overwrites the header area (every key slot, the recovery slot and the MAC,
// in both copies) and the start of the payload with random bytes, syncs,
// then removes the file and its siblings. Refuses a file that is not a
// coffer and a coffer open in another process.
void wipe(const std::filesystem::path& path, keystore::Random& random);

class Coffer {
 public:
  // Writes a new coffer atomically: it appears complete or not at all.
  static void create(const std::filesystem::path& path, const CreateParams& params,
                     const keystore::Passphrase& passphrase, keystore::Random& random,
                     const Clock& clock);
  static Coffer unlock(const std::filesystem::path& path, const keystore::Passphrase& passphrase,
                       keystore::Random& random);
  static Coffer unlock_with_recovery(const std::filesystem::path& path,
                                     const keystore::SchoolKeyPair& school_key,
                                     keystore::Random& random);

  Coffer(Coffer&&) noexcept = default;
  Coffer& operator=(Coffer&&) noexcept = default;
  ~Coffer();

  const Header& header() const { return header_; }
  const std::filesystem::path& path() const { return path_; }
  // Warnings about repaired damage found while opening.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // The slot the passphrase opened; empty when opened with the recovery key.
  std::optional<std::size_t> unlocked_slot() const { return unlocked_slot_; }

  // Key slots. Each rewrites both header copies; the MAC is recomputed.
  std::size_t add_passphrase(const keystore::Passphrase& passphrase, keystore::KdfCost cost,
                             std::optional<std::size_t> slot = std::nullopt);
  void replace_passphrase(std::size_t slot, const keystore::Passphrase& passphrase,
                          keystore::KdfCost cost);
  // Refuses to remove the last slot unless a recovery slot exists.
  void remove_slot(std::size_t slot);
  // After recovery: every passphrase slot replaced by this one (slot 0).
  void reset_passphrases(const keystore::Passphrase& passphrase, keystore::KdfCost cost);

  // Provisioned with a one-time passphrase the owner must replace at first
  // open; cleared once they have.
  bool must_change_passphrase();
  void set_must_change_passphrase(bool value);

  FsckReport check();
  // The key for file-chunk MACs (the mount derives it once).
  keystore::ChunkMacKey chunk_mac_key() const;
  // Drops the master key once nothing needs it any more (the mount keeps
  // only the subkeys it uses); key-slot changes are refused afterwards.
  void forget_master_key();
  Database& database() { return *db_; }

 private:
  Coffer() = default;
  static Coffer open_locked(const std::filesystem::path& path);
  void finish_unlock(const keystore::MasterKey& master, keystore::Random& random);
  void write_header();
  void require_master_key() const;

  std::filesystem::path path_;
  std::optional<Database> db_;
  Header header_;
  std::vector<std::string> warnings_;
  bool needs_repair_ = false;
  std::optional<std::size_t> unlocked_slot_;
  std::optional<keystore::HeaderMacKey> mac_key_;
  std::optional<keystore::MasterKey> master_;
  keystore::Random* random_ = nullptr;
};

}  // namespace coffer::vault
