// coffer create: a new, empty coffer for one person and purpose.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/vault/coffer.h"
#include "dates.h"
#include "school_key_files.h"

namespace coffer::cli {

std::string read_small_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot open " + path + ": " + std::strerror(errno));
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      throw Error(ErrorCode::kIo, "cannot read " + path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > 65536) {
      ::close(fd);
      throw Error(ErrorCode::kDamaged, path + " is too large to be a coffer key file");
    }
  }
  ::close(fd);
  return text;
}

keystore::SchoolPublicKey load_public_key(const std::string& path) {
  return keystore::parse_public_key_file(read_small_file(path), path);
}

keystore::SchoolKeyPair load_secret_key(const std::string& path, PassphraseSource& source) {
  std::string text = read_small_file(path);
  keystore::Passphrase pw = source.existing("Passphrase for the school key " + path);
  return keystore::open_secret_key_file(text, pw, path);
}

namespace {

struct CreateOptions {
  CommonOptions common;
  std::string path, owner, purpose, expires, recovery_key, audit_key;
};

void run_create(const CreateOptions& o, Context& ctx) {
  vault::CreateParams params;
  params.owner = o.owner;
  params.profile = o.purpose;
  params.expires = end_of_local_day(o.expires);
  params.kdf_cost = o.common.cost();
  if (!o.recovery_key.empty()) params.recovery_key = load_public_key(o.recovery_key);
  if (!o.audit_key.empty()) params.audit_key = load_public_key(o.audit_key);
  if (::access(o.path.c_str(), F_OK) == 0)
    throw Error(ErrorCode::kPolicy, o.path + " already exists; choose another name");
  if (params.expires <= ctx.clock->now())
    throw Error(ErrorCode::kPolicy, "the expiry date " + o.expires + " is in the past");
  auto source = ctx.passphrases(o.common.passphrase_file);
  keystore::Passphrase pw = ask_new_passphrase(*source, "New passphrase for " + o.path);
  vault::Coffer::create(o.path, params, pw, *ctx.random, *ctx.clock);
  *ctx.out << "created " << o.path << " for " << o.owner << " (" << o.purpose << "), expires "
           << o.expires << " end of day";
  if (!params.recovery_key) *ctx.out << "\nwarning: no recovery key: a forgotten passphrase cannot be recovered";
  if (params.kdf_cost == keystore::KdfCost::kTest)
    *ctx.out << "\nwarning: INSECURE test key-derivation cost; never use it for real data";
  *ctx.out << "\n";
}

}  // namespace

void register_create(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<CreateOptions>();
  auto* cmd = app.add_subcommand("create", "IT: create a new, empty coffer (refuses to overwrite)");
  cmd->add_option("path", o->path, "the coffer file to create, e.g. trip-paris.coffer")->required();
  cmd->add_option("--owner", o->owner, "the member of staff it is for")->required();
  cmd->add_option("--purpose", o->purpose, "profile name: trip, trip-local, marking, home-working")
      ->required()
      ->check(CLI::IsMember({"trip", "trip-local", "marking", "home-working"}));
  cmd->add_option("--expires", o->expires, "YYYY-MM-DD: the coffer expires at the end of that day")
      ->required();
  cmd->add_option("--recovery-key", o->recovery_key, "the school's recovery key (.pub)");
  cmd->add_option("--audit-key", o->audit_key, "the school's audit key (.pub)");
  add_passphrase_file_option(*cmd, o->common);
  add_kdf_cost_option(*cmd, o->common);
  cmd->callback([o, &ctx] { run_create(*o, ctx); });
}

}  // namespace coffer::cli
