#!/usr/bin/env bash
# compose-smoke.sh: builds the vigil images and checks the docker compose
# deployment end to end, for real.
#
# Steps: find a Docker engine (or start a private dockerd with --dockerd);
# find a Debian 12 base image (VIGIL_BASE_IMAGE, else a local
# vigil-base:bookworm, else debian:bookworm-slim from a registry, else build
# vigil-base:bookworm with debootstrap); build vigil:latest; bring the stack
# up under its own project name; wait until every service is healthy;
# publish the example contacts from the `tools` container; check that intake
# accepted them (acks and `vigilctl cases list`); bring the stack down and
# delete its volumes.
#
# It is slow (an image build) and is not part of scripts/test.sh. It only
# removes what it created: its compose project's containers, network and
# volumes, and the dockerd it started (by PID).
#
# Usage: scripts/compose-smoke.sh [--dockerd] [--keep]
#   --dockerd  start a private dockerd (root only) under $VIGIL_DOCKER_ROOT
#              (default /var/tmp/vigil-docker) and stop it at the end
#   --keep     leave the stack running (and the private dockerd) for a look
# Environment: DOCKER_HOST, VIGIL_BASE_IMAGE, VIGIL_SMOKE_PROJECT
# (default vigil-smoke), VIGIL_SMOKE_TIMEOUT_S (default 180).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

project=${VIGIL_SMOKE_PROJECT:-vigil-smoke}
timeout_s=${VIGIL_SMOKE_TIMEOUT_S:-180}
docker_root=${VIGIL_DOCKER_ROOT:-/var/tmp/vigil-docker}
compose_file=compose/docker-compose.yml
examples=examples/contacts.jsonl
# Prefer the distribution's docker client: it matches the distribution's
# engine and docker-compose.
docker=/usr/bin/docker
[ -x "$docker" ] || docker=$(command -v docker)

start_dockerd=false
keep=false
for arg in "$@"; do
    case "$arg" in
    --dockerd) start_dockerd=true ;;
    --keep) keep=true ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "compose-smoke.sh: unknown argument '$arg' (try --help)" >&2
        exit 64
        ;;
    esac
done

say() { printf '==> %s\n' "$*"; }
indent() { sed 's/^/    /'; }
fail() {
    printf 'compose-smoke.sh: FAILED: %s\n' "$*" >&2
    exit 1
}

dockerd_pid=""
compose_up=false
compose() { docker-compose -p "$project" -f "$compose_file" "$@"; }

cleanup() {
    local rc=$?
    if $keep; then
        say "left running (--keep): project $project${dockerd_pid:+, dockerd pid $dockerd_pid}"
        exit "$rc"
    fi
    if $compose_up; then
        if [ "$rc" -ne 0 ]; then
            say "service logs (last 40 lines each)"
            compose logs --no-color --tail 40 || true
        fi
        say "bringing the stack down (volumes too)"
        compose --profile tools --profile notification --profile reporting down -v --remove-orphans || true
    fi
    if [ -n "$dockerd_pid" ]; then
        say "stopping the private dockerd (pid $dockerd_pid)"
        kill "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 60); do
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 0.5
        done
    fi
    exit "$rc"
}
trap cleanup EXIT

# --- 1. a Docker engine ---------------------------------------------------------
command -v docker-compose >/dev/null || fail "docker-compose is missing (scripts/install-deps.sh docker)"
if $start_dockerd; then
    [ "$(id -u)" -eq 0 ] || fail "--dockerd needs root"
    command -v dockerd >/dev/null || fail "dockerd is missing (scripts/install-deps.sh docker)"
    mkdir -p "$docker_root"
    export DOCKER_HOST="unix://$docker_root/docker.sock"
    say "starting a private dockerd ($DOCKER_HOST)"
    dockerd --data-root "$docker_root/data" -H "$DOCKER_HOST" --pidfile "$docker_root/docker.pid" \
        --exec-root "$docker_root/exec" >"$docker_root/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 60); do
        "$docker" info >/dev/null 2>&1 && break
        kill -0 "$dockerd_pid" 2>/dev/null || fail "dockerd exited; see $docker_root/dockerd.log"
        sleep 0.5
    done
fi
"$docker" info >/dev/null 2>&1 ||
    fail "no Docker engine answers at ${DOCKER_HOST:-the default socket} (start one, or pass --dockerd)"

# --- 2. a base image --------------------------------------------------------------
base=${VIGIL_BASE_IMAGE:-}
if [ -z "$base" ]; then
    if "$docker" image inspect vigil-base:bookworm >/dev/null 2>&1; then
        base=vigil-base:bookworm
    elif "$docker" pull -q debian:bookworm-slim >/dev/null 2>&1; then
        base=debian:bookworm-slim
    else
        command -v debootstrap >/dev/null || fail "no base image and no debootstrap (scripts/install-deps.sh docker)"
        rootfs=$(mktemp -d /var/tmp/vigil-rootfs.XXXXXX)
        say "building vigil-base:bookworm with debootstrap in $rootfs (a few minutes)"
        debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$rootfs.log" 2>&1 ||
            fail "debootstrap failed; see $rootfs.log"
        tar -C "$rootfs" -c . | "$docker" import - vigil-base:bookworm >/dev/null
        rm -rf "$rootfs" "$rootfs.log"
        base=vigil-base:bookworm
    fi
