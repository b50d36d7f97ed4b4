// The mount's node numbering and the types both of its halves share: the
// generated top level and record views (RecordViews) and files/, the
// vault's FileStore, which Filesystem serves side by side.
#pragma once

#include <cstdint>
#include <string>

namespace coffer::fusefs {

inline constexpr std::uint64_t kRootIno = 1;  // FUSE_ROOT_ID
inline constexpr std::uint64_t kVirtualBase = 1ull << 62;
inline constexpr std::uint64_t kReadmeIno = kVirtualBase + 1;
inline constexpr std::uint64_t kRosterIno = kVirtualBase + 2;
inline constexpr std::uint64_t kManifestIno = kVirtualBase + 3;
inline constexpr std::uint64_t kPupilsIno = kVirtualBase + 4;
// Pupil id n (the pupils table's rowid) has its folder at kPupilBase + 2n
// and its profile.txt at kPupilBase + 2n + 1.
inline constexpr std::uint64_t kPupilBase = kVirtualBase + 0x100000;
inline constexpr std::int64_t kMaxPupilId = static_cast<std::int64_t>((~0ull - kPupilBase) / 2 - 1);
inline constexpr std::uint64_t pupil_folder_ino(std::int64_t id) {
  return kPupilBase + 2 * static_cast<std::uint64_t>(id);
}
inline constexpr std::uint64_t pupil_profile_ino(std::int64_t id) { return pupil_folder_ino(id) + 1; }
// Nodes whose contents follow the database (a pupil may be removed while
// mounted): the kernel must not cache their entries or attributes.
inline constexpr bool is_record_view(std::uint64_t ino) { return ino >= kVirtualBase && ino != kReadmeIno; }
// The generated part of the mount (the top folder and everything numbered
// from kVirtualBase): read-only, served by RecordViews.
inline constexpr bool is_generated(std::uint64_t ino) { return ino == kRootIno || ino >= kVirtualBase; }

struct MountInfo {
  std::uint32_t mounter_uid = 0;
  std::uint32_t mounter_gid = 0;
  bool read_only = false;
  std::string readme;               // contents of README.txt
  std::string coffer_name;          // the coffer's file name, for manifest.txt
  std::int64_t coffer_expires = 0;  // files may expire sooner, never later
};

struct Entry {
  std::string name;
  std::uint64_t ino;
  std::uint32_t mode;
  std::uint64_t next_cookie;  // pass back to continue after this entry
};

}  // namespace coffer::fusefs
