// Private to the guard service (guard/src): GuardService::Impl, the state
// of the one-threaded service, and the /proc readers its parts share. The
// parts live in their own files: guard_events.cpp (judging permission
// events), guard_mounts.cpp (marking mounts), guard_clients.cpp (the
// registry of coffers), guard_proc.cpp (the /proc readers) and
// fanotify_guard.cpp (setup and the loop).
#pragma once

#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "coffer/error.h"
#include "coffer/guard/fanotify_guard.h"
#include "coffer/guard/guard_protocol.h"
#include "coffer/guard/media.h"
#include "coffer/unique_fd.h"

namespace coffer::guard {

using Clock = std::chrono::steady_clock;
using Dev = std::pair<std::uint32_t, std::uint32_t>;

inline constexpr std::size_t kMaxConnections = 1024;
inline constexpr std::size_t kMaxConnectionsPerUid = 32;  // registered coffers of one user
inline constexpr std::size_t kMaxWaitingPerUid = 8;       // a user's connections not yet registered
inline constexpr std::size_t kMaxOutBuffer = 1u << 20;    // a coffer that stops reading is dropped
inline constexpr auto kRegisterTimeout = std::chrono::seconds(10);
inline constexpr std::size_t kMaxMarkJobs = 16;
inline constexpr auto kMarkDeadline = std::chrono::seconds(3);
inline constexpr std::size_t kMaxOpenWriters = 256;
inline constexpr std::size_t kMaxProcFile = 64u << 20;
// Exit codes of the mark child beyond errno values.
inline constexpr int kMarkMoved = 250;
inline constexpr int kMarkCreds = 251;
// Marked, but the read-only remount failed: kRemountFailed + errno (errno
// values above kRemountErrnoMax are reported as kRemountErrnoMax).
inline constexpr int kRemountFailed = 140;
inline constexpr int kRemountErrnoMax = 99;
// EBUSY tries of a read-only remount, 1 ms apart, before it counts as busy.
inline constexpr int kRemountBusyTries = 200;
// A remount read-only first writes back what is cached for the stick.
inline constexpr auto kRemountDeadline = std::chrono::seconds(20);
// A stick that stayed writable while a guarded coffer is open is tried again
// this often (its new write opens are refused meanwhile).
inline constexpr auto kReadonlyRetry = std::chrono::milliseconds(100);

inline constexpr const char* kNeedsRoot = "coffer guard must run as root (it is the coffer-guard system service)";

// kIo with errno's text appended.
Error io_error(const std::string& what);
void default_log(const std::string& line);
// Lexically normal, without a trailing slash (except "/").
std::string normal_path(const std::string& p);
// Reads a small /proc or sysfs file with plain syscalls (no iostreams on
// the event path). nullopt if it cannot be opened or read.
std::optional<std::string> read_proc_file(const std::string& path, std::size_t cap = kMaxProcFile);
// readlink of a /proc magic link: the kernel's d_path, no filesystem call;
// "" when it cannot be read.
std::string link_text(const std::string& path);

// From /proc/TID/status: which process the thread belongs to and its uids.
struct TaskStatus {
  pid_t tgid = 0;
  uid_t ruid = 0, euid = 0, suid = 0, fsuid = 0;
};
std::optional<TaskStatus> read_status(pid_t tid);

// The opener's open flags, read from /proc/TID/syscall while it is blocked
// in the open (copy-prevention.md §2: the event itself carries none).
struct OpenerFlags {
  bool known = false;
  std::uint64_t flags = 0;
  long syscall = -1;
};
OpenerFlags opener_flags(pid_t tid);
bool is_write(const OpenerFlags& f);  // unknown counts as write
std::string flags_text(const OpenerFlags& f);

// A mark child's exit code as text (errno values, kMarkMoved, kMarkCreds).
std::string errno_text(int err);
bool same_file(const struct stat& a, const struct stat& b);
bool root_owned_not_writable(const struct stat& st);

struct GuardService::Impl {
  // ---- configuration and fixed handles ----
  GuardConfig config;
  std::function<void(const std::string&)> log;
  RegistrationVerifier verify;
  const pid_t self_pid = ::getpid();
  UniqueFd fan;        // the fanotify group: closed first at shutdown
  UniqueFd stop_fd;    // eventfd written by request_stop()
  UniqueFd listener;   // the registration socket
  UniqueFd mountinfo;  // polled for POLLPRI on mount changes
  struct stat socket_stat {};
  MediaClassifier classifier;

  // ---- mounts ----
  struct MountDecision {
    MountEntry entry;
    MediaKind kind = MediaKind::kUnknown;
    bool guard = false;
  };
  std::map<std::uint64_t, MountDecision> decisions;  // by mount id; entry rechecked
  struct MarkTarget {
    std::string mount_point;
    std::uint64_t mount_id = 0;
    Dev dev;
    MediaKind kind = MediaKind::kUnknown;
    bool as_owner = false;       // a user's FUSE mount: root may not look inside it
    bool make_readonly = false;  // and remount its superblock read-only
    uid_t owner_uid = 0;
    gid_t owner_gid = 0;
    std::uint64_t round = 0;
  };
  struct MarkJob {
    MarkTarget target;
    pid_t pid = -1;
    UniqueFd pidfd;
    Clock::time_point deadline;
    bool killed = false;
  };
  struct Marked {
    std::string mount_point;
    MediaKind kind = MediaKind::kUnknown;
  };
  std::uint64_t round = 0;
  std::deque<MarkTarget> mark_queue;
  std::vector<MarkJob> jobs;
  std::map<Dev, std::uint64_t> latest_round;
  std::map<Dev, Marked> marked;
  std::map<Dev, std::string> unmarked;  // "PATH: reason"
  // Mounts whose mark child had to be killed (a server that does not
  // answer): not tried again while mounted, so that children stuck in the
  // kernel never fill every job slot and hold up marking the rest.
  std::map<Dev, std::string> stuck;  // mount point
  // Marks exist only while some coffer is registered (see activate()).
  bool active = false;
  bool flush_pending = false;       // flush again once in-flight mark jobs end
  std::vector<int> awaiting_reply;  // registered, answered once marking is done

