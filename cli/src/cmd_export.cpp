// coffer export PATH_IN_MOUNT DEST: the one sanctioned way to copy a file
// out of an open coffer. DEST must be an approved destination (the school
// policy narrowed by the coffer's own list) or an allowlisted encrypted
// school stick. The coffer's own process copies it (from its store, not
// through the mount, so this command's terminal or log file does not
// matter): written beside DEST, synced and linked into place (never over an
// existing file), so a failure leaves nothing half-written; the audit trail
// records it with this command's pid and program.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ostream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/fusefs/control.h"
#include "copy_rules.h"

namespace coffer::cli {
namespace fs = std::filesystem;
namespace {

struct ExportOptions {
  std::string source, dest;
};

// The open coffer whose mountpoint holds `path`, and the path inside it.
std::pair<fusefs::MountStatus, std::string> owning_mount(const fs::path& path) {
  for (auto& m : fusefs::list_mounts()) {
    std::string mp = fs::path(m.mountpoint).lexically_normal().string();
    std::string p = path.string();
    if (p.size() > mp.size() + 1 && p.compare(0, mp.size(), mp) == 0 && p[mp.size()] == '/')
      return {m, p.substr(mp.size() + 1)};
  }
  throw Error(ErrorCode::kUsage, path.string() + " is not inside an open coffer (see coffer status)");
}

void run_export(const ExportOptions& o, Context& ctx) {
  fs::path source = fs::absolute(o.source).lexically_normal();
  auto [mount, object] = owning_mount(source);
  fs::path dest = fs::absolute(o.dest).lexically_normal();
  struct stat st {};
  if (::stat(dest.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) dest /= source.filename();
  std::vector<fs::path> approved(mount.approved.begin(), mount.approved.end());
  std::uint64_t bytes = 0;
  try {
    require_approved_destination(dest, approved, school_policy(ctx).copy);
    bytes = fusefs::export_from_mount(mount, object, dest.string());
  } catch (const Error& e) {
    // In a session, a refusal (here or the daemon's) says the way out.
    if (ctx.session.empty()) throw;
    throw Error(e.code(), std::string(e.what()) + "; " + kSessionWayOut, e.remedy());
  }
  *ctx.out << "exported " << object << " to " << dest.string() << " (" << bytes
           << " bytes; recorded in the audit trail)\n";
}

}  // namespace

void register_export(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<ExportOptions>();
  auto* cmd = app.add_subcommand("export", "teacher: copy a file out of an open coffer to an approved place (audited)");
  cmd->add_option("source", o->source, "a file inside the open coffer's folder")->required();
  cmd->add_option("dest", o->dest, "an approved folder or file name (the school's share, an allowlisted school stick)")
      ->required();
  cmd->callback([o, &ctx] { run_export(*o, ctx); });
}

}  // namespace coffer::cli
