#!/usr/bin/env bash
# fuzz.sh: fuzzes vigil's input paths with libFuzzer (clang), under
# AddressSanitizer and UndefinedBehaviorSanitizer.
#
# It installs what is missing (scripts/install-deps.sh build test fuzz:
# clang and libFuzzer), configures build-fuzz/ with
# CC=clang -DVIGIL_FUZZ=ON and the sanitizers (with coverage for libFuzzer)
# on every library, builds the targets of tests/fuzz/ (see tests/fuzz/fuzz.h
# for what each checks), and runs each for SECONDS, starting from its seeds
# and its saved regressions. An input that crashes a target or breaks one of
# its properties is copied to tests/fuzz/regressions/<target>/, where every
# ctest run (normal and sanitized) replays it from then on; commit it with
# the fix. Exits non-zero if any target found something.
# It never changes the normal build/ directory. Each target's temporary
# files go to a TMPDIR of its own under the build folder, removed after it
# (libFuzzer ends a run with _Exit(), so a target's exit handlers never run).
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  per target, default 120
#   TARGET   envelope, event_line, intake_request, config, config_include,
#            pbjson, case_id, line_reader, csv, hsds
#            (default: all)
# Environment: VIGIL_FUZZ_BUILD_DIR (default build-fuzz).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

seconds=${1:-120}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(envelope event_line intake_request config config_include pbjson case_id line_reader csv hsds policy_wire)
build=${VIGIL_FUZZ_BUILD_DIR:-build-fuzz}

bash scripts/install-deps.sh build test fuzz

flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_FUZZ=ON \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$build" -j2 --target $(printf 'fuzz_%s ' "${targets[@]}") \
    $(printf 'fuzz_%s_replay ' "${targets[@]}")

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/fuzz/lsan.supp:print_suppressions=0}
found=0
for target in "${targets[@]}"; do
    corpus="$build/corpus/$target"
    artifacts="$build/artifacts/$target"
    regressions="tests/fuzz/regressions/$target"
    rm -rf "$artifacts"
    mkdir -p "$corpus" "$artifacts" "$regressions"
    "$build/tests/fuzz_${target}_replay" --write-seeds "$corpus" >/dev/null
    echo "== fuzz_$target for ${seconds}s (corpus $corpus)"
    scratch="$build/tmp/$target"
    rm -rf "$scratch"
    mkdir -p "$scratch"
    set +e
    TMPDIR="$scratch" "$build/tests/fuzz_$target" -max_total_time="$seconds" -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" "$regressions" \
        >/dev/null 2>"$build/fuzz_$target.log"
    rc=$?
    set -e
    rm -rf "$scratch"
    grep -E "^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+ +DONE)" \
        "$build/fuzz_$target.log" || true
    if [ $rc -ne 0 ]; then
        found=1
        echo "fuzz_$target FOUND A PROBLEM (log: $build/fuzz_$target.log):"
        grep -E "PROPERTY BROKEN|ERROR: |runtime error" "$build/fuzz_$target.log" | head -5 || true
        for input in "$artifacts"/*; do
            [ -f "$input" ] || continue
            cp "$input" "$regressions/"
            echo "  saved $regressions/$(basename "$input")"
        done
    fi
done
exit $found