  // ---- registrations ----
  struct Connection {
    UniqueFd fd;
    PeerCredentials peer;
    LineBuffer in;
    std::string out;
    bool registered = false;
    bool readonly_media = false;  // a `guarded` coffer: removable media read-only
    bool drop = false;
    std::string mountpoint;
    std::optional<Dev> coffer_dev;  // the verified coffer mount's device
    std::vector<std::string> approved;
    Clock::time_point accepted_at;
  };
  // ---- read-only removable media (guard_readonly.cpp) ----
  // While any registration asks for it, every guarded removable filesystem
  // is remounted read-only at the superblock. `made_readonly` is exactly
  // what this guard changed (and what the record file says), restored when
  // the last such registration goes.
  struct ReadonlyEntry {
    std::string mount_point;
    std::uint64_t mount_id = 0;
    std::string fs_type;
    bool operator==(const ReadonlyEntry&) const = default;
  };
  std::size_t readonly_regs = 0;
  std::map<Dev, ReadonlyEntry> made_readonly;
  std::map<Dev, std::string> readonly_failed;  // "PATH: reason"
  // Queued or being remounted (when queued, for the log): write opens
  // there are refused to everyone until it is read-only.
  std::map<Dev, Clock::time_point> readonly_since;
  bool restore_pending = false;  // restore once in-flight remount jobs end
  Clock::time_point last_readonly_retry{};
  bool readonly_wanted() const { return readonly_regs > 0; }
  bool write_record();
  void recover_record();
  void restore_readonly();
  std::string readonly_refusal();

  std::map<int, Connection> conns;                // by descriptor
  std::map<uid_t, std::vector<int>> regs_by_uid;  // registered connections
  std::multiset<pid_t> daemon_pids;
  // Devices of registered coffers' mounts, verified in the registrant's own
  // mount table: the only FUSE mounts never guarded (a "fuse.coffer" type
  // alone proves nothing: any user can mount a FUSE filesystem with
  // subtype=coffer).
  std::multiset<Dev> coffer_devs;
  bool is_coffer_dev(const Dev& d) const { return coffer_devs.contains(d); }

  Clock::time_point last_heartbeat{};
  alignas(fanotify_event_metadata) char event_buf[16384];

  // ---- setup (fanotify_guard.cpp) ----
  explicit Impl(GuardConfig c);
  static MediaConfig checked_media(MediaConfig m);
  void setup();
  void open_socket();
  ~Impl();

  // ---- events (guard_events.cpp) ----
  struct Verdict {
    bool allow = true;
    bool possibly_guarded = false;  // on an internal error: deny if true
    bool report = false;
    std::vector<uid_t> uids;  // registered uids the opener runs as
    pid_t tgid = 0;
    OpenerFlags flags;
    std::string path;
    // Read while the opener is still blocked in open: once answered, a
    // refused program may exit before the report is written.
    std::string exe;
  };
  struct Pending {
    UniqueFd event_fd;
    Verdict verdict;
  };
  void decide(pid_t tid, int event_fd, Verdict& v);
  bool approved_for_all(const std::vector<uid_t>& uids, const std::string& path) const;
  void respond(int event_fd, bool allow);
  void handle_fanotify();
  void report(Pending& p);

  // ---- mounts (guard_mounts.cpp) ----
  void drain_mountinfo();
  const MountDecision& decide_mount(const MountEntry& e);
  void start_round();
  [[noreturn]] static void mark_child(int fan_fd, const MarkTarget& t, const char* path);
  void pump_jobs();
  void activate();
  void deactivate();
  void flush_marks();
  void collect_jobs();
  void finish_mark(const MarkTarget& t, int code);

  // ---- clients (guard_clients.cpp) ----
  void accept_clients();
  static void send_now(int fd, const std::string& line);
  void queue_send(Connection& c, const std::string& line);
  void flush(Connection& c);
  void read_client(Connection& c);
  void refuse(Connection& c, const std::string& why);
  void handle_register(Connection& c, const std::string& line);
  void handle_query(Connection& c, const std::string& line);
  void reply_registered(Connection& c);
  void close_connection(int fd);
  std::vector<OpenWriter> scan_open_writers(uid_t uid, pid_t exclude);
  // Descriptors open for writing on DEVS by any process (uid unset) or by
  // UID's, from /proc/PID/fdinfo; never stat()s or opens the targets.
  std::vector<OpenWriter> scan_writers(std::optional<uid_t> uid, pid_t exclude, const std::set<Dev>& devs);

  // ---- loop (fanotify_guard.cpp) ----
  void loop(const std::atomic<bool>* stop);
};

}  // namespace coffer::guard
