#!/usr/bin/env bash
# stop.sh: drains and stops the services scripts/run.sh started.
#
# For each PID file in state/run/ (intake first, so the front door closes
# before the services behind it), it checks that the PID is still that
# vigil service, sends SIGTERM (the service stops reading, finishes and acks
# what it committed, and exits) and waits for it to go. Anything still
# queued stays in the service's outbox for the next start.
#
# It only signals PIDs from its own PID files, and only after checking the
# process is the vigil service named by the file; it never deletes state.
#
# Usage: scripts/stop.sh [--kill]
#   --kill  send SIGKILL to a service still running after the wait
# Environment: VIGIL_STOP_TIMEOUT_S (default 30: drain.timeout_ms plus margin).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
state=state
stop_timeout_s=${VIGIL_STOP_TIMEOUT_S:-30}
services=(intake triage notification reporting)

force=false
for arg in "$@"; do
    case "$arg" in
    --kill) force=true ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "stop.sh: unknown argument '$arg' (try --help)" >&2
        exit 64
        ;;
    esac
done

# is_service PID NAME: true if PID is a running vigil-NAME.
is_service() {
    [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q "vigil-$2"
}

stopped=0
stuck=()
for name in "${services[@]}"; do
    pidfile="$state/run/$name.pid"
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if [ -z "$pid" ] || ! is_service "$pid" "$name"; then
        echo "stop.sh: $name was not running (stale $pidfile removed)"
        rm -f "$pidfile"
        continue
    fi
    kill -TERM "$pid"
    printf 'stop.sh: %s (pid %s): SIGTERM sent, draining' "$name" "$pid"
    for _ in $(seq $((stop_timeout_s * 4))); do
        is_service "$pid" "$name" || break
        sleep 0.25
    done
    if is_service "$pid" "$name"; then
        if $force; then
            kill -KILL "$pid"
            echo "; still running after ${stop_timeout_s}s: SIGKILL sent"
            rm -f "$pidfile"
        else
            echo "; still running after ${stop_timeout_s}s"
            stuck+=("$name")
        fi
        continue
    fi
    echo "; stopped"
    rm -f "$pidfile"
    stopped=$((stopped + 1))
done
[ "$stopped" -gt 0 ] || [ ${#stuck[@]} -gt 0 ] || echo "stop.sh: no vigil service was running"
if [ ${#stuck[@]} -gt 0 ]; then
    echo "stop.sh: still running: ${stuck[*]} (see $state/log/; run again with --kill to SIGKILL)" >&2
    exit 1
fi
