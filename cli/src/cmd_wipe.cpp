// coffer wipe: crypto-erase a coffer. The audit sidecar (PATH.audit) stays:
// it belongs to the school.
#include <unistd.h>

#include <chrono>
#include <iostream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/vault/coffer/coffer.h"

namespace coffer::cli {
namespace {

struct WipeOptions {
  std::string path;
  bool yes = false;
};

void run_wipe(const WipeOptions& o, Context& ctx) {
  if (!o.yes) {
    if (!ctx.stdin_is_terminal)
      throw Error(ErrorCode::kUsage,
                  "wipe destroys the coffer for good; not on a terminal, so "
                  "confirm with --yes");
    *ctx.out << "This destroys " << o.path << " and everything in it, for good. Type 'wipe' to confirm: " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "wipe") throw Error(ErrorCode::kUsage, "not confirmed; nothing was wiped");
  }
  auto start = std::chrono::steady_clock::now();
  vault::wipe(o.path, *ctx.random);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  *ctx.out << "wiped " << o.path << " (keys overwritten, file removed, " << ms << " ms)\n";
}

}  // namespace

void register_wipe(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<WipeOptions>();
  auto* cmd = app.add_subcommand("wipe",
                                 "anyone: destroy a coffer (crypto-erase: key slots "
                                 "overwritten, file and journal removed)");
  cmd->add_option("path", o->path, "the coffer file")->required();
  cmd->add_flag("--yes", o->yes, "do not ask for confirmation");
  cmd->callback([o, &ctx] { run_wipe(*o, ctx); });
}

}  // namespace coffer::cli
