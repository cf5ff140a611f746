#!/bin/bash
# bench_intake.sh: runs bench_intake (vigil-intake vs RabbitMQ) on loopback.
#
# Starts a private RabbitMQ node (Debian's rabbitmq-server) bound to
# 127.0.0.1 on a free port with its data in a temporary directory, runs
# build/bench/bench_intake against it and a real vigil-intake, then stops
# the node and removes its data. Never touches another RabbitMQ node.
#
# usage: tests/bench/bench_intake.sh [BUILD_DIR] [bench_intake options]
#   e.g. tests/bench/bench_intake.sh build --events 80000 --runs 3
# needs: apt-get install rabbitmq-server librabbitmq-dev
set -euo pipefail

build=${1:-build}
[ $# -gt 0 ] && shift
bench="$build/bench/bench_intake"
[ -x "$bench" ] || { echo "no $bench: build with librabbitmq-dev installed" >&2; exit 2; }
command -v rabbitmq-server >/dev/null || { echo "needs rabbitmq-server (apt-get install rabbitmq-server)" >&2; exit 2; }

free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 30000))
        (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null || { echo "$port"; return; }
    done
}

# 1. vigil alone (nothing else of ours running)
vigil_out=$("$bench" "$build/bin/vigil-intake" "$build/bin/vigil-intake-triage-standin" \
    --only vigil "$@")
printf '%s\n' "$vigil_out"

# 2. RabbitMQ alone
base=$(mktemp -d /tmp/vigil-rabbit-XXXXXX)
chmod 755 "$base"
id rabbitmq >/dev/null 2>&1 && chown rabbitmq:rabbitmq "$base"
node="vigilbench$$@localhost"
export RABBITMQ_NODENAME="$node"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$(free_port)
export RABBITMQ_DIST_PORT=$(free_port)
export RABBITMQ_MNESIA_BASE="$base/mnesia"
export RABBITMQ_LOG_BASE="$base/log"
export RABBITMQ_PID_FILE="$base/node.pid"
export RABBITMQ_ENABLED_PLUGINS_FILE="$base/enabled_plugins"
echo "[]." > "$RABBITMQ_ENABLED_PLUGINS_FILE"
id rabbitmq >/dev/null 2>&1 && chown rabbitmq:rabbitmq "$RABBITMQ_ENABLED_PLUGINS_FILE"

# The node starts Erlang's port mapper (epmd) as a daemon when none runs;
# one this script caused is stopped again with the node.
epmd_was_running=no
epmd -names >/dev/null 2>&1 && epmd_was_running=yes

stop_node() {
    rabbitmqctl -n "$node" stop >/dev/null 2>&1 || true
    [ -n "${server_pid:-}" ] && wait "$server_pid" 2>/dev/null || true
    [ "$epmd_was_running" = no ] && epmd -kill >/dev/null 2>&1 || true
    rm -rf "$base"
}
trap stop_node EXIT

rabbitmq-server > "$base/server.out" 2>&1 &
server_pid=$!
# await_startup needs the node to be reachable already: poll until it is.
for _ in $(seq 1 90); do
    rabbitmqctl -n "$node" status >/dev/null 2>&1 && break
    sleep 1
done
if ! rabbitmqctl -n "$node" await_startup --timeout 90 >/dev/null 2>&1; then
    echo "RabbitMQ did not start; its output:" >&2
    tail -20 "$base/server.out" >&2
    exit 1
fi
echo "RabbitMQ $(rabbitmqctl -n "$node" version 2>/dev/null) on 127.0.0.1:$RABBITMQ_NODE_PORT"
rabbit_out=$("$bench" "$build/bin/vigil-intake" "$build/bin/vigil-intake-triage-standin" \
    --only rabbitmq --amqp-port "$RABBITMQ_NODE_PORT" "$@")
printf '%s\n' "$rabbit_out"

vigil_rate=$(awk '/^RESULT vigil/ {print $3}' <<<"$vigil_out")
rabbit_rate=$(awk '/^RESULT rabbitmq/ {print $3}' <<<"$rabbit_out")
awk -v v="$vigil_rate" -v r="$rabbit_rate" \
    'BEGIN { printf "vigil / rabbitmq (median full-load rate): %.2fx (%s vs %s per second)\n", v / r, v, r }'
