// The audit drop; see audit_drop.h. Copies are made whole and renamed into
// place, so the school never sees half a copy, and a shorter sidecar (a
// truncated one) never replaces a longer copy.
#include "coffer/vault/audit/audit_drop.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <array>
#include <cstring>
#include <vector>

#include "coffer/keystore/digest.h"
#include "coffer/keystore/encoding.h"
#include "coffer/unique_fd.h"
#include "coffer/vault/audit/audit.h"

namespace coffer::vault {
namespace fs = std::filesystem;
namespace {

std::optional<std::vector<std::uint8_t>> read_all(const fs::path& p, std::size_t limit) {
  UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return std::nullopt;
  std::vector<std::uint8_t> out;
  std::array<std::uint8_t, 65536> buf{};
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), std::min(buf.size(), limit - std::min(limit, out.size()) + 1));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + n);
    if (out.size() > limit) break;
  }
  return out;
}

}  // namespace

fs::path drop_copy_path(const fs::path& drop_dir, const fs::path& coffer_path,
                        std::span<const std::uint8_t, 16> vault_id) {
  return drop_dir / (coffer_path.filename().string() + "." + keystore::to_hex(vault_id) + ".audit");
}

std::optional<std::uint64_t> copy_to_drop(const fs::path& sidecar, const fs::path& drop_dir,
                                          const fs::path& coffer_path,
                                          std::span<const std::uint8_t, 16> vault_id) noexcept {
  try {
    struct stat st {};
    if (::stat(drop_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
    fs::path dest = drop_copy_path(drop_dir, coffer_path, vault_id);
    // A drop copy of another trail of this coffer (the sidecar restarted,
    // or was replaced) is evidence: never overwritten. This trail's copy
    // gets a name of its own, with its genesis.
    auto mine = read_all(sidecar, kSidecarHeaderSize);
    if (!mine || mine->size() < kSidecarHeaderSize) return std::nullopt;
    mine->resize(kSidecarHeaderSize);
    if (::lstat(dest.c_str(), &st) == 0) {
      auto theirs = read_all(dest, kSidecarHeaderSize);
      if (theirs) theirs->resize(std::min(theirs->size(), kSidecarHeaderSize));
      if (!theirs || *theirs != *mine) {
        auto genesis = keystore::checksum32(*mine);
        dest = drop_dir / (coffer_path.filename().string() + "." + keystore::to_hex(vault_id) + "." +
                           keystore::to_hex(std::span(genesis).first(8)) + ".audit");
      }
    }
    std::uint64_t have = 0;
    if (::lstat(dest.c_str(), &st) == 0) have = count_sidecar_records(dest);
    std::uint64_t records = count_sidecar_records(sidecar);
    if (have >= records) return have;
    auto bytes = read_all(sidecar, std::size_t{1} << 30);
    if (!bytes) return std::nullopt;
    fs::path tmp = dest;
    tmp += ".part";
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) return std::nullopt;
    std::size_t off = 0;
    bool ok = true;
    while (off < bytes->size()) {
      ssize_t n = ::write(fd.get(), bytes->data() + off, bytes->size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = false;
        break;
      }
      off += static_cast<std::size_t>(n);
    }
    ok = ok && ::fsync(fd.get()) == 0;
    fd.reset();
    if (!ok || ::rename(tmp.c_str(), dest.c_str()) != 0) {
      ::unlink(tmp.c_str());
      return std::nullopt;
    }
    return records;
  } catch (...) {
    return std::nullopt;
  }
}

// Why a child process, not a thread: a thread blocked in the kernel on a
// share that never answers (uninterruptible sleep on NFS, a FUSE request
// without a reply) cannot be cancelled, and the process could not even exit
// until it returns. A child can be left behind: the caller reads its result
// from a pipe with a deadline and goes on. The child is a grandchild,
// orphaned at once (init reaps it), so nobody has to wait for it; before it
// touches the share it closes every descriptor it inherited but the pipe, so
// a hung child never holds the coffer's lock (flock and OFD locks belong to
// the open file, which a child would share) nor the caller's output open.
std::optional<std::uint64_t> copy_to_drop_within(const fs::path& sidecar, const fs::path& drop_dir,
                                                 const fs::path& coffer_path,
                                                 std::span<const std::uint8_t, 16> vault_id,
                                                 std::chrono::milliseconds limit) noexcept {
  std::array<int, 2> p{-1, -1};
  if (::pipe2(p.data(), O_CLOEXEC) != 0) return std::nullopt;
  UniqueFd rd(p[0]);
  const pid_t mid = ::fork();
  if (mid < 0) {
    ::close(p[1]);
    return std::nullopt;
  }
  if (mid == 0) {
    const pid_t worker = ::fork();
    if (worker != 0) ::_exit(worker < 0 ? 1 : 0);
    // The worker. fd 3 is the pipe; 0, 1 and 2 are /dev/null; nothing else.
    if (p[1] != 3 && ::dup2(p[1], 3) != 3) ::_exit(1);
    const int null = ::open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; ++fd)
      if (null >= 0) ::dup2(null, fd);
    ::close_range(4, ~0U, 0);
    ::signal(SIGPIPE, SIG_IGN);
    std::array<std::int64_t, 2> msg{::getpid(), -1};
    (void)::write(3, msg.data(), sizeof(std::int64_t));
    if (auto r = copy_to_drop(sidecar, drop_dir, coffer_path, vault_id)) msg[1] = static_cast<std::int64_t>(*r);
    (void)::write(3, &msg[1], sizeof(std::int64_t));
    ::_exit(0);
  }
  ::close(p[1]);
  int status = 0;
  while (::waitpid(mid, &status, 0) < 0 && errno == EINTR) {
  }
  // The worker's pid, then its result; both with the one deadline.
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::array<std::int64_t, 2> got{0, -1};
  std::size_t have = 0;
  auto* bytes = reinterpret_cast<std::uint8_t*>(got.data());
  while (have < sizeof(got)) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd{rd.get(), POLLIN, 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    const ssize_t r = ::read(rd.get(), bytes + have, sizeof(got) - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;  // the worker died
    have += static_cast<std::size_t>(r);
  }
  if (have < sizeof(got)) {
    // Out of time (or the worker is gone): the prompt goes on. A worker
    // stuck in the kernel dies when its call returns.
    if (have >= sizeof(std::int64_t) && got[0] > 1) ::kill(static_cast<pid_t>(got[0]), SIGKILL);
    return std::nullopt;
  }
  if (got[1] < 0) return std::nullopt;
  return static_cast<std::uint64_t>(got[1]);
}

std::optional<fs::path> find_drop_copy(const fs::path& sidecar, const fs::path& drop_dir) {
  auto mine = read_all(sidecar, kSidecarHeaderSize);
  if (!mine || mine->size() < kSidecarHeaderSize) return std::nullopt;
  mine->resize(kSidecarHeaderSize);
  std::error_code ec;
  for (auto& e : fs::directory_iterator(drop_dir, ec)) {
    if (!e.is_regular_file(ec) || e.path().extension() != ".audit") continue;
    auto theirs = read_all(e.path(), kSidecarHeaderSize);
    if (!theirs || theirs->size() < kSidecarHeaderSize) continue;
    theirs->resize(kSidecarHeaderSize);
    if (*theirs == *mine && fs::absolute(e.path()) != fs::absolute(sidecar)) return e.path();
  }
  return std::nullopt;
}

}  // namespace coffer::vault
