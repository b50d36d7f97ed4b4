// coffer open / lock / status: mount a coffer as a folder, lock it, list
// what is open. Unless --foreground, this process forks the filesystem
// process (which reads the passphrase, unlocks and mounts) and waits on a
// pipe for its report, so `open` returns only once the mount works or has
// failed, with the failure's own message and exit code.
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/fusefs/control.h"
#include "coffer/fusefs/daemon.h"
#include "coffer/guard/guard_protocol.h"
#include "coffer/guard/isolation.h"
#include "coffer/guard/landlock.h"
#include "coffer/guard/swap.h"
#include "coffer/printable.h"
#include "coffer/proc.h"
#include "coffer/unique_fd.h"
#include "coffer/vault/coffer/coffer.h"
#include "coffer/vault/container/locked_memory.h"
#include "copy_rules.h"
#include "dates.h"
#include "exit_codes.h"
#include "process_exit.h"
#include "remedy.h"

namespace coffer::cli {
namespace fs = std::filesystem;
namespace {

constexpr int kMaxIdleMinutes = 15;  // the school's maximum (policy may lower it)

struct OpenOptions {
  CommonOptions common;
  std::string path, mountpoint;
  int idle_minutes = kMaxIdleMinutes;
  int idle_seconds = 0;  // hidden, for tests
  bool read_only = false, foreground = false, allow_other = false;
  // Sandboxed session (coffer run / open --session): the program to run.
  bool session = false;
  std::vector<std::string> command;
  std::string guard_socket = guard::kDefaultGuardSocket;  // hidden option, for tests
  std::string system_root;  // hidden, root only: ROOT/proc and ROOT/sys for the swap check (tests)
};

fs::path default_mountpoint(const fs::path& coffer) {
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw Error(ErrorCode::kUsage, "HOME is not set; give a MOUNTPOINT");
  fs::path base = fs::path(home) / "Coffer";
  ::mkdir(base.c_str(), 0700);
  return base / coffer.stem();
}

// Cleans a mount left by a filesystem process that was killed.
void clean_stale_mount(const fs::path& mp, std::ostream& err) {
  // statfs, unlike stat, is never answered from the kernel's attribute
  // cache, so a dead FUSE daemon shows as ENOTCONN at once.
  struct statfs sf {};
  if (::statfs(mp.c_str(), &sf) == 0 || errno != ENOTCONN) return;
  err << "coffer: " << mp.string()
      << " was left mounted by a coffer process that did not exit cleanly; cleaning it up\n";
  if (::geteuid() == 0) {
    ::umount2(mp.c_str(), MNT_DETACH);
  } else {
    // No shell: the path goes to fusermount3 as one argument.
    const char* argv[] = {"fusermount3", "-u", "-z", "-q", mp.c_str(), nullptr};
    pid_t pid = 0;
    if (posix_spawnp(&pid, "fusermount3", nullptr, nullptr, const_cast<char**>(argv), environ) == 0)
      ::waitpid(pid, nullptr, 0);
  }
}

// Returns true when it created the folder (removed again if open fails).
bool prepare_mountpoint(const fs::path& mp, std::ostream& err) {
  clean_stale_mount(mp, err);
  if (fusefs::is_mounted(mp)) throw Error(ErrorCode::kBusy, mp.string() + " is already mounted");
  struct stat st {};
  if (::lstat(mp.c_str(), &st) != 0) {
    if (errno != ENOENT || ::mkdir(mp.c_str(), 0700) != 0)
      throw Error(ErrorCode::kIo, "cannot create the mountpoint " + mp.string() + ": " + std::strerror(errno));
    return true;
  }
  if (!S_ISDIR(st.st_mode)) throw Error(ErrorCode::kUsage, mp.string() + " is not a directory");
  if (!fs::is_empty(mp)) throw Error(ErrorCode::kUsage, "the mountpoint " + mp.string() + " is not empty");
  return false;
}

// The filesystem process keeps only what it needs: descriptors inherited
// from the shell (beyond stdio and the report pipe) are closed.
void close_inherited_fds(int keep) {
  std::vector<int> fds;
  if (std::unique_ptr<DIR, int (*)(DIR*)> d{::opendir("/proc/self/fd"), ::closedir}) {
    while (dirent* e = ::readdir(d.get())) {
      int fd = std::atoi(e->d_name);
      if (fd > 2 && fd != keep && fd != ::dirfd(d.get())) fds.push_back(fd);
    }
  }
  for (int fd : fds) UniqueFd{fd}.reset();  // inherited: now owned, and closed
}

fusefs::MountOptions mount_options(const OpenOptions& o) {
  if (o.allow_other && ::geteuid() != 0)
    throw Error(ErrorCode::kPolicy, "--allow-other is for root only (conformance tests)");
  if (o.idle_minutes < 1 || o.idle_minutes > kMaxIdleMinutes)
    throw Error(ErrorCode::kPolicy,
                "the idle timeout must be 1 to " + std::to_string(kMaxIdleMinutes) + " minutes (the school's maximum)");
  fusefs::MountOptions m;
  m.coffer_path = fs::absolute(o.path);
  m.mountpoint = fs::absolute(o.mountpoint.empty() ? default_mountpoint(o.path) : fs::path(o.mountpoint));
  m.idle_timeout = o.idle_seconds > 0 ? std::chrono::seconds(std::min(o.idle_seconds, kMaxIdleMinutes * 60))
                                      : std::chrono::seconds(o.idle_minutes * 60);
  m.read_only = o.read_only;
  m.allow_other = o.allow_other;
  return m;
}

vault::Coffer unlock(const OpenOptions& o, Context& ctx) {
  auto source = ctx.passphrases(o.common.passphrase_file);
  keystore::Passphrase pw = source->existing("Passphrase for " + o.path);
  vault::Coffer c = unlock_coffer(o.path, pw, ctx);
  for (auto& w : c.warnings()) *ctx.err << "coffer: warning: " << printable(w) << "\n";
  if (c.must_change_passphrase()) {
    // Provisioned with a one-time passphrase that IT has seen: the owner
    // chooses their own before anything is shown.
    *ctx.err << "This coffer was set up with a one-time passphrase. Choose your own passphrase now\n"
                "(a few words you will remember; IT cannot see it).\n";
    keystore::Passphrase fresh = ask_new_passphrase(*source, "Your new passphrase for " + o.path,
                                                    passphrase_context(c.header().owner, c.header().profile, o.path));
    if (fresh.equals(pw)) throw Error(ErrorCode::kUsage, "the new passphrase must differ from the one-time one");
    // Re-keyed (a new master key, docs/FORMAT.md §10): no copy of the
    // provisioned header opens the coffer with the one-time passphrase.
    vault::RekeyPlan plan;
    plan.passphrase = &fresh;
    plan.slot = *c.unlocked_slot();
    plan.cost = o.common.cost();
    plan.clear_must_change = true;
    plan.kind = vault::AuditKind::kPassphraseChanged;
    plan.object = "key slot " + std::to_string(plan.slot);
    std::string why = c.rekey_blocker();
    if (why.empty() && !c.passphrases_rekey_drops(plan).empty())
      why = "other passphrases (key slot " + c.passphrases_rekey_drops(plan) + ") would be lost";
    if (why.empty()) {
      c.rekey(plan);
    } else {
      *ctx.err << "coffer: warning: the one-time passphrase was replaced without re-keying (" << why
               << "): a copy of the header kept from before still holds the one-time passphrase's key slot\n";
      c.replace_passphrase(*c.unlocked_slot(), fresh, o.common.cost());
      c.set_must_change_passphrase(false);
    }
    *ctx.err << "passphrase changed; the one-time passphrase no longer opens this coffer\n";
  }
  return c;
}

// The copy guard's settings, and a refusal when this computer cannot give
// the protection the coffer needs.
constexpr const char* kDbusRunSession = "/usr/bin/dbus-run-session";

void prepare_copy_guard(vault::Coffer& c, fusefs::MountOptions& m, const OpenOptions& o, Context& ctx) {
  std::string level = apply_copy_policy(c, school_policy(ctx), m);
  m.protection = level;
  // The guard is used whenever it runs; a guarded coffer requires it (the
  // daemon refuses to mount without it, with what IT must install).
  m.guard_required = level == "guarded";
  if (m.guard_required || ::access(o.guard_socket.c_str(), F_OK) == 0) m.guard_socket = o.guard_socket;
  if (level == "sandboxed" && !o.session)
    throw Error(ErrorCode::kPolicy,
                "this coffer may only be opened in a protected session: use `coffer open --session " + o.path +
                    "` (a file manager or shell in the session) or `coffer run " + o.path + " -- PROGRAM`");
  if (!o.session) return;
  if (guard::landlock_status().abi < 1)
    throw Error(ErrorCode::kPolicy,
                "a protected session needs Landlock (Linux 5.13 or later with landlock in the lsm= boot "
                "option); ask IT");
  m.protection = "sandboxed";
  std::optional<std::string> self = read_link("/proc/self/exe");
  if (!self) throw Error(ErrorCode::kIo, "cannot find the coffer program itself");
  m.session_keeper = {*self, "session-keeper", "--mountpoint", m.mountpoint.string()};
  for (auto& d : m.approved_destinations) {
    m.session_keeper.push_back("--writable");
    m.session_keeper.push_back(d.string());
  }
  m.session_keeper.push_back("--");
  std::vector<std::string> program = o.command;
  if (program.empty()) {
    // A file manager on the coffer when there is a desktop, else a shell.
    if (std::getenv("DISPLAY") || std::getenv("WAYLAND_DISPLAY")) {
      program = {"xdg-open", m.mountpoint.string()};
    } else {
      const char* shell = std::getenv("SHELL");
      program = {shell && *shell ? shell : "/bin/sh"};
    }
  }
  // A private session bus, so a desktop program that is already running
  // outside cannot be asked to open the file there instead.
  if (::access(kDbusRunSession, X_OK) == 0) m.session_keeper.insert(m.session_keeper.end() - 1, "--private-bus");
  m.session_keeper.insert(m.session_keeper.end(), program.begin(), program.end());
}

std::string opened_message(const fusefs::MountOptions& m, const vault::Header& h) {
  return fmt::format("opened {} at {}\n  {} ({}), expires {} end of day; locks after {} s idle\n",
                     printable(m.coffer_path.string()), printable(m.mountpoint.string()), printable(h.owner),
                     printable(h.profile), local_date(h.expires), m.idle_timeout.count());
}

void flush_stdio() {
  std::cout.flush();
  std::cerr.flush();
}

void detach_stdio() {
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (null.valid()) {
    ::dup2(null.get(), 0);
    ::dup2(null.get(), 1);
    ::dup2(null.get(), 2);
  }
  ::setsid();
}

int run_open_background(const OpenOptions& o, Context& ctx) {
  fusefs::MountOptions m = mount_options(o);
  m.audit_drop_dir = school_policy(ctx).audit_drop_dir;
  bool created = prepare_mountpoint(m.mountpoint, *ctx.err);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) throw Error(ErrorCode::kIo, "cannot create a pipe");
  UniqueFd from_child(pipefd[0]), to_parent(pipefd[1]);
  ctx.out->flush();
  ctx.err->flush();
  pid_t pid = ::fork();
  if (pid < 0) throw Error(ErrorCode::kIo, "cannot start the filesystem process");
  if (pid == 0) {
    // This process ends through end_process() only: it shares the parent's
    // stdio buffers and atexit list, and holds the keys.
    from_child.reset();
    close_inherited_fds(to_parent.get());
    auto report = [&](const std::string& text) {
      if (!to_parent.valid()) return;  // already reported: the parent has gone
      (void)!::write(to_parent.get(), text.data(), text.size());
      to_parent.reset();
    };
    try {
      vault::Coffer c = unlock(o, ctx);
      prepare_copy_guard(c, m, o, ctx);
      std::string message = opened_message(m, c.header());
      std::string warnings;
      m.warn = [&warnings](const std::string& w) { warnings += w + "\n"; };
      fusefs::ServeResult served = fusefs::serve(std::move(c), m, [&] {
        report("OK\n" + message + warnings);
        detach_stdio();
      });
      if (served.must_exit_now) flush_stdio();
      end_process(0);
    } catch (const Error& e) {
      report("E" + std::to_string(exit_code_for(e.code())) + "\n" + error_text(e));
      end_process(exit_code_for(e.code()));
    } catch (const std::exception& e) {
      report("E1\n" + std::string(e.what()));
      end_process(1);
    }
  }
  to_parent.reset();
  std::string reply;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(from_child.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  from_child.reset();
  if (reply.rfind("OK\n", 0) == 0) {
    *ctx.out << reply.substr(3);
    return kExitOk;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (created) ::rmdir(m.mountpoint.c_str());
  if (reply.size() > 1 && reply[0] == 'E') {
    auto nl = reply.find('\n');
    int code = std::atoi(reply.substr(1, nl - 1).c_str());
    *ctx.err << "coffer: error: " << printable(reply.substr(nl + 1)) << "\n";
    return code;
  }
  *ctx.err << "coffer: error: the filesystem process failed before the mount was ready\n";
  return kExitOther;
}

// Decrypted pages, rendered views and FUSE buffers are ordinary memory: on
// a machine with unencrypted swap or a hibernation image on an unencrypted
// device they could reach the disk in the clear. Refused before the
// passphrase is asked for (the school policy may downgrade it to a warning).
void check_swap(const OpenOptions& o, Context& ctx) {
  if (auto mem = vault::locked_memory_stats(); mem.installed && !mem.locked)
    *ctx.err << "coffer: warning: the memory for keys could not be locked (RLIMIT_MEMLOCK): keys may be written "
                "to swap\n";
  guard::SwapConfig config;
  if (!o.system_root.empty()) {
    if (::geteuid() != 0) throw Error(ErrorCode::kPolicy, "--system-root is for root only (tests)");
    config.proc_root = fs::path(o.system_root) / "proc";
    config.sysfs_root = fs::path(o.system_root) / "sys";
    config.stat_devices = false;
  }
  std::vector<std::string> found = guard::unprotected_swap(config);
  if (found.empty()) return;
  std::string what;
  for (auto& f : found) what += (what.empty() ? "" : "; ") + f;
  if (!school_policy(ctx).refuse_unencrypted_swap) {
    *ctx.err << "coffer: warning: " << printable(what)
             << ": decrypted pupil data could be written to disk in the clear (the school's policy allows it)\n";
    return;
  }
  throw Error(ErrorCode::kPolicy, "this computer could write decrypted pupil data to disk in the clear: " + what +
                                      ". Ask IT to encrypt swap (or use zram) and hibernation, or to allow it in "
                                      "the school policy ([memory] unencrypted_swap = \"warn\")");
}

// A protected session refuses to start, before the passphrase is asked
// for, where what it shows could leave other than to the screen: under a
// debugger, with a standard stream that is a pipe or socket to a program
// outside (files are judged by the session once the approved destinations
// are known), or, if the school requires it, where any program of the
// teacher could read the session's memory.
void check_session_start(Context& ctx) {
  if (auto tracer = guard::tracer_of_self(); !tracer || *tracer != 0)
    throw Error(ErrorCode::kPolicy, guard::traced_refusal(tracer));
  if (auto problem = guard::unsafe_stdio([](const fs::path&) { return true; }))
    throw Error(ErrorCode::kPolicy, *problem);
  if (school_policy(ctx).copy.session_requires_ptrace_restricted) {
    auto scope = guard::yama_ptrace_scope();
    if (!guard::ptrace_restricted(scope))
      throw Error(ErrorCode::kPolicy,
                  "the school requires that no other program can read a protected session's "
                  "memory, and on this computer one can: " +
                      guard::describe_ptrace_scope(scope) + ". Ask IT to set kernel.yama.ptrace_scope = 1 (sysctl)");
  }
}

int run_open(const OpenOptions& o, Context& ctx) {
  if (o.session) check_session_start(ctx);
  check_swap(o, ctx);
  // A session runs in this process: it ends when its program does.
  if (!o.foreground && !o.session) return run_open_background(o, ctx);
  fusefs::MountOptions m = mount_options(o);
  m.audit_drop_dir = school_policy(ctx).audit_drop_dir;
  bool created = prepare_mountpoint(m.mountpoint, *ctx.err);
  std::optional<vault::Coffer> unlocked;
  try {
    unlocked.emplace(unlock(o, ctx));
  } catch (...) {
    if (created) ::rmdir(m.mountpoint.c_str());
    throw;
  }
  vault::Coffer c = std::move(*unlocked);
  int session_status = 0;
  try {
    prepare_copy_guard(c, m, o, ctx);
  } catch (...) {
    if (created) ::rmdir(m.mountpoint.c_str());
    throw;
  }
  m.session_status = &session_status;
  std::string message = opened_message(m, c.header());
  // In a session the program owns standard output: our notes go to stderr.
  std::ostream& note = o.session ? *ctx.err : *ctx.out;
  if (o.session)
    message +=
        "  in a protected session: it locks when the program ends; files leave it only by\n"
        "  `coffer export`, run outside the session\n";
  fusefs::ServeResult served = fusefs::serve(std::move(c), m, [&] { note << message << std::flush; });
  if (served.must_exit_now) {
    flush_stdio();
    end_process(0);  // see ServeResult
  }
  note << "locked (" << served.reason << ")\n";
  if (created) ::rmdir(m.mountpoint.c_str());
  return o.session ? session_status : kExitOk;
}

struct LockOptions {
  std::string target;
  bool all = false;
};

bool same_path(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::weakly_canonical(fs::absolute(a), ec) == fs::weakly_canonical(fs::absolute(b), ec);
}

void run_lock(const LockOptions& o, Context& ctx) {
  auto mounts = fusefs::list_mounts();
  std::vector<fusefs::MountStatus> chosen;
  for (auto& m : mounts)
    if (o.all || (!o.target.empty() && (same_path(o.target, m.mountpoint) || same_path(o.target, m.coffer_path))))
      chosen.push_back(m);
  if (o.target.empty() && !o.all) {
    if (mounts.size() > 1)
      throw Error(ErrorCode::kUsage, "several coffers are open; name one (mountpoint or file) or use --all");
    chosen = mounts;
  }
  if (chosen.empty()) {
    if (o.all || o.target.empty()) {
      *ctx.out << "no coffer is open\n";
      return;
    }
    throw Error(ErrorCode::kUsage, "no open coffer matches " + o.target + " (see coffer status)");
  }
  for (auto& m : chosen) {
    auto r = fusefs::lock_mount(m, std::chrono::seconds(30));
    *ctx.out << "locked " << m.coffer_path << " (was at " << m.mountpoint << ")";
    if (r.lock_ms >= 0) *ctx.out << " in " << r.lock_ms << " ms";
    *ctx.out << "\n";
    for (auto& p : r.held_open_by)
      *ctx.out << "  it was still in use by process " << p << "; its open files now give errors\n";
    if (!r.error.empty())
      throw Error(ErrorCode::kIo, "the coffer is locked, but its last changes could not be saved: " + r.error);
  }
}

void run_status(bool json, Context& ctx) {
  auto mounts = fusefs::list_mounts();
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (auto& m : mounts) arr.push_back(nlohmann::json::parse(fusefs::to_json(m)));
    *ctx.out << arr.dump(2) << "\n";
    return;
  }
  if (mounts.empty()) {
    *ctx.out << "no coffer is open\n";
    return;
  }
  const int warn_days = school_policy(ctx).warn_days;
  for (auto& m : mounts) {
    *ctx.out << fmt::format(
        "{}\n  mounted at {}\n  {} ({}), expires {} end of day\n  locks in {} s if unused{}; pid {}\n",
        printable(m.coffer_path), printable(m.mountpoint), printable(m.owner), printable(m.purpose),
        local_date(m.expires), m.idle_seconds_left, m.read_only ? ", read-only" : "", m.pid);
    *ctx.out << "  copy protection: " << printable(m.protection) << "\n";
    for (auto& line : m.copy_guard) *ctx.out << "    " << printable(line) << "\n";
    std::int64_t left = m.expires - ctx.clock->now();
    if (left < std::int64_t{warn_days} * 86400) {
      std::int64_t days = std::max<std::int64_t>(0, left / 86400);
      *ctx.out << fmt::format(
          "  EXPIRES {}: its records, and your own files in files/, go with it unless IT "
          "checks it in first\n",
          days == 0 ? std::string("TODAY") : fmt::format("IN {} DAY{}", days, days == 1 ? "" : "S"));
    }
  }
}

}  // namespace

void register_mount(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<OpenOptions>();
  auto* open = app.add_subcommand("open", "teacher: open a coffer as a folder (returns once it is usable)");
  open->add_option("path", o->path, "the coffer file")->required();
  open->add_option("mountpoint", o->mountpoint, "an empty folder (default ~/Coffer/<name>)");
  open->add_option("--idle", o->idle_minutes, "lock after this many minutes without use (1-15)");
  open->add_option("--idle-seconds", o->idle_seconds, "")->group("");  // tests only
  open->add_flag("--read-only", o->read_only, "open without allowing changes");
  open->add_flag("--foreground", o->foreground, "stay in the foreground until locked");
  open->add_flag("--allow-other", o->allow_other,
                 "root only: let other users in (for conformance tests with several uids)");
  open->add_option("--guard-socket", o->guard_socket, "")->group("");  // tests: a guard on a private socket
  open->add_option("--system-root", o->system_root, "")->group("");    // tests: injected /proc and /sys (root)
  open->add_flag("--session", o->session,
                 "open in a protected session (a file manager, or a shell without a desktop): "
                 "programs in it can write only inside the coffer and the approved places");
  add_passphrase_file_option(*open, o->common);
  add_kdf_cost_option(*open, o->common);
  open->callback([o, &ctx] {
    int code = run_open(*o, ctx);
    if (code != kExitOk) throw CLI::RuntimeError(code);
  });

  auto r = std::make_shared<OpenOptions>();
  auto* run =
      app.add_subcommand("run", "teacher: open a coffer, run one program in a protected session, lock when it ends");
  run->add_option("path", r->path, "the coffer file")->required();
  run->add_option("command", r->command, "-- PROGRAM [ARGS...]: the program to run (default a shell)");
  run->add_option("--mountpoint", r->mountpoint, "an empty folder (default ~/Coffer/<name>)");
  run->add_option("--idle", r->idle_minutes, "lock after this many minutes without use (1-15)");
  run->add_option("--idle-seconds", r->idle_seconds, "")->group("");  // tests only
  run->add_option("--guard-socket", r->guard_socket, "")->group("");  // tests: a guard on a private socket
  run->add_option("--system-root", r->system_root, "")->group("");    // tests: injected /proc and /sys (root)
  add_passphrase_file_option(*run, r->common);
  add_kdf_cost_option(*run, r->common);
  run->footer("Exit status: the program's.");
  run->callback([r, &ctx] {
    r->session = true;
    int code = run_open(*r, ctx);
    if (code != kExitOk) throw CLI::RuntimeError(code);
  });

  auto lo = std::make_shared<LockOptions>();
  auto* lock = app.add_subcommand("lock", "teacher: lock an open coffer now (returns once it is unmounted)");
  lock->add_option("target", lo->target, "its mountpoint or coffer file (default: the only open one)");
  lock->add_flag("--all", lo->all, "lock every open coffer");
  lock->callback([lo, &ctx] { run_lock(*lo, ctx); });

  auto json = std::make_shared<bool>(false);
  auto* status = app.add_subcommand("status", "teacher: list open coffers");
  status->add_flag("--json", *json, "machine-readable output");
  status->callback([json, &ctx] { run_status(*json, ctx); });
}

}  // namespace coffer::cli
