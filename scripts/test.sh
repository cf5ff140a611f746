#!/usr/bin/env bash
# test.sh: installs what is missing, builds, and runs vigil's test suite.
#
# The default run is the one CI runs (.ci/run): every ctest test except the
# labels in VIGIL_CTEST_EXCLUDE (heavy suites, benchmarks, docker), two at a
# time, with the output of any failing test; then the same suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer (scripts/test-sanitize.sh,
# build-asan/). Together they stay well under 20 minutes on 2 cores.
#
# Usage: scripts/test.sh [--sanitize | --quick] [--heavy | --all] [--no-deps] [-- CTEST_ARGS...]
#   --sanitize  run only the sanitizer suite (scripts/test-sanitize.sh: ASan +
#               UBSan build in build-asan/, every report of every process listed)
#   --quick     run only the normal suite, without the sanitizer pass
#   --heavy     run only the heavy suites (label "heavy")
#   --all       run every test, heavy ones included (not benchmarks)
#   --no-deps   do not call scripts/install-deps.sh
#   CTEST_ARGS  passed to ctest as they are, e.g. -R unit.vault
# Environment: VIGIL_BUILD_DIR (default build), VIGIL_CTEST_EXCLUDE
# (default "heavy|bench|docker"), VIGIL_TEST_JOBS (default 2).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

sanitize=false
quick=false
selection=default
do_deps=true
ctest_extra=()
while [ $# -gt 0 ]; do
    case "$1" in
    --sanitize) sanitize=true ;;
    --quick) quick=true ;;
    --heavy) selection=heavy ;;
    --all) selection=all ;;
    --no-deps) do_deps=false ;;
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
        echo "test.sh: unknown argument '$1' (try --help)" >&2
        exit 64
        ;;
    esac
    shift
done

exclude=${VIGIL_CTEST_EXCLUDE:-heavy|bench|docker}
jobs=${VIGIL_TEST_JOBS:-2}
build_dir=${VIGIL_BUILD_DIR:-build}

say() { printf '==> %s\n' "$*"; }

if $do_deps; then
    say "checking packages"
    bash "$root/scripts/install-deps.sh" build test
fi
if $sanitize; then
    case "$selection" in
    default) exec bash "$root/scripts/test-sanitize.sh" -- "${ctest_extra[@]}" ;;
    heavy) exec bash "$root/scripts/test-sanitize.sh" --all -- -L heavy "${ctest_extra[@]}" ;;
    all) exec bash "$root/scripts/test-sanitize.sh" --all -- "${ctest_extra[@]}" ;;
    esac
fi
say "building in $build_dir/"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_TESTS=ON -DVIGIL_SANITIZE=OFF >/dev/null
cmake --build "$build_dir" -j "$(nproc)"

case "$selection" in
default) filter=(-LE "$exclude") ;;
heavy) filter=(-L heavy) ;;
all) filter=(-LE "bench|docker") ;;
esac
say "running ctest ${filter[*]} -j $jobs ${ctest_extra[*]}"
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error -j "$jobs" \
    "${filter[@]}" "${ctest_extra[@]}"
if $quick || [ "$selection" != default ]; then
    exit 0
fi
say "the same suite under ASan + UBSan (skip with --quick)"
exec bash "$root/scripts/test-sanitize.sh" -- "${ctest_extra[@]}"
