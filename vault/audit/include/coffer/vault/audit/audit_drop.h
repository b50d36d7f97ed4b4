// The audit drop: copies of a coffer's sidecar in the school's drop
// directory (e.g. the school share, when mounted), made at open and at lock
// whenever it is reachable, so that after a loss the school holds the trail
// up to the laptop's last contact. A copy is named after the coffer file and
// its vault id (trip.coffer.<32 hex>.audit) and only ever grows; a later
// trail of the same coffer (a restarted sidecar) never overwrites it but
// gets its own copy, trip.coffer.<32 hex>.<16 hex of its genesis>.audit.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>

namespace coffer::vault {

// The drop copy's path for a coffer file and vault id.
std::filesystem::path drop_copy_path(const std::filesystem::path& drop_dir, const std::filesystem::path& coffer_path,
                                     std::span<const std::uint8_t, 16> vault_id);

// Copies `sidecar` to its drop copy (temporary file, fsync, rename), unless
// the drop directory is unreachable or the drop copy already holds at least
// as many records. Returns the records now in the drop copy, or nothing when
// the directory was unreachable. Never throws.
std::optional<std::uint64_t> copy_to_drop(const std::filesystem::path& sidecar, const std::filesystem::path& drop_dir,
                                          const std::filesystem::path& coffer_path,
                                          std::span<const std::uint8_t, 16> vault_id) noexcept;

// How long a passphrase prompt may wait for the drop copy of a keyless
// event (failed unlock, lock-out, wipe at the limit).
inline constexpr std::chrono::milliseconds kKeylessDropLimit{1500};

// copy_to_drop with a deadline, for the events written without the coffer's
// key while the prompt waits: the copy runs in a child process, and when it
// has not finished within `limit` (a share that never answers: a hung FUSE
// server, a stalled NFS mount, a FIFO where the copy should be) the caller
// goes on without it and the child is killed. Returns the records now in
// the drop copy, or nothing (unreachable, failed, or out of time). Never
// throws.
std::optional<std::uint64_t> copy_to_drop_within(const std::filesystem::path& sidecar,
                                                 const std::filesystem::path& drop_dir,
                                                 const std::filesystem::path& coffer_path,
                                                 std::span<const std::uint8_t, 16> vault_id,
                                                 std::chrono::milliseconds limit) noexcept;

// Among the files in drop_dir, the drop copy of the same trail as `sidecar`
// (its 128-byte header is identical), if any.
std::optional<std::filesystem::path> find_drop_copy(const std::filesystem::path& sidecar,
                                                    const std::filesystem::path& drop_dir);

}  // namespace coffer::vault
