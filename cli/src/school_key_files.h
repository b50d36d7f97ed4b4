// Reading school key files named on the command line.
#pragma once

#include <string>

#include "app.h"
#include "coffer/keystore/school_key.h"

namespace coffer::cli {

std::string read_small_file(const std::string& path);
keystore::SchoolPublicKey load_public_key(const std::string& path);
// Asks for the key's passphrase from source.
keystore::SchoolKeyPair load_secret_key(const std::string& path, PassphraseSource& source);

}  // namespace coffer::cli
