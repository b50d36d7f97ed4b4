// A test-only SQLite VFS that injects faults under the coffer VFS shim (so
// under SQLCipher's encryption and the header code): it simulates a power
// cut (writes not yet synced are lost or torn, sector by sector), fails the
// Nth read, write or sync with an I/O error, and reports the disk full after
// N bytes. It wraps the OS's VFS and installs itself as SQLite's default, so
// the shim, registered afterwards, stacks on it (vault/src/vfs_shim.h).
//
// Model of a crash (the pattern of SQLite's own crash test, test6.c, with
// writes applied at once and undone instead of buffered): a write reaches
// the file immediately; the first time a 512-byte sector changes after the
// file's last sync its synced contents are kept aside. At the crash every
// such sector independently keeps its new bytes, gets its old ones back, or
// (for bytes past the synced size) is zeroed; an extension or a truncation
// not yet synced survives or not. From then on every I/O fails, as if the
// process had died, until disarm(): what is on disk is what a machine would
// find after the power came back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace coffer::test::fault {

struct Plan {
  std::uint64_t seed = 1;
  // Crash just before the Nth mutating operation (write, truncate, sync),
  // counted from arm(); 1 = the first.
  std::optional<std::uint64_t> crash_at;
  // Fail the Nth read / write / sync (counted separately from arm()) with
  // SQLITE_IOERR_*; with `persistent`, that one and every later one of its
  // kind fail (a dying disk).
  std::optional<std::uint64_t> fail_read_at;
  std::optional<std::uint64_t> fail_write_at;
  std::optional<std::uint64_t> fail_sync_at;
  bool persistent = false;
  // Writes fail with SQLITE_FULL once this many bytes were written since
  // arm() (the write that would cross it writes nothing).
  std::optional<std::uint64_t> full_after_bytes;
};

struct Stats {
  std::uint64_t reads = 0;
  std::uint64_t writes = 0;
  std::uint64_t syncs = 0;
  std::uint64_t truncates = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t opens = 0;
  std::uint64_t mutations() const { return writes + truncates + syncs; }
  // What the last crash did to unsynced sectors.
  std::uint64_t sectors_kept = 0;
  std::uint64_t sectors_lost = 0;
  std::uint64_t sectors_zeroed = 0;
  bool crashed = false;
  std::uint64_t errors_injected = 0;
};

// Registers the VFS "fault" as SQLite's default. Call before the first
// coffer is opened in the process (the shim binds to the default then);
// installed() says whether the shim really sits on it (an open went
// through it).
void install();
bool installed();

// Starts a plan (counters reset); disarm() returns to pass-through and ends
// a crash (files stay as the crash left them).
void arm(const Plan& plan);
void disarm();
Stats stats();

// Simulates the crash now (as if the next mutation were the planned one).
void crash_now();

}  // namespace coffer::test::fault
