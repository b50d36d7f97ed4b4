// See export_destination.h.
#include "export_destination.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "coffer/error.h"
#include "coffer/guard/media.h"
#include "coffer/paths.h"

namespace coffer::fusefs {
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kBelow = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

int openat2_fd(int dirfd, const char* path, std::uint64_t flags, std::uint64_t mode, std::uint64_t resolve) {
  open_how how{};
  how.flags = flags;
  how.mode = mode;
  how.resolve = resolve;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd >= 0 || errno != EINTR) return static_cast<int>(fd);
  }
}

// The path the kernel gives for a descriptor we hold.
fs::path path_of(int fd) {
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  std::string buf(4096, '\0');
  ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size());
  if (n <= 0 || static_cast<std::size_t>(n) >= buf.size()) return {};
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

const std::string kRule = " (the school policy's [copy] settings)";

Error refused(const std::string& message) { return Error(ErrorCode::kPolicy, message); }

// The most specific approved directory holding DEST (DEST itself excluded:
// an export names a file).
std::optional<fs::path> approved_parent(const fs::path& dest, const std::vector<fs::path>& approved) {
  std::optional<fs::path> best;
  for (const auto& a : approved) {
    fs::path dir = a.lexically_normal();
    if (!dir.has_filename()) dir = dir.parent_path();
    if (!dir.is_absolute() || dest == dir || !path_within(dest.native(), dir.native())) continue;
    if (!best || dir.native().size() > best->native().size()) best = dir;
  }
  return best;
}

}  // namespace

