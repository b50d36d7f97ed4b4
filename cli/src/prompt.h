// Where passphrases come from: the terminal (no echo; new ones asked twice)
// or --passphrase-file (one per line, in the fixed order of docs/CLI.md:
// current coffer passphrase, recovery key's, audit key's, new passphrase).
// Never from an argument or the environment.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>

#include "coffer/keystore/secret.h"

namespace coffer::cli {

class PassphraseSource {
 public:
  virtual ~PassphraseSource() = default;
  // An existing passphrase (asked once).
  virtual keystore::Passphrase existing(const std::string& prompt) = 0;
  // A passphrase being set: asked twice on a terminal; checked for strength
  // by the caller.
  virtual keystore::Passphrase new_one(const std::string& prompt) = 0;
};

// From the controlling terminal (/dev/tty).
std::unique_ptr<PassphraseSource> terminal_source();
// From a file, or standard input for "-". Read lazily, line by line, into
// secure memory. A file readable by others is refused (kPolicy); one
// readable by its group is warned about on `err`.
std::unique_ptr<PassphraseSource> file_source(const std::string& path, std::ostream& err);

}  // namespace coffer::cli
