// The CLI's wording of a library error: what happened (the message) and
// what to do about it in this program's own commands and flags (the
// error's Remedy). Every place the CLI shows an Error uses error_text.
#pragma once

#include <string>

#include "coffer/error.h"

namespace coffer::cli {

std::string error_text(const Error& error);

}  // namespace coffer::cli
