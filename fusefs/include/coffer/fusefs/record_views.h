// The generated, read-only part of the mount: the top folder, README.txt
// and the record views (roster.csv, manifest.txt, pupils/NAME/profile.txt),
// rendered from the database on every request so they always match it.
// Filesystem sends every generated node (is_generated) here and files/ to
// the FileStore. Not thread-safe: Filesystem calls it under its mutex.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "coffer/fusefs/nodes.h"
#include "coffer/vault/container/database.h"
#include "coffer/vault/files/filestore.h"
#include "coffer/vault/records/records.h"

namespace coffer::fusefs {

class RecordViews {
 public:
  // db holds the records; info gives README.txt, the manifest's coffer
  // name and the owner shown; every node is timestamped at mount_time_ns.
  RecordViews(vault::Database& db, const MountInfo& info, std::int64_t mount_time_ns);

  // Each takes a generated node (is_generated): ENOENT when it is gone (a
  // removed pupil), ENOTDIR / EISDIR for the wrong kind of node.
  vault::Inode attr(std::uint64_t ino);
  // Not "files" in the top folder: that is the FileStore's root.
  vault::Inode lookup(std::uint64_t parent, std::string_view name);
  void opendir(std::uint64_t ino);
  std::vector<Entry> readdir(std::uint64_t ino, std::uint64_t cookie, std::size_t max);
  // Checks an open (read only); true when it reads personal data, so that
  // the open is audited (README.txt is the coffer's own notice).
  bool open(std::uint64_t ino, int flags);
  std::size_t read(std::uint64_t ino, std::uint64_t offset, std::span<std::uint8_t> out);

  // The audit trail's name of a view ("roster.csv", "pupils/NAME/profile.txt")
  // or of a generated folder ("pupils/", "pupils/NAME/"); nullopt for other nodes.
  std::optional<std::string> object_name(std::uint64_t ino);
  std::optional<std::string> folder_name(std::uint64_t ino);
  // Drops the remembered folder names (pupils' names): at lock.
  void forget_names() { folder_ids_.clear(); }

 private:
  vault::Inode root_attr() const;
  vault::Inode readme_attr() const;
  vault::Inode view_attr(std::uint64_t ino, std::size_t size) const;
  vault::Inode dir_attr(std::uint64_t ino, std::uint64_t nlink) const;
  // The contents of a generated file; ENOENT when gone, EISDIR for a folder.
  std::string render(std::uint64_t ino);
  // True while the pupils table has a row with this id.
  bool pupil_exists(std::int64_t id);
  // The id of the pupil whose folder has this name, if any.
  std::optional<std::int64_t> pupil_by_folder(std::string_view name);
  void remember_folders(const std::vector<vault::PupilEntry>& pupils);

  vault::Database& db_;
  vault::RecordStore records_;
  MountInfo info_;
  std::int64_t mount_time_ns_;
  // Folder name -> pupil id, a hint only: every hit is checked against the
  // database, and a miss or a stale hit re-reads the list.
  std::unordered_map<std::string, std::int64_t> folder_ids_;
};

}  // namespace coffer::fusefs
