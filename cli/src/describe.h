// Short human descriptions shared by `info` and `keys list`.
#pragma once

#include <string>

#include "coffer/vault/container/header.h"

namespace coffer::cli {

// e.g. "passphrase (argon2id, 256 MiB, 4 passes)" or "DAMAGED".
std::string describe_slot(const vault::KeySlot& slot);

}  // namespace coffer::cli
