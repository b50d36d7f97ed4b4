// Exports; see export.h. Files are written with O_EXCL|O_NOFOLLOW below a
// directory this code created, so an export never writes through a link or
// over something already there.
#include "coffer/vault/coffer/export.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "coffer/error.h"
#include "coffer/vault/container/meta.h"
#include "coffer/vault/files/filestore.h"
#include "coffer/vault/records/manifest.h"
#include "coffer/vault/records/records.h"
#include "coffer/vault/records/views.h"

namespace coffer::vault {
namespace fs = std::filesystem;
namespace {

void make_dir(const fs::path& p) {
  if (::mkdir(p.c_str(), 0700) != 0)
    throw Error(errno == EEXIST ? ErrorCode::kPolicy : ErrorCode::kIo,
                "cannot create " + p.string() + ": " + std::strerror(errno) +
                    (errno == EEXIST ? " (an export never overwrites; choose a new folder)" : ""));
}

void write_file(const fs::path& p, std::span<const std::uint8_t> data, std::uint32_t mode) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot create " + p.string() + ": " + std::strerror(errno));
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      throw Error(e == ENOSPC ? ErrorCode::kNoSpace : ErrorCode::kIo,
                  "cannot write " + p.string() + ": " + std::strerror(e));
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    throw Error(ErrorCode::kIo, "cannot sync " + p.string());
  }
  ::close(fd);
}

void write_text(const fs::path& p, const std::string& text) {
  write_file(p, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), 0600);
}

// Names from the coffer become one path component each: never "..", never
// a slash (the store refuses both already; this is the second line).
bool safe_name(const std::string& n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos && n.find('\0') == std::string::npos;
}

void copy_tree(FileStore& store, std::uint64_t dir, const fs::path& dest, const std::string& rel,
               std::vector<ExportedFile>& out) {
  std::uint64_t cookie = 0;
  for (;;) {
    auto entries = store.readdir(dir, cookie, 256);
    if (entries.empty()) break;
    for (auto& e : entries) {
      cookie = e.cookie;
      if (!safe_name(e.name)) continue;
      Inode node = store.get(e.ino);
      fs::path target = dest / e.name;
      std::string name = rel.empty() ? e.name : rel + "/" + e.name;
      if (S_ISDIR(node.mode)) {
        make_dir(target);
        copy_tree(store, e.ino, target, name, out);
        ::chmod(target.c_str(), node.mode & 0700);
        out.push_back({name, 0, true});
      } else if (S_ISREG(node.mode)) {
        std::vector<std::uint8_t> data(node.size);
        std::size_t got = 0;
        while (got < data.size()) {
          std::size_t n = store.read(e.ino, got, std::span(data).subspan(got));
          if (n == 0) break;
          got += n;
        }
        data.resize(got);
        write_file(target, data, node.mode & 0700 ? node.mode & 0700 : 0600);
        timespec ts[2] = {{node.atime_ns / 1000000000, node.atime_ns % 1000000000},
                          {node.mtime_ns / 1000000000, node.mtime_ns % 1000000000}};
        ::utimensat(AT_FDCWD, target.c_str(), ts, AT_SYMLINK_NOFOLLOW);
        out.push_back({name, got, false});
      } else if (S_ISLNK(node.mode)) {
        std::string to = store.readlink(e.ino);
        if (::symlink(to.c_str(), target.c_str()) != 0)
          throw Error(ErrorCode::kIo, "cannot create " + target.string() + ": " + std::strerror(errno));
        out.push_back({name, 0, false});
      }
      // FIFOs: nothing to return.
    }
  }
}

}  // namespace

std::vector<ExportedFile> export_files(Coffer& coffer, const fs::path& dest) {
  make_dir(dest);
  FileStore store(coffer.database(), coffer.chunk_mac_key(), system_clock());
  std::vector<ExportedFile> out;
  copy_tree(store, kFilesRootIno, dest, "", out);
  return out;
}

std::vector<ExportedFile> export_records(Coffer& coffer, const fs::path& dest, const std::string& coffer_name) {
  make_dir(dest);
  Database& db = coffer.database();
  std::vector<ExportedFile> out;
  auto fields = split_fields(get_meta(db, "profile_fields").value_or(""));
  RecordStore records(db);
  std::string roster = roster_csv(records.load_all(), fields);
  write_text(dest / "roster.csv", roster);
  out.push_back({"roster.csv", roster.size(), false});
  std::string manifest = manifest_text(read_manifest(db, coffer_name));
  write_text(dest / "manifest.txt", manifest);
  out.push_back({"manifest.txt", manifest.size(), false});
  make_dir(dest / "pupils");
  for (auto& entry : records.list()) {
    auto pupil = records.load(entry.id);
    if (!pupil) continue;
    std::string folder = pupil_folder_name(entry);
    if (!safe_name(folder)) continue;
    make_dir(dest / "pupils" / folder);
    std::string sheet = profile_txt(*pupil, fields);
    write_text(dest / "pupils" / folder / "profile.txt", sheet);
    out.push_back({"pupils/" + folder + "/profile.txt", sheet.size(), false});
  }
  return out;
}

}  // namespace coffer::vault