ExportDestination ExportDestination::open(const fs::path& dest, const std::vector<fs::path>& approved,
                                          const ExportMediaCheck& media) {
  const std::string shown = dest.string();
  if (!dest.is_absolute() || !dest.has_filename()) throw refused(shown + " is not an approved destination");
  for (const auto& part : dest.relative_path())
    if (part == "." || part == ".." || part.empty())
      throw refused(shown + " has '.' or '..' in it; give the destination's own path");
  auto base = approved_parent(dest, approved);
  if (!base) throw refused(shown + " is not an approved destination");

  ExportDestination out;
  // The approved directory itself, from /, without following any symbolic
  // link: one the teacher planted on the way would move it elsewhere.
  UniqueFd top(openat2_fd(AT_FDCWD, base->c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                          RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS));
  if (!top.valid()) {
    const int err = errno;
    if (err == ELOOP)
      throw refused("the approved destination " + base->string() +
                    " is reached through a symbolic link; coffer exports only to a directory named by its real "
                    "path" +
                    kRule);
    if (err == ENOSYS)
      throw refused("this kernel has no openat2 (Linux 5.6 or later): coffer cannot check where " + shown + " leads");
    throw Error(ErrorCode::kIo, "cannot open the approved destination " + base->string() + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(top.get(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw refused("the approved destination " + base->string() + " is not a directory");
  if (st.st_uid != 0 && st.st_uid != ::geteuid())
    throw refused("the approved destination " + base->string() +
                  " belongs to another user, who could move what is written there; coffer exports only to "
                  "directories of root or of this user" +
                  kRule);

  // The file's directory below it: never above it, no symbolic link, no
  // /proc magic link.
  fs::path rel = dest.lexically_relative(*base);
  out.name_ = rel.filename().string();
  fs::path sub = rel.parent_path();
  if (sub.empty()) {
    out.dir_ = UniqueFd(::dup(top.get()));
  } else {
    out.dir_ = UniqueFd(openat2_fd(top.get(), sub.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0, kBelow));
  }
  if (!out.dir_.valid()) {
    const int err = errno;
    if (err == ELOOP || err == EXDEV)
      throw refused(shown + " leads out of the approved destination " + base->string() +
                    " (a symbolic link on the way); coffer writes only to real folders inside it");
    throw Error(ErrorCode::kIo, "cannot create " + shown + ": " + std::strerror(err));
  }
  // The filesystem of the directory actually held: a new name in it is on
  // the same mount, so nothing is created anywhere refused.
  if (auto why = media(top.get(), out.dir_.get())) throw refused(*why);

  struct stat existing {};
  if (::fstatat(out.dir_.get(), out.name_.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0)
    throw Error(ErrorCode::kIo, shown + " already exists; export never overwrites");
  out.part_ = "." + out.name_ + ".coffer-part";
  out.file_ = UniqueFd(openat2_fd(out.dir_.get(), out.part_.c_str(),
                                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600, kBelow));
  if (!out.file_.valid()) {
    const int err = errno;
    out.part_.clear();  // not ours: never removed
    throw Error(ErrorCode::kIo, "cannot write " + (dest.parent_path() / ("." + out.name_ + ".coffer-part")).string() +
                                    ": " + std::strerror(err));
  }
  // The file made, judged again by its own descriptor.
  if (auto why = media(top.get(), out.file_.get())) throw refused(*why);
  fs::path dir_path = path_of(out.dir_.get());
  out.resolved_ = dir_path.empty() ? dest : dir_path / out.name_;
  return out;
}

void ExportDestination::commit() {
  const std::string shown = resolved_.string();
  if (::fsync(file_.get()) != 0) throw Error(ErrorCode::kIo, "cannot write " + shown + ": " + std::strerror(errno));
  file_.reset();
  if (::linkat(dir_.get(), part_.c_str(), dir_.get(), name_.c_str(), 0) != 0) {
    const int err = errno;
    throw Error(ErrorCode::kIo, err == EEXIST ? shown + " already exists; export never overwrites"
                                              : "cannot create " + shown + ": " + std::strerror(err));
  }
  committed_ = true;
  ::unlinkat(dir_.get(), part_.c_str(), 0);
}

ExportDestination::~ExportDestination() {
  if (!committed_ && dir_.valid() && !part_.empty()) ::unlinkat(dir_.get(), part_.c_str(), 0);
}

ExportMediaCheck system_export_media_check(ExportMediaPolicy policy) {
  return [policy = std::move(policy)](int approved_dir, int dest_dir) -> std::optional<std::string> {
    auto mount_id = [](int fd) -> std::optional<std::uint64_t> {
      struct statx stx {};
      if (::statx(fd, "", AT_EMPTY_PATH | AT_NO_AUTOMOUNT, STATX_MNT_ID, &stx) != 0 || !(stx.stx_mask & STATX_MNT_ID))
        return std::nullopt;
      return stx.stx_mnt_id;
    };
    const std::string where = path_of(dest_dir).string();
    guard::MediaConfig config;
    config.declared_removable = policy.declared_removable;
    std::optional<guard::MediaClassifier> media;
    try {
      media.emplace(config);
    } catch (const Error& e) {
      return "cannot tell what filesystem " + where + " is on: " + e.what();
    }
    auto top = mount_id(approved_dir), here = mount_id(dest_dir);
    const guard::MountEntry* entry = nullptr;
    for (const auto& m : media->mounts())
      if (here && m.mount_id == *here) entry = &m;
    if (!top || !here || !entry)
      return "cannot tell what filesystem " + where + " is on; coffer does not write where it cannot tell";
    const guard::MediaKind kind = media->classify_mount(*entry);
    if (kind == guard::MediaKind::kRemovable) {
      if (media->school_stick(*entry, policy.allowed_luks_uuids, policy.allowed_usb_serials)) return std::nullopt;
      return where + " is on removable media: coffer data may go only to an encrypted school stick on the allowlist" +
             kRule;
    }
    const bool fuse = entry->fs_type == "fuse" || entry->fs_type == "fuseblk" || entry->fs_type.rfind("fuse.", 0) == 0;
    if (fuse || kind == guard::MediaKind::kOtherFuse || kind == guard::MediaKind::kUnknown)
      return where + " is on " +
             (fuse ? std::string("a FUSE filesystem (") + entry->fs_type + ")"
                   : std::string(guard::media_kind_name(kind)) + " storage") +
             ", which coffer does not write to" + kRule;
    if (*here != *top && kind != guard::MediaKind::kInternal)
      return where + " is on a " + std::string(guard::media_kind_name(kind)) +
             " filesystem mounted inside the approved destination, which coffer does not write to" + kRule;
    return std::nullopt;
  };
}

}  // namespace coffer::fusefs
