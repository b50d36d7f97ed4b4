# Build policy lives on one INTERFACE target that every coffer target links,
# so no global flags or include directories leak between modules.
add_library(coffer_policy INTERFACE)
target_compile_options(coffer_policy INTERFACE -Wall -Wextra -Wpedantic
  $<$<BOOL:${COFFER_WERROR}>:-Werror>)
target_compile_definitions(coffer_policy INTERFACE _FILE_OFFSET_BITS=64)
if(COFFER_SANITIZE)
  target_compile_options(coffer_policy INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(coffer_policy INTERFACE -fsanitize=address,undefined)
endif()
if(COFFER_FUZZ)
  # Instrument every library for coverage; fuzz targets add -fsanitize=fuzzer.
  target_compile_options(coffer_policy INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  target_link_options(coffer_policy INTERFACE -fsanitize=address,undefined)
endif()

# Clang's thread-safety analysis checks the GUARDED_BY/REQUIRES annotations of
# coffer/mutex.h. Only thread-safety findings are fatal here, so the check does
# not depend on clang agreeing with gcc about every other warning.
option(COFFER_THREAD_SAFETY "Clang -Wthread-safety, its findings fatal (needs clang)" OFF)
if(COFFER_THREAD_SAFETY)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "COFFER_THREAD_SAFETY needs clang (the tsa preset uses clang++-14)")
  endif()
  target_compile_options(coffer_policy INTERFACE -Wthread-safety -Werror=thread-safety)
endif()

# Line coverage for scripts/coverage.sh (gcc + gcovr). COFFER_COVERAGE=1 lets
# code that leaves a process with _exit() flush its counters first (__gcov_dump).
option(COFFER_COVERAGE "Instrument for line coverage (gcc --coverage)" OFF)
if(COFFER_COVERAGE)
  target_compile_options(coffer_policy INTERFACE --coverage)
  target_link_options(coffer_policy INTERFACE --coverage)
  target_compile_definitions(coffer_policy INTERFACE COFFER_COVERAGE=1)
endif()
