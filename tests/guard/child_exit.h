// Ending a forked test child: _exit() skips atexit handlers, so a coverage
// build would lose the child's counters; flush them first when gcov is
// linked in (a weak reference: null in ordinary builds).
#pragma once

#include <unistd.h>

extern "C" void __gcov_dump(void) __attribute__((weak));

namespace coffer::test {

[[noreturn]] inline void child_exit(int code) {
  if (__gcov_dump) __gcov_dump();
  ::_exit(code);
}

}  // namespace coffer::test
