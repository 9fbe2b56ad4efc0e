#!/usr/bin/env bash
# Static checks run before every push and in CI (STYLE.md §9, §12): formatting, banned
# functions, and the one-way layering of core/ modules.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

sources=$(git ls-files '*.c' '*.h')

echo "== clang-format"
if ! clang-format --dry-run --Werror $sources; then
    echo "check: run clang-format -i on the files above" >&2
    status=1
fi

echo "== banned functions in library code"
# Memory goes through sl_alloc so tests can count it; unbounded string calls are never safe.
# libsluice-client cannot link libsluice, so its one allocator file is the exception.
banned='\b(malloc|calloc|realloc|free|strcpy|strcat|sprintf|vsprintf|gets)\s*\('
lib_files=$(git ls-files 'core/*.c' 'core/*.h' 'proto/*.c' 'daemon/*.c' 'libclient/*.c' \
    | grep -v -e '^core/common/alloc.c$' -e '^libclient/client_alloc.c$' || true)
if [ -n "$lib_files" ] && grep -nE "$banned" $lib_files; then
    echo "check: use sl_alloc/sl_calloc/sl_realloc/sl_free and bounded string functions" >&2
    status=1
fi

echo "== layering"
# Lower layers never include higher ones: common <- loop <- channel <- net, tls <- ...
layers=(common loop channel net tls stream retry)
for ((i = 0; i < ${#layers[@]}; i++)); do
    dir=core/${layers[$i]}
    [ -d "$dir" ] || continue
    for ((j = i + 1; j < ${#layers[@]}; j++)); do
        higher=${layers[$j]}
        [ -d "core/$higher" ] || continue
        for h in $(cd "core/$higher" && ls *.h 2>/dev/null); do
            if grep -n "#include \"$h\"" "$dir"/*.c "$dir"/*.h 2>/dev/null; then
                echo "check: $dir includes $h from the higher layer core/$higher" >&2
                status=1
            fi
        done
    done
done

exit $status
