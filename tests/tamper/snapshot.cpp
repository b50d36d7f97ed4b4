// Reading a coffer part by part; see snapshot.h. The record parts are
// rendered exactly as the mount renders them (roster.csv, profile.txt,
// manifest.txt), the files/ tree with every attribute the mount shows.
#include "snapshot.h"

#include <sys/stat.h>

#include <algorithm>
#include <functional>
#include <sstream>
#include <system_error>

#include "coffer/vault/audit/audit.h"
#include "coffer/vault/container/meta.h"
#include "coffer/vault/files/filestore.h"
#include "coffer/vault/records/manifest.h"
#include "coffer/vault/records/records.h"
#include "coffer/vault/records/views.h"
#include "population.h"
#include "test_support.h"

namespace coffer::tamper {
namespace {

using vault::FileStore;

PartRead read_part(std::string name, const std::function<std::string()>& read) {
  PartRead r{std::move(name), ReadStatus::kOk, {}, ErrorCode::kOther};
  try {
    r.value = read();
  } catch (const Error& e) {
    r.status = ReadStatus::kCofferError;
    r.code = e.code();
    r.value = e.what();
  } catch (const vault::FsError& e) {
    r.status = ReadStatus::kFsError;
    r.value = "filesystem error: " + std::make_error_code(e.code()).message();
  } catch (const std::exception& e) {
    r.status = ReadStatus::kException;
    r.value = e.what();
  }
  return r;
}

// A FileStore of its own for each part, so that a failure to set one up
// (its constructor reads the database) is that part's failure.
std::string with_files(vault::Coffer& c, const std::function<std::string(FileStore&)>& f) {
  static const test::FixedClock clock(kNow);
  FileStore files(c.database(), c.chunk_mac_key(), clock);
  return f(files);
}

std::string describe_inode(const vault::Inode& n) {
  std::ostringstream s;
  s << "mode " << n.mode << " uid " << n.uid << " gid " << n.gid << " nlink " << n.nlink << " size " << n.size
    << " rdev " << n.rdev << " times " << n.atime_ns << " " << n.mtime_ns << " " << n.ctime_ns;
  return s.str();
}

// Lists the tree under `dir` (names, attributes), depth first in readdir
// order; collects the paths of everything that is not a directory.
void walk(FileStore& files, std::uint64_t dir, const std::string& prefix, std::string& out,
          std::vector<std::string>& leaves) {
  std::uint64_t cookie = 0;
  for (;;) {
    auto batch = files.readdir(dir, cookie, 64);
    if (batch.empty()) return;
    for (const auto& e : batch) {
      vault::Inode n = files.get(e.ino);
      const std::string path = prefix + e.name;
      out += path + "\t" + std::to_string(e.ino) + "\t" + describe_inode(n) + "\n";
      if (n.is_dir()) walk(files, e.ino, path + "/", out, leaves);
      else leaves.push_back(path);
      cookie = e.cookie;
    }
  }
}

std::uint64_t resolve(FileStore& files, const std::string& path) {
  std::uint64_t ino = vault::kFilesRootIno;
  std::istringstream parts(path);
  for (std::string name; std::getline(parts, name, '/');) {
    auto n = files.lookup(ino, name);
    if (!n) throw vault::FsError(std::errc::no_such_file_or_directory);
    ino = n->ino;
  }
  return ino;
}

std::string file_content(FileStore& files, const std::string& path) {
  vault::Inode n = files.get(resolve(files, path));
  if (S_ISLNK(n.mode)) return "symlink to " + files.readlink(n.ino);
  std::string out;
  std::vector<std::uint8_t> buf(64 * 1024);
  while (out.size() < n.size) {
    std::size_t want = std::min<std::uint64_t>(buf.size(), n.size - out.size());
    std::size_t got = files.read(n.ino, out.size(), std::span(buf).first(want));
    out.append(reinterpret_cast<const char*>(buf.data()), got);
    if (got < want) break;  // short: the comparison with the expected bytes says so
  }
  return out;
}

std::string meta_text(vault::Database& db) {
  std::string out;
  for (const auto& [k, v] : vault::all_meta(db))
    if (k != "audit_head") out += k + "=" + v + "\n";  // the head hashes this unlock's event (its pid)
  return out;
}

std::string roster_text(vault::Database& db) {
  return vault::roster_csv(vault::RecordStore(db).load_all(),
                           vault::split_fields(vault::get_meta(db, "profile_fields").value_or("")));
}

std::string pupil_list(vault::Database& db) {
  std::string out;
  for (const auto& e : vault::RecordStore(db).list())
    out += std::to_string(e.id) + "\t" + vault::pupil_folder_name(e) + "\n";
  return out;
}

std::string pupil_sheet(vault::Database& db, std::int64_t id) {
  auto pupil = vault::RecordStore(db).load(id);
  if (!pupil) return "(no such record)";
  return vault::profile_txt(*pupil, vault::split_fields(vault::get_meta(db, "profile_fields").value_or("")));
}

std::string audit_text(vault::Coffer& c, std::size_t before) {
  std::ostringstream s;
  for (const auto& [seq, e] : c.audit_events())
    s << seq << " " << e.time << " " << e.uid << " " << (seq > before ? 0 : e.pid) << " " << e.exe << " "
      << static_cast<int>(e.kind) << " [" << e.object << "] [" << e.result << "] [" << e.detail << "]\n";
  return s.str();
}

}  // namespace

Layout discover_layout(vault::Coffer& c) {
  Layout layout;
  with_files(c, [&](FileStore& files) {
    std::string ignored;
    walk(files, vault::kFilesRootIno, "", ignored, layout.file_paths);
    return std::string();
  });
  for (const auto& e : vault::RecordStore(c.database()).list())
    layout.pupils.emplace_back(e.id, vault::pupil_folder_name(e));
  return layout;
}

std::vector<PartRead> read_parts(vault::Coffer& c, const Layout& layout, std::size_t audit_events_before) {
  vault::Database& db = c.database();
  std::vector<PartRead> parts;
  parts.push_back(read_part("coffer_meta", [&] { return meta_text(db); }));
  parts.push_back(read_part("roster.csv", [&] { return roster_text(db); }));
  parts.push_back(
      read_part("manifest.txt", [&] { return vault::manifest_text(vault::read_manifest(db, "tamper.coffer")); }));
  parts.push_back(read_part("pupils/", [&] { return pupil_list(db); }));
  for (const auto& pupil : layout.pupils)
    parts.push_back(read_part("pupils/" + pupil.second + "/profile.txt", [&] { return pupil_sheet(db, pupil.first); }));
  parts.push_back(read_part("files/ (tree)", [&] {
    return with_files(c, [](FileStore& files) {
      std::string out;
      std::vector<std::string> ignored;
      walk(files, vault::kFilesRootIno, "", out, ignored);
      return out;
    });
  }));
  for (const auto& path : layout.file_paths)
    parts.push_back(read_part(
        "files/" + path, [&] { return with_files(c, [&](FileStore& files) { return file_content(files, path); }); }));
  parts.push_back(read_part("audit trail", [&] { return audit_text(c, audit_events_before); }));
  return parts;
}

}  // namespace coffer::tamper
