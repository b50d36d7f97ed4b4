// The coffer executable: hardens the process (no core dumps, not
// ptrace-able), then runs the CLI with the real clock, randomness, terminal.
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "app.h"
#include "coffer/vault/container/locked_memory.h"

int main(int argc, char** argv) {
  // First, before SQLite or OpenSSL allocate anything: their copies of key
  // material go to locked memory. `open` warns if the arena is not locked.
  coffer::vault::install_locked_allocators();
  // Keys live in this process: never let them reach a core dump.
  rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  coffer::cli::Context ctx;
  ctx.random = &coffer::keystore::system_random();
  ctx.clock = &coffer::vault::system_clock();
  ctx.out = &std::cout;
  ctx.err = &std::cerr;
  ctx.stdin_is_terminal = isatty(STDIN_FILENO) == 1;
  if (const char* session = std::getenv("COFFER_SESSION")) ctx.session = session;
  ctx.sleep = [](std::chrono::seconds s) { std::this_thread::sleep_for(s); };
  ctx.passphrases = [](const std::string& file) {
    return file.empty() ? coffer::cli::terminal_source() : coffer::cli::file_source(file, std::cerr);
  };
  std::vector<std::string> args(argv + 1, argv + argc);
  return coffer::cli::run(args, ctx);
}
