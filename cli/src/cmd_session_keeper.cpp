// The keeper of a sandboxed session (layer 3 of the copy guard; hidden
// command, started by the filesystem process of `coffer run` and
// `coffer open --session`). It becomes a child subreaper, so every program
// the session starts stays its descendant and is served by the mount, waits
// until the mount knows it (a byte on descriptor 3), refuses standard
// streams redirected to unapproved files, closes every other inherited
// descriptor, refuses to run under a tracer, moves into its own network and
// mount namespaces (loopback only; the teacher's session and system bus
// sockets hidden), confines itself with Landlock (writes only inside the coffer,
// the approved destinations and terminals; no TCP) and starts the program
// with HOME and TMPDIR inside the coffer, so editors' settings, autosaves
// and thumbnails stay there. It exits when the program and everything the
// program started have exited, with the program's status.
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/guard/isolation.h"
#include "coffer/guard/landlock.h"
#include "coffer/guard/session.h"
#include "coffer/unique_fd.h"
#include "coffer/vault/policy/policy.h"
#include "process_exit.h"

namespace coffer::cli {
namespace fs = std::filesystem;
namespace {

struct KeeperOptions {
  std::string mountpoint;
  std::vector<std::string> writable;
  std::vector<std::string> command;
  bool private_bus = false;
};

// The private bus listens on an abstract socket: a path socket would have
// to be made somewhere writable, and nothing outside the coffer is.
void write_bus_config(const fs::path& file) {
  std::ofstream out(file);
  out << "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
         " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
         "<busconfig>\n  <type>session</type>\n  <keep_umask/>\n"
         "  <listen>unix:abstract=/coffer/session-"
      << ::getpid()
      << "</listen>\n"
         "  <standard_session_servicedirs/>\n"
         "  <policy context=\"default\">\n    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
         "    <allow eavesdrop=\"true\"/>\n    <allow own=\"*\"/>\n  </policy>\n</busconfig>\n";
}

// The teacher's session sockets through which an unconfined service (the
// session bus, systemd --user, a desktop program, a tmux or screen server)
// could be asked to start a program or write a file outside the sandbox;
// only the Wayland socket (the screen) and our own mount and destinations
// stay visible.
guard::IsolationSpec isolation_spec(const fs::path& mp, const std::vector<fs::path>& writable) {
  guard::IsolationSpec spec;
  fs::path runtime;
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg == '/') runtime = xdg;
  else runtime = "/run/user/" + std::to_string(::getuid());
  spec.hide = {runtime, "/run/dbus/system_bus_socket"};
  // Terminal multiplexers' servers run any command they are sent, outside.
  const char* tmux_dir = std::getenv("TMUX_TMPDIR");
  spec.hide.push_back(fs::path(tmux_dir && *tmux_dir == '/' ? tmux_dir : "/tmp") /
                      ("tmux-" + std::to_string(::getuid())));
  if (const passwd* pw = ::getpwuid(::getuid()))
    spec.hide.push_back(fs::path("/run/screen") / ("S-" + std::string(pw->pw_name)));
  if (const char* wayland = std::getenv("WAYLAND_DISPLAY"); wayland && *wayland)
    spec.keep.push_back(*wayland == '/' ? fs::path(wayland) : runtime / wayland);
  spec.keep.push_back(mp);
  for (const fs::path& w : writable) spec.keep.push_back(w);
  return spec;
}

volatile sig_atomic_t g_program = 0;

void forward(int sig) {
  if (g_program > 0) ::kill(g_program, sig);
}

[[noreturn]] void keep(const KeeperOptions& o) {
  guard::become_subreaper();
  char go = 0;
  {
    UniqueFd ready(3);                                     // from the filesystem process (SessionKeeper)
    if (::read(ready.get(), &go, 1) != 1) end_process(1);  // the filesystem process has gone
  }

  fs::path mp = o.mountpoint;
  std::vector<fs::path> writable = {mp};
  for (auto& w : o.writable) writable.emplace_back(w);
  if (auto problem = guard::unsafe_stdio([&](const fs::path& p) { return vault::path_within(p, writable); })) {
    std::cerr << "coffer: " << *problem << "\ncoffer: " << kSessionWayOut << "\n";
    end_process(126);
  }
  // `coffer run` refused a tracer; one that attached to the filesystem
  // process since (strace -f follows its children) is caught here.
  if (auto tracer = guard::tracer_of_self(); !tracer || *tracer != 0) {
    std::cerr << "coffer: " << guard::traced_refusal(tracer) << "\n";
    end_process(126);
  }
  // A scratch home and temp folder inside the coffer.
  fs::path home = mp / "files" / ".session" / "home", tmp = mp / "files" / ".session" / "tmp";
  std::error_code ec;
  fs::create_directories(home, ec);
  fs::create_directories(tmp, ec);
  ::setenv("HOME", home.c_str(), 1);
  ::setenv("TMPDIR", tmp.c_str(), 1);
  for (const char* v : {"XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"}) ::unsetenv(v);
  ::setenv("COFFER_SESSION", mp.c_str(), 1);
  std::vector<std::string> command = o.command;
  if (o.private_bus) {
    fs::path conf = tmp / "session-bus.conf";
    write_bus_config(conf);
    command.insert(command.begin(), {"/usr/bin/dbus-run-session", "--config-file=" + conf.string(), "--"});
  }
  if (::chdir(mp.c_str()) != 0) end_process(1);

  // Its own network (no UDP or abstract socket reaches outside) and the
  // teacher's desktop sockets hidden, before Landlock: it needs mounts.
  try {
    guard::isolate_session(isolation_spec(mp, writable));
  } catch (const Error& e) {
    std::cerr << "coffer: " << e.what() << "\n";
    end_process(126);
  }

  guard::close_fds_from(3);
  guard::SandboxSpec spec;
  spec.writable_dirs = writable;
  spec.writable_dirs.emplace_back("/dev/pts");
  spec.writable_files = {"/dev/null", "/dev/tty", "/dev/ptmx", "/dev/zero", "/dev/full"};
  try {
    guard::restrict_self(spec);
  } catch (const Error& e) {
    std::cerr << "coffer: " << e.what() << "\n";
    end_process(126);
  }

  struct sigaction sa {};
  sa.sa_handler = forward;
  for (int s : {SIGHUP, SIGTERM, SIGINT}) ::sigaction(s, &sa, nullptr);
  pid_t child = ::fork();
  if (child < 0) end_process(1);
  if (child == 0) {
    std::vector<char*> args;
    args.reserve(command.size() + 1);
    for (auto& a : command) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::cerr << "coffer: cannot run " << command[0] << ": " << std::strerror(errno) << "\n";
    end_process(127);
  }
  g_program = child;
  int result = 0;
  for (;;) {
    int status = 0;
    pid_t p = ::waitpid(-1, &status, 0);
    if (p < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: the program and everything it started have ended
    }
    if (p == child) result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  end_process(result);
}

}  // namespace

void register_session_keeper(CLI::App& app, Context&) {
  auto o = std::make_shared<KeeperOptions>();
  auto* cmd = app.add_subcommand("session-keeper", "");
  cmd->group("");  // internal: started by the filesystem process
  cmd->add_option("--mountpoint", o->mountpoint)->required();
  cmd->add_option("--writable", o->writable);
  cmd->add_flag("--private-bus", o->private_bus);
  cmd->add_option("command", o->command)->required();
  cmd->callback([o] { keep(*o); });
}

}  // namespace coffer::cli
