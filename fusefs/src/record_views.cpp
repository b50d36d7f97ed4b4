// The generated top level and record views; see record_views.h.
#include "coffer/fusefs/record_views.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "coffer/vault/container/meta.h"
#include "coffer/vault/records/manifest.h"
#include "coffer/vault/records/views.h"

namespace coffer::fusefs {
namespace {

using vault::FsError;
using vault::Inode;

constexpr std::string_view kProfileName = "profile.txt";

bool is_pupil_node(std::uint64_t ino) { return ino >= kPupilBase; }
bool is_pupil_folder(std::uint64_t ino) { return is_pupil_node(ino) && (ino - kPupilBase) % 2 == 0; }
std::int64_t pupil_id_of(std::uint64_t ino) { return static_cast<std::int64_t>((ino - kPupilBase) / 2); }
bool valid_pupil_id(std::int64_t id) { return id >= 0 && id <= kMaxPupilId; }

std::vector<std::string> profile_fields(vault::Database& db) {
  return vault::split_fields(vault::get_meta(db, "profile_fields").value_or(""));
}

std::size_t copy_slice(const std::string& text, std::uint64_t offset, std::span<std::uint8_t> out) {
  if (offset >= text.size()) return 0;
  std::size_t n = std::min(out.size(), text.size() - static_cast<std::size_t>(offset));
  std::memcpy(out.data(), text.data() + offset, n);
  return n;
}

}  // namespace

RecordViews::RecordViews(vault::Database& db, const MountInfo& info, std::int64_t mount_time_ns)
    : db_(db), records_(db), info_(info), mount_time_ns_(mount_time_ns) {}

Inode RecordViews::root_attr() const {
  Inode i;
  i.ino = kRootIno;
  i.mode = S_IFDIR | 0500;
  i.nlink = 4;  // ., files/ and pupils/
  i.uid = info_.mounter_uid;
  i.gid = info_.mounter_gid;
  i.atime_ns = i.mtime_ns = i.ctime_ns = mount_time_ns_;
  return i;
}

Inode RecordViews::readme_attr() const { return view_attr(kReadmeIno, info_.readme.size()); }

// Generated nodes look like README.txt and the root: the mounter's, read-only,
// timestamped at the mount.
Inode RecordViews::view_attr(std::uint64_t ino, std::size_t size) const {
  Inode i = root_attr();
  i.ino = ino;
  i.mode = S_IFREG | 0400;
  i.nlink = 1;
  i.size = size;
  return i;
}

Inode RecordViews::dir_attr(std::uint64_t ino, std::uint64_t nlink) const {
  Inode i = root_attr();
  i.ino = ino;
  i.nlink = nlink;
  return i;
}

bool RecordViews::pupil_exists(std::int64_t id) { return valid_pupil_id(id) && records_.load(id).has_value(); }

void RecordViews::remember_folders(const std::vector<vault::PupilEntry>& pupils) {
  folder_ids_.clear();
  for (const auto& e : pupils)
    if (valid_pupil_id(e.id)) folder_ids_.emplace(vault::pupil_folder_name(e), e.id);
}

// `ls -l pupils` looks up every folder: reading the whole list for each
// would make that quadratic. A remembered id is used only once the
// database confirms that pupil still has exactly this folder name.
std::optional<std::int64_t> RecordViews::pupil_by_folder(std::string_view name) {
  auto it = folder_ids_.find(std::string(name));
  if (it != folder_ids_.end()) {
    if (auto p = records_.load(it->second);
        p && vault::pupil_folder_name({it->second, p->key, p->display_name()}) == name)
      return it->second;
  }
  remember_folders(records_.list());
  it = folder_ids_.find(std::string(name));
  if (it == folder_ids_.end()) return std::nullopt;
  return it->second;
}

// Rendered afresh on every request (no cache): a pupil removed from the
// database is gone from the views at once. Only one pupil is loaded for a
// profile; the roster and manifest are small enough to build each time.
std::string RecordViews::render(std::uint64_t ino) {
  if (ino == kReadmeIno) return info_.readme;
  if (ino == kRosterIno) return vault::roster_csv(records_.load_all(), profile_fields(db_));
  if (ino == kManifestIno) return vault::manifest_text(vault::read_manifest(db_, info_.coffer_name));
  if (ino == kPupilsIno || is_pupil_folder(ino)) throw FsError(std::errc::is_a_directory);
  if (is_pupil_node(ino)) {
    std::int64_t id = pupil_id_of(ino);
    if (valid_pupil_id(id))
      if (auto pupil = records_.load(id)) return vault::profile_txt(*pupil, profile_fields(db_));
  }
  throw FsError(std::errc::no_such_file_or_directory);
}

Inode RecordViews::attr(std::uint64_t ino) {
  if (ino == kRootIno) return root_attr();
  if (ino == kReadmeIno) return readme_attr();
  if (ino == kRosterIno || ino == kManifestIno) return view_attr(ino, render(ino).size());
  if (ino == kPupilsIno) return dir_attr(ino, 2 + static_cast<std::uint64_t>(records_.count()));
  if (is_pupil_folder(ino)) {
    if (!pupil_exists(pupil_id_of(ino))) throw FsError(std::errc::no_such_file_or_directory);
    return dir_attr(ino, 2);
  }
  if (is_pupil_node(ino)) return view_attr(ino, render(ino).size());
  throw FsError(std::errc::no_such_file_or_directory);
}

Inode RecordViews::lookup(std::uint64_t parent, std::string_view name) {
  if (parent == kRootIno) {
    if (name == "README.txt") return readme_attr();
    if (name == "roster.csv") return attr(kRosterIno);
    if (name == "manifest.txt") return attr(kManifestIno);
    if (name == "pupils") return attr(kPupilsIno);
    throw FsError(std::errc::no_such_file_or_directory);
  }
  if (parent == kPupilsIno) {
    // The folder name is not parsed back into a key, so any name vault
    // gives a pupil works.
    if (auto id = pupil_by_folder(name)) return dir_attr(pupil_folder_ino(*id), 2);
    throw FsError(std::errc::no_such_file_or_directory);
  }
  if (is_pupil_folder(parent)) {
    std::int64_t id = pupil_id_of(parent);
    if (!pupil_exists(id) || name != kProfileName) throw FsError(std::errc::no_such_file_or_directory);
    return attr(pupil_profile_ino(id));
  }
  throw FsError(std::errc::not_a_directory);
}

void RecordViews::opendir(std::uint64_t ino) {
  if (ino == kRootIno || ino == kPupilsIno) return;
  if (is_pupil_folder(ino)) {
    if (!pupil_exists(pupil_id_of(ino))) throw FsError(std::errc::no_such_file_or_directory);
    return;
  }
  throw FsError(std::errc::not_a_directory);
}

std::vector<Entry> RecordViews::readdir(std::uint64_t ino, std::uint64_t cookie, std::size_t max) {
  std::vector<Entry> out;
  auto add = [&](const Entry& e) {
    if (e.next_cookie > cookie && out.size() < max) out.push_back(e);
  };
  if (ino == kRootIno) {
    const Entry all[] = {{".", kRootIno, S_IFDIR, 1},
                         {"..", kRootIno, S_IFDIR, 2},
                         {"README.txt", kReadmeIno, S_IFREG, 3},
                         {"roster.csv", kRosterIno, S_IFREG, 4},
                         {"manifest.txt", kManifestIno, S_IFREG, 5},
                         {"pupils", kPupilsIno, S_IFDIR, 6},
                         {"files", vault::kFilesRootIno, S_IFDIR, 7}};
    for (const auto& e : all) add(e);
    return out;
  }
  if (ino == kPupilsIno) {
    add({".", kPupilsIno, S_IFDIR, 1});
    add({"..", kRootIno, S_IFDIR, 2});
    // In id order with the id in the cookie, so a pupil removed between two
    // readdir calls does not make the listing skip or repeat another.
    auto pupils = records_.list();
    remember_folders(pupils);  // the lookups of an `ls -l` follow
    std::sort(pupils.begin(), pupils.end(),
              [](const vault::PupilEntry& a, const vault::PupilEntry& b) { return a.id < b.id; });
    for (const auto& e : pupils) {
      if (out.size() >= max) break;
      if (!valid_pupil_id(e.id)) continue;
      add({vault::pupil_folder_name(e), pupil_folder_ino(e.id), S_IFDIR, static_cast<std::uint64_t>(e.id) + 3});
    }
    return out;
  }
  if (is_pupil_folder(ino)) {
    if (!pupil_exists(pupil_id_of(ino))) throw FsError(std::errc::no_such_file_or_directory);
    add({".", ino, S_IFDIR, 1});
    add({"..", kPupilsIno, S_IFDIR, 2});
    add({std::string(kProfileName), pupil_profile_ino(pupil_id_of(ino)), S_IFREG, 3});
    return out;
  }
  throw FsError(std::errc::not_a_directory);
}

bool RecordViews::open(std::uint64_t ino, int flags) {
  if (ino == kRootIno || ino == kPupilsIno || is_pupil_folder(ino)) throw FsError(std::errc::is_a_directory);
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) throw FsError(std::errc::permission_denied);
  if (ino == kReadmeIno) return false;  // the coffer's own notice, not personal data
  if (ino == kRosterIno || ino == kManifestIno || (is_pupil_node(ino) && pupil_exists(pupil_id_of(ino)))) return true;
  throw FsError(std::errc::no_such_file_or_directory);
}

std::size_t RecordViews::read(std::uint64_t ino, std::uint64_t offset, std::span<std::uint8_t> out) {
  if (ino == kReadmeIno) return copy_slice(info_.readme, offset, out);
  return copy_slice(render(ino), offset, out);
}

std::optional<std::string> RecordViews::object_name(std::uint64_t ino) {
  if (ino == kRosterIno) return "roster.csv";
  if (ino == kManifestIno) return "manifest.txt";
  if (is_pupil_node(ino)) {
    std::int64_t id = pupil_id_of(ino);
    for (auto& p : records_.list())
      if (p.id == id) return "pupils/" + vault::pupil_folder_name(p) + "/profile.txt";
    return "pupils/(removed)/profile.txt";
  }
  return std::nullopt;
}

std::optional<std::string> RecordViews::folder_name(std::uint64_t ino) {
  if (ino == kRootIno) return "(the coffer's top folder)";
  if (ino == kPupilsIno) return "pupils/";
  if (is_pupil_folder(ino)) {
    std::string profile = *object_name(ino);  // pupils/NAME/profile.txt
    return profile.substr(0, profile.size() - kProfileName.size());
  }
  return std::nullopt;
}

}  // namespace coffer::fusefs
