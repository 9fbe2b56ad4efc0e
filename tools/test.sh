#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, and runs every test.
#
#   1. Debug build with AddressSanitizer + UndefinedBehaviorSanitizer: every unit and
#      integration test (CK_FORK=no so leaks are reported).
#   2. ThreadSanitizer build (clang): the threaded suites again.
#   3. libFuzzer build (clang): each fuzz target for SL_FUZZ_SECONDS (default 30).
#
# Set SL_SKIP_DEPS=1 to skip the apt step on a machine that already has everything.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${SL_SKIP_DEPS:-0}" != "1" ]; then
    ./tools/install-deps.sh
fi

jobs=$(nproc)

echo "== asan: build and run all tests"
cmake --preset asan
cmake --build --preset asan -j "$jobs"
ctest --preset asan -j "$jobs"

echo "== tsan: threaded suites"
cmake --preset tsan
cmake --build --preset tsan -j "$jobs"
ctest --preset tsan -L threads -j "$jobs"

echo "== fuzz: each target for ${SL_FUZZ_SECONDS:-30} s"
cmake --preset fuzz -DSL_FUZZ_SECONDS="${SL_FUZZ_SECONDS:-30}"
cmake --build --preset fuzz -j "$jobs"
ctest --preset fuzz -j "$jobs"

echo "== all tests passed"
