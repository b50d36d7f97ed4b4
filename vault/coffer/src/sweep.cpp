// Sweep; see sweep.h. The expiry read here is the header's cleartext hint:
// editing it without the key breaks the header MAC, so the worst a forger
// can do is make a coffer look older (wiped early) or hold it from the
// sweep, never read it.
#include "coffer/vault/coffer/sweep.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "coffer/error.h"
#include "coffer/unique_dir.h"
#include "coffer/unique_fd.h"
#include "coffer/vault/coffer/coffer.h"

namespace coffer::vault {
namespace fs = std::filesystem;

std::vector<SweepItem> sweep_directory(const fs::path& dir, std::int64_t now, int grace_days, bool dry_run,
                                       keystore::Random& random) {
  struct stat dst {};
  if (::lstat(dir.c_str(), &dst) != 0 && errno == ENOENT) return {};  // nothing there to sweep
  if (S_ISLNK(dst.st_mode))
    throw Error(ErrorCode::kUsage,
                "cannot sweep " + dir.string() + ": it is a symbolic link, never followed; give the folder itself");
  // O_NOFOLLOW too: a link swapped in after the lstat is still refused.
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir_fd.valid()) {
    int e = errno;
    throw Error(e == ENOTDIR || e == ELOOP ? ErrorCode::kUsage : ErrorCode::kIo,
                "cannot sweep " + dir.string() + ": " +
                    (e == ELOOP ? std::string("it is a symbolic link, never followed") : std::strerror(e)));
  }
  const int dfd = dir_fd.get();
  UniqueDir d(::fdopendir(dfd));
  if (!d) throw Error(ErrorCode::kIo, "cannot read " + dir.string() + ": " + std::strerror(errno));
  dir_fd.release();  // the stream owns the descriptor now
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d.get())) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st {};
    // Regular files only, judged without following links.
    if (::fstatat(dfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    names.push_back(n);
  }
  d.reset();
  std::sort(names.begin(), names.end());
  std::vector<SweepItem> out;
  for (auto& n : names) {
    fs::path p = dir / n;
    SelectedHeader sel;
    try {
      sel = read_header(p);
    } catch (const Error&) {
      continue;  // not a coffer (or too damaged to judge): never touched
    }
    RetentionState r = retention_state(sel.header, now, grace_days);
    SweepItem item{p, SweepItem::Action::kKept, r.expires, r.grace_ends, {}};
    if (r.on_hold) {
      item.action = SweepItem::Action::kHeld;
    } else if (r.past_grace) {
      if (dry_run) {
        item.action = SweepItem::Action::kWouldWipe;
      } else {
        try {
          wipe(p, random, "swept: expired and past the check-in grace period");
          item.action = SweepItem::Action::kWiped;
        } catch (const Error& e) {
          item.action = SweepItem::Action::kFailed;
          item.failure = e;
        }
      }
    }
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace coffer::vault
