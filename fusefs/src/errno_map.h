// The one table from coffer's typed errors to errno, used by the FUSE
// adapter for every callback.
#pragma once

#include <exception>

namespace coffer::fusefs {

// Maps the exception currently being handled (call inside a catch block).
int errno_of_current_exception() noexcept;

}  // namespace coffer::fusefs
