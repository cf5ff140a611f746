#!/usr/bin/env bash
# install-deps.sh: installs the Debian 12 packages vigil needs, and only
# those that are missing.
#
# It asks dpkg-query which packages of the chosen sets are not installed, and
# if any are, runs one `apt-get update` and one `apt-get install -y
# --no-install-recommends` for exactly those. It never upgrades or removes
# anything, and it never starts a daemon: while it installs, a temporary
# /usr/sbin/policy-rc.d (only if none exists) stops maintainer scripts from
# starting services (the `prometheus` package would otherwise start a server;
# vigil only needs its `promtool`).
#
# Usage: scripts/install-deps.sh [SET...] [--check] [--print]
#   SET      build | test | runtime | dev | docker | bench | fuzz
#            (default: build test)
#   --check  install nothing; list what is missing; exit 1 if anything is
#   --print  print the packages of the chosen sets, one a line, and exit
#
# Works non-interactively (DEBIAN_FRONTEND=noninteractive) as root on a fresh
# Debian 12; as another user it uses sudo when it has to install.
set -euo pipefail

# --- the package sets ---------------------------------------------------------
# To compile vigil (CMakeLists.txt's pkg_check_modules and find_program).
build_packages=(
    build-essential cmake pkg-config
    libzmq3-dev libczmq-dev libsodium-dev
    libprotobuf-c-dev protobuf-c-compiler
    libsqlite3-dev libconfig-dev libmicrohttpd-dev libjansson-dev
    libcurl4-openssl-dev
    libseccomp-dev # the policy worker's syscall filter (services/triage/policy_sandbox.c)
)
# To run the test suite and the scripts in scripts/.
test_packages=(
    libcmocka-dev # unit tests (tests/unit)
    sqlite3       # integrity checks and store inspection in integration tests
    prometheus    # promtool check metrics
    python3-zmq python3-protobuf # upstream-client tests written in Python (/usr/bin/python3)
    curl          # scripts/run.sh and tests probe /healthz and /metrics
    procps        # ps/pgrep in scripts and process tests
)
# Needed by particular tests (reported by, or found in, the tests that use
# them). Keep each with the reason; remove a line when nothing uses it.
extra_packages=(
    jq                # tests/integration/publish_test.sh reads vigil-publish's JSON lines
    protobuf-compiler # integration.intake_docs: protoc --python_out for docs/upstream.md's example
)
# What the runtime container image needs (compose/Dockerfile): shared
# libraries only, plus curl for the /healthz healthcheck.
runtime_packages=(
    libzmq5 libczmq4 libsodium23 libprotobuf-c1 libsqlite3-0 libconfig9
    libmicrohttpd12 libjansson4 libcurl4 libseccomp2 curl ca-certificates
)
# For people changing the code: the formatter the house style asks for.
dev_packages=(
    clang-format
)
# For scripts/fuzz.sh: clang and its runtime libraries, which hold libFuzzer
# (only recommended by clang, so named here).
fuzz_packages=(
    clang libclang-rt-14-dev
)
# For the benchmarks in tests/bench/ (bench_intake compares vigil-intake
# with a RabbitMQ broker on loopback; the broker is never started as a
# system service).
bench_packages=(
    rabbitmq-server librabbitmq-dev
)
# For scripts/compose-smoke.sh: a Docker engine, docker-compose and
# debootstrap to build a base image without a registry.
docker_packages=(
    docker.io docker-compose debootstrap
)

# --- arguments ----------------------------------------------------------------
sets=()
mode=install
for arg in "$@"; do
    case "$arg" in
    build | test | runtime | dev | docker | bench | fuzz) sets+=("$arg") ;;
    --check) mode=check ;;
    --print) mode=print ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "install-deps.sh: unknown argument '$arg' (try --help)" >&2
        exit 64
        ;;
    esac
done
[ ${#sets[@]} -gt 0 ] || sets=(build test)

wanted=()
for set in "${sets[@]}"; do
    case "$set" in
    build) wanted+=("${build_packages[@]}") ;;
    test) wanted+=("${test_packages[@]}" "${extra_packages[@]}") ;;
    runtime) wanted+=("${runtime_packages[@]}") ;;
    dev) wanted+=("${dev_packages[@]}") ;;
    docker) wanted+=("${docker_packages[@]}") ;;
    bench) wanted+=("${bench_packages[@]}") ;;
    fuzz) wanted+=("${fuzz_packages[@]}") ;;
    esac
done

if [ "$mode" = print ]; then
    printf '%s\n' "${wanted[@]}"
    exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps.sh: this is not a Debian system (no dpkg-query); install these by hand:" >&2
    printf '  %s\n' "${wanted[@]}" >&2
    exit 1
fi

# --- what is missing ----------------------------------------------------------
missing=()
for package in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null || true)
    case "$status" in
    ii*) ;;
    *) missing+=("$package") ;;
    esac
done
# Remove duplicates, keep order.
if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps.sh: all ${#wanted[@]} packages for '${sets[*]}' are installed"
    exit 0
fi
if [ "$mode" = check ]; then
    echo "install-deps.sh: missing for '${sets[*]}':"
    printf '  %s\n' "${missing[@]}"
    exit 1
fi

# --- install ------------------------------------------------------------------
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install-deps.sh: not root and no sudo; as root, run:" >&2
        echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
fi

policy=/usr/sbin/policy-rc.d
placed_policy=false
remove_policy() {
    if $placed_policy; then
        "${sudo[@]}" rm -f "$policy"
    fi
}
trap remove_policy EXIT
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# Placed by vigil scripts/install-deps.sh while it installs; removed after.\nexit 101\n' |
        "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 0755 "$policy"
    placed_policy=true
fi

echo "install-deps.sh: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
echo "install-deps.sh: done"
