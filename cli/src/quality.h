// Passphrase strength, judged by libpwquality (the system's pwquality.conf
// and cracklib dictionary), never by home-made rules.
#pragma once

#include "coffer/keystore/secret.h"

namespace coffer::cli {

// Throws Error(kPolicy) with libpwquality's reason when the passphrase is weak.
void require_strong(const keystore::Passphrase& passphrase);

}  // namespace coffer::cli
