// Small POSIX helpers for the container: whole-buffer pread/pwrite that
// throw coffer::Error(kIo) with the path, the exclusive flock with the
// holder's name, and directory fsync after a rename or unlink.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

namespace coffer::vault::io {

// Returns the number of bytes read (short only at end of file).
std::size_t pread_all(int fd, std::span<std::uint8_t> out, std::uint64_t offset, const std::filesystem::path& path);
void pwrite_all(int fd, std::span<const std::uint8_t> data, std::uint64_t offset, const std::filesystem::path& path);
void sync_data(int fd, const std::filesystem::path& path);
void sync_directory_of(const std::filesystem::path& path);
// Takes an exclusive, non-blocking flock; throws Error(kBusy) naming the
// process that holds it (from /proc/locks) when taken.
void lock_exclusive(int fd, const std::filesystem::path& path);

// Owned descriptors are coffer::UniqueFd (coffer/unique_fd.h).

}  // namespace coffer::vault::io
