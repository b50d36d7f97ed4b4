// Ending a process that must not run destructors or atexit handlers: the
// filesystem process forked from `coffer open` (it shares the parent's
// stdio buffers and atexit list, and may still have a FUSE thread using
// the mount's objects) and the session keeper. A coverage build (the build
// defines COFFER_COVERAGE) first writes its gcov counters, which _exit
// alone would lose.
#pragma once

#include <unistd.h>

#ifdef COFFER_COVERAGE
extern "C" void __gcov_dump(void);
#endif

namespace coffer::cli {

// Streams are not flushed: a caller that has output to keep flushes it.
[[noreturn]] inline void end_process(int code) {
#ifdef COFFER_COVERAGE
  __gcov_dump();
#endif
  ::_exit(code);
}

}  // namespace coffer::cli
