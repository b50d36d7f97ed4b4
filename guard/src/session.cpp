// Session membership from /proc/PID/stat alone: each verdict walks the
// parent chain once and is cached by (pid, start time).
#include "coffer/guard/session.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/error.h"
#include "coffer/unique_fd.h"

namespace coffer::guard {
namespace fs = std::filesystem;
namespace {

// Far deeper than any real process tree; a cycle in a (fake or racing)
// /proc must end.
constexpr int kMaxDepth = 256;
constexpr std::size_t kMaxCached = 4096;

struct Stat {
  pid_t ppid = 0;
  std::uint64_t start_time = 0;
};

template <typename T>
bool parse_decimal(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// proc(5): "pid (comm) state ppid ... starttime(22) ...". comm is whatever
// the process named itself, spaces and ')' included, so fields are counted
// from the last ')'.
std::optional<Stat> parse_stat(std::string_view text) {
  std::size_t close = text.rfind(')');
  if (close == std::string_view::npos || text.substr(close + 1, 1) != " ") return std::nullopt;
  std::string_view rest = text.substr(close + 2);
  Stat stat;
  for (int field = 3; field <= 22; ++field) {
    std::size_t space = rest.find(' ');
    std::string_view value = rest.substr(0, space);
    if (field == 4 && !parse_decimal(value, stat.ppid)) return std::nullopt;
    if (field == 22) return parse_decimal(value, stat.start_time) ? std::optional(stat) : std::nullopt;
    if (space == std::string_view::npos) return std::nullopt;
    rest.remove_prefix(space + 1);
  }
  return std::nullopt;
}

std::optional<Stat> read_stat(pid_t pid, const fs::path& proc) {
  if (pid <= 0) return std::nullopt;
  const fs::path path = proc / std::to_string(pid) / "stat";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  // One line of ~52 numbers and a comm of at most 64 bytes.
  std::array<char, 2048> buf{};
  std::size_t len = 0;
  ssize_t n = 0;
  while (len < buf.size() && (n = ::read(fd.get(), buf.data() + len, buf.size() - len)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    len += static_cast<std::size_t>(n);
  }
  if (n < 0 || len == buf.size()) return std::nullopt;
  return parse_stat(std::string_view(buf.data(), len));
}

}  // namespace

std::optional<ProcessIdentity> process_identity(pid_t pid, const fs::path& proc) {
  auto stat = read_stat(pid, proc);
  if (!stat) return std::nullopt;
  return ProcessIdentity{pid, stat->start_time};
}

std::optional<pid_t> parent_of(pid_t pid, const fs::path& proc) {
  auto stat = read_stat(pid, proc);
  if (!stat) return std::nullopt;
  return stat->ppid;
}

std::size_t SessionMembers::IdentityHash::operator()(const ProcessIdentity& id) const noexcept {
  return std::hash<std::uint64_t>()(id.start_time * 0x9E3779B97F4A7C15ULL ^ static_cast<std::uint64_t>(id.pid));
}

SessionMembers::SessionMembers(ProcessIdentity leader, fs::path proc) : leader_(leader), proc_(std::move(proc)) {}

std::optional<bool> SessionMembers::cached(const ProcessIdentity& id) {
  std::lock_guard lock(mutex_);
  auto it = verdicts_.find(id);
  if (it == verdicts_.end()) return std::nullopt;
  return it->second;
}

bool SessionMembers::is_member(pid_t pid) {
  auto stat = read_stat(pid, proc_);
  if (!stat) return false;
  ProcessIdentity cur{pid, stat->start_time};
  std::vector<ProcessIdentity> chain;
  for (int step = 0; step < kMaxDepth; ++step) {
    std::optional<bool> verdict;
    if (cur == leader_) verdict = true;
    else if (auto known = cached(cur)) verdict = known;
    else if (stat->ppid <= 0) verdict = false;  // the top: init, kthreadd, or outside our pid namespace
    if (verdict) {
      chain.push_back(cur);
      remember(chain, *verdict);
      return *verdict;
    }
    auto parent = read_stat(stat->ppid, proc_);
    // A parent cannot start after its child. If it seems to, or is gone, it
    // exited after we read cur's stat (its pid maybe reused) and cur has
    // been re-parented: read cur again.
    if (!parent || parent->start_time > cur.start_time) {
      auto again = read_stat(cur.pid, proc_);
      if (!again || again->start_time != cur.start_time || again->ppid == stat->ppid)
        return false;  // cur died, or /proc is inconsistent: not cached
      stat = again;
      continue;
    }
    chain.push_back(cur);
    cur = ProcessIdentity{stat->ppid, parent->start_time};
    stat = parent;
  }
  return false;  // deeper than kMaxDepth: a cycle, not a session; not cached
}

void SessionMembers::remember(const std::vector<ProcessIdentity>& chain, bool verdict) {
  std::lock_guard lock(mutex_);
  if (verdicts_.size() + chain.size() > kMaxCached) verdicts_.clear();
  for (const ProcessIdentity& id : chain) verdicts_.emplace(id, verdict);
}

void SessionMembers::forget_dead() {
  std::vector<ProcessIdentity> known;
  {
    std::lock_guard lock(mutex_);
    known.reserve(verdicts_.size());
    for (const auto& [id, verdict] : verdicts_) known.push_back(id);
  }
  std::vector<ProcessIdentity> dead;
  for (const ProcessIdentity& id : known)
    if (process_identity(id.pid, proc_) != id) dead.push_back(id);
  std::lock_guard lock(mutex_);
  for (const ProcessIdentity& id : dead) verdicts_.erase(id);
}

void become_subreaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    throw Error(ErrorCode::kIo, std::string("cannot become a child subreaper: ") + std::strerror(errno));
}

}  // namespace coffer::guard
