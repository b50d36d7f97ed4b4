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
