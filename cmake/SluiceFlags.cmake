# Compiler flags shared by every Sluice target: warnings (STYLE.md §11), sanitizers and fuzzing.

add_library(sluice_warnings INTERFACE)
target_compile_options(sluice_warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wformat=2 -Wcast-qual -Wvla -Wswitch-enum -Wimplicit-fallthrough -Wconversion
    -Wno-sign-conversion)
if(SL_WERROR)
    target_compile_options(sluice_warnings INTERFACE -Werror)
endif()

# Sanitizers apply to every target in the tree (library, tests, benchmarks) so that
# instrumented and uninstrumented code never mix.
set(SL_SANITIZE "")
if(SL_ASAN)
    list(APPEND SL_SANITIZE address)
endif()
if(SL_UBSAN)
    list(APPEND SL_SANITIZE undefined)
endif()
if(SL_TSAN)
    if(SL_ASAN)
        message(FATAL_ERROR "SL_TSAN cannot be combined with SL_ASAN")
    endif()
    list(APPEND SL_SANITIZE thread)
endif()
if(SL_SANITIZE)
    list(JOIN SL_SANITIZE "," SL_SANITIZE_LIST)
    add_compile_options(-fsanitize=${SL_SANITIZE_LIST} -fno-sanitize-recover=all
                        -fno-omit-frame-pointer)
    add_link_options(-fsanitize=${SL_SANITIZE_LIST})
endif()

if(SL_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
        message(FATAL_ERROR "SL_FUZZ needs clang (configure with CC=clang)")
    endif()
    # The library is instrumented for coverage; only fuzz targets link libFuzzer's main.
    add_compile_options(-fsanitize=fuzzer-no-link)
endif()
