#!/usr/bin/env bash
# test-sanitize.sh: builds vigil with AddressSanitizer + UndefinedBehavior-
# Sanitizer and runs the ctest suite under them, then lists every finding.
#
# It configures build-asan/ with -DVIGIL_SANITIZE=ON, builds everything, and
# runs ctest with ASAN_OPTIONS=detect_leaks=1 and
# UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1. Each sanitizer report, from
# the test binaries and from every service process they start, is also
# written to build-asan/sanitizer-reports/ (log_path), so findings in child
# processes whose output a passing test throws away are not lost. At the end
# it prints one line per report (the error and the first vigil frame,
# file:line) and exits non-zero if any test failed or any report exists.
# It never changes the normal build/ directory.
#
# Usage: scripts/test-sanitize.sh [--all] [--keep-going] [-- CTEST_ARGS...]
#   --all         include the "heavy" suites (slow under ASan); benchmarks and
#                 docker tests are never run here
#   --keep-going  build what builds and run the tests anyway when some target
#                 fails to build (the run still ends non-zero)
#   CTEST_ARGS  passed to ctest as they are, e.g. -R lifecycle
# Environment: VIGIL_ASAN_BUILD_DIR (default build-asan), VIGIL_TEST_JOBS
# (default 2), VIGIL_CTEST_EXCLUDE (default "heavy|bench|docker").
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

exclude=${VIGIL_CTEST_EXCLUDE:-heavy|bench|docker}
ctest_extra=()
keep_going=false
while [ $# -gt 0 ]; do
    case "$1" in
    --all) exclude="bench|docker" ;;
    --keep-going) keep_going=true ;;
    --)
        shift
        ctest_extra=("$@")
        break
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "test-sanitize.sh: unknown argument '$1' (try --help)" >&2
        exit 64
        ;;
    esac
    shift
done

build_dir=${VIGIL_ASAN_BUILD_DIR:-build-asan}
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac
jobs=${VIGIL_TEST_JOBS:-2}
reports="$build_dir/sanitizer-reports"

say() { printf '==> %s\n' "$*"; }

say "configuring $build_dir (VIGIL_SANITIZE=ON)"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_TESTS=ON \
    -DVIGIL_SANITIZE=ON >/dev/null
say "building"
build_failed=false
if $keep_going; then
    cmake --build "$build_dir" -j "$(nproc)" -- -k || build_failed=true
else
    cmake --build "$build_dir" -j "$(nproc)"
fi

rm -rf "$reports"
mkdir -p "$reports"
# Leaks are errors; UBSan stops at its first finding, with a stack. Reports
# go to files named <prefix>.<program>.<pid> as well as failing the process.
# Full (slow) unwinding on malloc, so a leak inside libsqlite3 or libzmq
# (built without frame pointers) still shows the vigil call that caused it.
export ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan:log_exe_name=1:fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan:log_exe_name=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
say "ctest -LE '$exclude' -j $jobs ${ctest_extra[*]} (ASAN_OPTIONS=$ASAN_OPTIONS)"
status=0
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" -LE "$exclude" \
    "${ctest_extra[@]}" 2>&1 | tee "$reports/ctest.log" || status=$?

# One line per report: the kind of error, then the first frame in vigil's
# own sources (file:line), which is where to look.
shopt -s nullglob
found=0
for report in "$reports"/asan.* "$reports"/ubsan.*; do
    found=$((found + 1))
    what=$(grep -m1 -E "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY:" "$report" || true)
    where=$(grep -m1 -oE "$root/[^ :]+:[0-9]+(:[0-9]+)?" "$report" | sed "s|$root/||" || true)
    program=$(basename "$report" | sed -E 's/^(asan|ubsan)\.//; s/\.[0-9]+$//')
    printf 'finding %d: %s\n    in %s at %s\n    report %s\n' "$found" "${what:-(see report)}" \
        "$program" "${where:-(no vigil frame)}" "$report"
done
# Reports that reached a test's output instead of a file (a process that
# reset its environment, or a plugin loaded into a test binary).
while IFS= read -r line; do
    found=$((found + 1))
    printf 'finding %d: %s\n    seen in ctest output (%s)\n' "$found" \
        "${line//$root\//}" "$reports/ctest.log"
done < <(grep -E "runtime error:|ERROR: (Address|Leak)Sanitizer" "$reports/ctest.log" | sort -u)
if $build_failed; then
    say "some targets did not build (see above); their tests could not run"
    status=1
fi
if [ "$found" -gt 0 ]; then
    say "$found sanitizer report(s) in $reports"
    status=1
else
    say "no sanitizer reports"
fi
exit "$status"
