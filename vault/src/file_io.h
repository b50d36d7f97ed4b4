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

// An owned descriptor (move-only, closes on destruction).
class Fd {
 public:
  explicit Fd(int fd = -1) noexcept : fd_(fd) {}
  ~Fd();
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const noexcept { return fd_; }
  int release() noexcept {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

}  // namespace coffer::vault::io
