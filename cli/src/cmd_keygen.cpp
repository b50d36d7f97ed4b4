// coffer keygen: a school key pair (recovery or audit) as PREFIX.pub and
// PREFIX.key. The .key file is written 0600 and encrypted under a passphrase.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>

#include "app.h"
#include "coffer/error.h"
#include "coffer/keystore/encoding.h"
#include "coffer/keystore/school_key.h"
#include "new_file.h"

namespace coffer::cli {
namespace {

struct KeygenOptions {
  CommonOptions common;
  std::string out;
  std::string role = "recovery";
};

void run_keygen(const KeygenOptions& o, Context& ctx) {
  auto role = o.role == "audit" ? keystore::SchoolKeyRole::kAudit : keystore::SchoolKeyRole::kRecovery;
  std::string pub_path = o.out + ".pub", key_path = o.out + ".key";
  for (auto& p : {pub_path, key_path})
    if (::access(p.c_str(), F_OK) == 0)
      throw Error(ErrorCode::kPolicy, p + " already exists; choose another --out prefix");
  auto source = ctx.passphrases(o.common.passphrase_file);
  keystore::Passphrase pw =
      ask_new_passphrase(*source, "New passphrase for the school " + std::string(keystore::role_name(role)) + " key",
                         passphrase_context("", std::string(keystore::role_name(role)), o.out, "school"));
  keystore::SchoolKeyPair pair = keystore::generate_school_key(role, *ctx.random);
  std::string secret_text = keystore::encode_secret_key_file(pair, pw, o.common.cost(), *ctx.random);
  write_new_file(key_path, secret_text, 0600);
  try {
    write_new_file(pub_path, keystore::encode_public_key_file(pair.public_key), 0644);
  } catch (...) {
    ::unlink(key_path.c_str());
    throw;
  }
  *ctx.out << "wrote " << key_path << " (secret, keep it offline) and " << pub_path << "\n"
           << keystore::role_name(role) << " key fingerprint " << keystore::to_hex(pair.public_key.fingerprint())
           << "\n";
}

}  // namespace

void register_keygen(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<KeygenOptions>();
  auto* cmd = app.add_subcommand("keygen",
                                 "IT/DPO: make a school key pair: PREFIX.pub (give to create) and PREFIX.key "
                                 "(secret, passphrase-protected). Keep two: a recovery key (IT) and an audit key "
                                 "(the DPO).");
  cmd->add_option("--out", o->out, "path prefix of the two files")->required();
  cmd->add_option("--role", o->role, "recovery (reopens coffers) or audit (reads audit trails)")
      ->check(CLI::IsMember({"recovery", "audit"}));
  add_passphrase_file_option(*cmd, o->common);
  add_kdf_cost_option(*cmd, o->common);
  cmd->callback([o, &ctx] { run_keygen(*o, ctx); });
}

}  // namespace coffer::cli