fi
export VIGIL_BASE_IMAGE=$base
say "base image: $base"

# --- 3. build ---------------------------------------------------------------------
say "building vigil:latest"
compose build --force-rm keys

# --- 4. up, healthy -----------------------------------------------------------------
# intake and triage always; a service behind a profile of its own name
# (notification, reporting) when the image has its program.
services="intake triage"
profiles=()
for optional in notification reporting; do
    if "$docker" run --rm --entrypoint sh "vigil:${VIGIL_IMAGE_TAG:-latest}" -c "command -v vigil-$optional" >/dev/null 2>&1; then
        services="$services $optional"
        profiles+=(--profile "$optional")
    else
        say "$optional: not in the image yet; not started"
    fi
done
say "starting: $services"
compose_up=true
compose "${profiles[@]}" up -d
say "waiting up to ${timeout_s}s for every service to be healthy"
deadline=$((SECONDS + timeout_s))
while :; do
    unhealthy=""
    for service in $services; do
        id=$(compose ps -q "$service")
        status=$("$docker" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id" 2>/dev/null || echo missing)
        [ "$status" = healthy ] || unhealthy="$unhealthy $service=$status"
    done
    [ -z "$unhealthy" ] && break
    [ "$SECONDS" -lt "$deadline" ] || fail "not healthy after ${timeout_s}s:$unhealthy"
    sleep 2
done
keys_exit=$("$docker" inspect -f '{{.State.ExitCode}}' "$(compose ps -q keys)")
[ "$keys_exit" = 0 ] || fail "the keys service exited with $keys_exit"
say "all healthy: $(echo "$services" | tr '\n' ' ')"

# Each container holds its own secrets and no one else's: triage (and the
# region plugins in it) cannot read intake's vault key or CURVE secret.
for service in $services; do
    shared=/ # a name no file has; triage's copy of the case-key secret:
    [ "$service" != triage ] || shared=case_key.secret
    others=$(compose exec -T "$service" find /keys /secrets -type f \
        \( -name '*_secret' -o -name '*.vault' -o -name '*.hashkey' -o -name '*.secret' \) \
        ! -name "$service.key_secret" ! -name "$service.vault" ! -name "$service.hashkey" \
        ! -name "$shared" 2>&1) || fail "cannot list $service's keys: $others"
    [ -z "$others" ] || fail "$service can read secrets that are not its own: $others"
    compose exec -T "$service" test -r "/secrets/$service.key_secret" ||
        fail "$service has no /secrets/$service.key_secret"
done
compose exec -T intake test -r /secrets/intake.vault || fail "intake has no vault key"
if compose exec -T triage test -e /secrets/case_key.secret; then :; else
    fail "triage has no case-key secret"
fi
say "each service reads only its own secrets"

# --- 5. publish, check --------------------------------------------------------------
[ -f "$examples" ] || fail "$examples is missing"
expected=$(grep -c '[^[:space:]]' "$examples")
say "publishing $examples ($expected events) from the tools container"
publish_out=$(compose run --rm -T tools vigil-publish --endpoint tcp://intake:7100 \
    --server-key /keys/intake.key --cert /secrets/dev-publisher.key_secret "/$examples" 2>&1) ||
    fail "vigil-publish failed: $publish_out"
indent <<<"$publish_out"

accepted=$(grep -c '"status":"ACCEPTED"' <<<"$publish_out" || true)
[ "$accepted" -eq "$expected" ] || fail "intake accepted $accepted of $expected events"

cases=$(compose exec -T intake vigilctl --state-dir /var/lib/vigil cases list --limit 1000 2>&1) ||
    fail "vigilctl cases list failed: $cases"
indent <<<"$cases"
found=$(grep -c '^c_' <<<"$cases" || true)
[ "$found" -eq "$expected" ] || fail "intake lists $found cases, expected $expected"
say "intake accepted the contacts: $found case(s) listed"

# The cases must also cross the compose network to triage (CURVE between
# containers): intake's relay counts what triage acknowledged.
delivered=0
for _ in $(seq 30); do
    delivered=$(compose exec -T intake curl -fsS http://127.0.0.1:9100/metrics |
        sed -n 's/^vigil_link_delivered_total{[^}]*peer="triage"[^}]*} \([0-9.e+]*\).*/\1/p' | head -n 1)
    [ "${delivered%.*}" -ge "$expected" ] 2>/dev/null && break
    sleep 1
done
[ "${delivered%.*}" -ge "$expected" ] 2>/dev/null ||
    fail "triage acknowledged ${delivered:-0} of $expected case views"
say "triage acknowledged $delivered case view(s) from intake"

for service in $services; do
    restarts=$("$docker" inspect -f '{{.RestartCount}}' "$(compose ps -q "$service")")
    [ "$restarts" = 0 ] || fail "$service restarted $restarts time(s)"
done
say "compose smoke test passed"
