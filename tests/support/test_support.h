// Helpers shared by the in-process tests: a temporary directory removed on
// scope exit, a settable clock, passphrases and raw file access; the
// CreateParams builder (create_params.h) comes with them.
#pragma once

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "coffer/keystore/secret.h"
#include "coffer/vault/container/clock.h"
#include "coffer/vault/files/filestore.h"
#include "create_params.h"

namespace coffer::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "coffer-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

class FixedClock final : public vault::Clock {
 public:
  explicit FixedClock(std::int64_t now) : now_(now) {}
  std::int64_t now() const override { return now_; }
  void set(std::int64_t now) { now_ = now; }

 private:
  std::int64_t now_;
};

inline keystore::Passphrase passphrase(const std::string& text) {
  keystore::Passphrase p;
  for (char c : text) p.push_back(static_cast<std::uint8_t>(c));
  return p;
}

inline std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::filesystem::path& path, const std::vector<std::uint8_t>& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// A small tmpfs mounted for the scope (root only), for real disk-full tests.
class SmallTmpfs {
 public:
  explicit SmallTmpfs(const std::string& size);
  ~SmallTmpfs();
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  bool mounted() const { return mounted_; }
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  TempDir dir_;
  bool mounted_ = false;
};

inline SmallTmpfs::SmallTmpfs(const std::string& size) {
  mounted_ = ::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
}
inline SmallTmpfs::~SmallTmpfs() {
  if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
}

// The std::errc a filesystem call throws, or std::errc{} if it does not.
template <class F>
std::errc errc_of(F&& f) {
  try {
    f();
  } catch (const vault::FsError& e) {
    return e.code();
  }
  return std::errc{};
}

inline bool contains(const std::vector<std::uint8_t>& hay, const std::string& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

}  // namespace coffer::test
