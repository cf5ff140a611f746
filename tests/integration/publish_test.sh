#!/usr/bin/env bash
# publish_test.sh: vigil-publish end to end, against the test responder.
#
# Usage: publish_test.sh CASE VIGIL_PUBLISH ACK_RESPONDER EXAMPLES_DIR
#   CASE: examples | rejected | json_errors | unanswered | kill_restart | insecure
#
# ack_responder is a TEST PEER standing in for intake's front door (a real
# ROUTER with CURVE and an allowlist on 127.0.0.1, port chosen at run time;
# see tests/integration/ack_responder.c). It appends every event it accepts
# to a log file before answering, which is what these tests read back to
# check what was "stored". Each case checks what a user of vigil-publish
# relies on: one result line per event, the right status and reason, the
# exit code, nothing sent for a line that is not valid, nothing stored
# twice, and no personal value in the output. Needs jq.
set -euo pipefail

case_name=${1:?case}
PUBLISH=${2:?vigil-publish}
RESPONDER=${3:?ack_responder}
EXAMPLES=${4:?examples dir}

command -v jq >/dev/null || {
    echo "publish_test.sh: needs jq (apt-get install jq)" >&2
    exit 1
}

work=$(mktemp -d /tmp/vigil-publish-test.XXXXXX)
responder_pid=""
port=""

cleanup() {
    if [ -n "$responder_pid" ]; then
        kill -9 "$responder_pid" 2>/dev/null || true
        wait "$responder_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL ($case_name): $*" >&2
    exit 1
}

# Ports come from below the kernel's ephemeral range, as the C tests' do
# (harness_free_port): no outgoing connection of a test running beside this
# one can take the port while the responder is down for a restart.
read -r ephemeral_lo _ </proc/sys/net/ipv4/ip_local_port_range
pool="![20000-$((ephemeral_lo - 1))]"

# reserve_port PORT: holds the tests' lock on PORT (see link_harness.c)
# until this script ends; 1 if another test holds it.
reserve_port() {
    mkdir -p /tmp/vigil-test-ports
    exec {port_lock}>"/tmp/vigil-test-ports/$1"
    flock -n "$port_lock"
}

# start_responder [PORT|any] [FLAG...]: starts the peer (on PORT, or any free
# port of the pool, reserved for this script). Restarting on a given port
# retries for a while: the old socket may still be closing.
start_responder() {
    local endpoint="tcp://127.0.0.1:$pool" # czmq: a random free port in the pool
    if [ $# -gt 0 ]; then
        [ "$1" = "any" ] || endpoint="tcp://127.0.0.1:$1"
        shift
    fi
    for _attempt in $(seq 1 20); do
        rm -f "$work/port"
        "$RESPONDER" serve --state "$work" --endpoint "$endpoint" --port-file "$work/port" "$@" \
            >>"$work/responder.out" 2>&1 &
        responder_pid=$!
        for _ in $(seq 1 200); do
            [ -s "$work/port" ] && break
            kill -0 "$responder_pid" 2>/dev/null || break
            sleep 0.05
        done
        if [ -s "$work/port" ]; then
            port=$(cat "$work/port")
            [ "$endpoint" != "tcp://127.0.0.1:$pool" ] || reserve_port "$port" || {
                kill_responder # another test holds this port: pick again
                continue
            }
            return 0
        fi
        wait "$responder_pid" 2>/dev/null || true
        responder_pid=""
        sleep 0.1
    done
    fail "responder did not start: $(tail -3 "$work/responder.out")"
}

kill_responder() {
    kill -9 "$responder_pid"
    wait "$responder_pid" 2>/dev/null || true
    responder_pid=""
}

publish() {
    "$PUBLISH" --state-dir "$work" --endpoint "tcp://127.0.0.1:$port" "$@"
}

# count FILE JQ_FILTER: how many result lines match.
count() {
    jq -c "select($2)" "$1" | wc -l
}

stored_events() {
    wc -l <"$work/responder.log"
}

"$RESPONDER" keygen "$work" >/dev/null

case "$case_name" in
examples)
    start_responder
    set +e
    publish "$EXAMPLES/contacts.jsonl" >"$work/first.out" 2>"$work/first.err"
    rc=$?
    publish <"$EXAMPLES/custody.jsonl" >"$work/custody.out" 2>/dev/null
    rc_custody=$?
    publish "$EXAMPLES/contacts.jsonl" >"$work/again.out" 2>/dev/null
    rc_again=$?
    set -e
    [ "$rc" -eq 0 ] || fail "first run exit $rc: $(cat "$work/first.err")"
    [ "$rc_custody" -eq 0 ] || fail "custody run exit $rc_custody"
    [ "$rc_again" -eq 0 ] || fail "second run exit $rc_again (DUPLICATE is success)"
    n=$(grep -c . "$EXAMPLES/contacts.jsonl")
    [ "$(wc -l <"$work/first.out")" -eq "$n" ] || fail "not one result per contact"
    [ "$(count "$work/first.out" '.status == "ACCEPTED" and (.case_id | length) > 0')" -eq "$n" ] ||
        fail "not every contact accepted with a case id: $(cat "$work/first.out")"
    # Each input line answered once, under its own event id.
    diff <(jq -r '"\(input_line_number) \(.event.event_id)"' "$EXAMPLES/contacts.jsonl" | sort) \
        <(jq -r '"\(.line) \(.event_id)"' "$work/first.out" | sort) || fail "event ids differ"
    [ "$(jq -r '.line' "$work/first.out" | sort -n | uniq | wc -l)" -eq "$n" ] || fail "lines"
    [ "$(count "$work/custody.out" '.status == "ACCEPTED"')" -eq 5 ] || fail "custody"
    # Sent again: every one a DUPLICATE carrying the case id of the first run.
    [ "$(count "$work/again.out" '.status == "DUPLICATE"')" -eq "$n" ] || fail "not DUPLICATE"
    diff <(jq -r '"\(.event_id) \(.case_id)"' "$work/first.out" | sort) \
        <(jq -r '"\(.event_id) \(.case_id)"' "$work/again.out" | sort) ||
        fail "DUPLICATE case ids differ from the first run"
    [ "$(stored_events)" -eq $((n + 5)) ] || fail "stored $(stored_events) events"
    # No personal value in stdout or stderr.
    ! grep -q -e "+1503555" -e "example.org" -e "Dana" "$work/first.out" "$work/first.err" ||
        fail "personal data in the output"
    ;;

rejected)
    start_responder
    {
        sed -n '1,2p' "$EXAMPLES/contacts.jsonl"
        sed -n '3p' "$EXAMPLES/contacts.jsonl" | jq -c '.event.victim.phone = "503-555-0199"'
        sed -n '4p' "$EXAMPLES/contacts.jsonl"
    } >"$work/input.jsonl"
    set +e
    publish "$work/input.jsonl" >"$work/out" 2>"$work/err"
    rc=$?
    set -e
    [ "$rc" -ne 0 ] || fail "exit 0 although a line was rejected"
    [ "$rc" -eq 1 ] || fail "exit $rc, expected 1"
    [ "$(wc -l <"$work/out")" -eq 4 ] || fail "not 4 results: $(cat "$work/out")"
    [ "$(count "$work/out" '.line == 3 and .status == "REJECTED" and .reason == "INVALID_PHONE"
        and (.detail | contains("victim.phone"))')" -eq 1 ] || fail "line 3: $(cat "$work/out")"
    [ "$(count "$work/out" '.status == "ACCEPTED"')" -eq 3 ] || fail "others not accepted"
    ! grep -q "503-555-0199" "$work/out" "$work/err" || fail "phone number echoed"
    [ "$(stored_events)" -eq 3 ] || fail "stored $(stored_events), expected 3"
    ;;

json_errors)
    start_responder
    cat >"$work/input.jsonl" <<'EOF'
{"type": "CUSTODY_EVENT", "event": {"event_id": "jms-ok-1", "type": "BOOKED", "offender_id": "B-1", "facility_id": "f-1"}}
{"type": "INTAKE_CONTACT", "event": {"event_id": "hl-typo", "channel": "HOTLINE", "victim": {"phonee": "+15035550177"}}}
{"type": "INTAKE_CONTACT", "event": {"event_id": "hl-enum", "channel": "HOTLNE"}}
{"type": "INTAKE_CONTACT", "event": {"event_id": "hl-broken", "victim": {"phone": +15035550178}}}
{"type": "CUSTODY_EVENT", "evnt": {"event_id": "jms-top"}}

{"type": "PARKING_TICKET", "event": {"event_id": "x-1"}}
{"type": "CUSTODY_EVENT", "event": {"event_id": "jms-ok-2", "type": "RELEASED", "offender_id": "B-1", "facility_id": "f-1", "occurred_at_ms": "1767229200000"}}
EOF
    set +e
    publish "$work/input.jsonl" >"$work/out" 2>"$work/err"
    rc=$?
    set -e
    [ "$rc" -eq 1 ] || fail "exit $rc, expected 1"
    [ "$(wc -l <"$work/out")" -eq 7 ] || fail "expected 7 results (blank line skipped): $(cat "$work/out")"
    expect() { # LINE STATUS REASON DETAIL
        [ "$(count "$work/out" ".line == $1 and .status == \"$2\" and .reason == \"$3\"
            and (.detail | contains(\"$4\"))")" -eq 1 ] ||
            fail "line $1: want $2 $3 '$4'; got $(jq -c "select(.line == $1)" "$work/out")"
    }
    expect 1 ACCEPTED NONE ""
    expect 2 REJECTED UNKNOWN_FIELD "event.victim.phonee: unknown field"
    expect 3 REJECTED INVALID_ENUM "event.channel: unknown value \\\"HOTLNE\\\" for enum vigil.v1.Channel"
    expect 4 REJECTED MALFORMED "not valid JSON at column"
    expect 5 REJECTED UNKNOWN_FIELD "evnt: unknown field"
    expect 7 REJECTED UNKNOWN_TYPE "type: not an event type"
    expect 8 ACCEPTED NONE ""
    [ "$(count "$work/out" '.line == 2 and .event_id == "hl-typo"')" -eq 1 ] ||
        fail "line 2 lost its event id"
    # Invalid lines were never sent: only the two good events were stored.
    [ "$(stored_events)" -eq 2 ] || fail "stored $(stored_events) events, expected 2"
    ! grep -q -e "1503555017" "$work/out" "$work/err" || fail "phone number echoed"
    ;;

unanswered)
    # Nobody listening: pick a free port by letting the responder bind one, then stop it.
    start_responder
    kill_responder
    set +e
    publish --timeout 1.5 --resend-ms 200 "$EXAMPLES/custody.jsonl" >"$work/out" 2>"$work/err"
    rc=$?
    set -e
    [ "$rc" -eq 1 ] || fail "exit $rc, expected 1"
    [ "$(count "$work/out" '.status == "UNANSWERED"')" -eq 5 ] || fail "$(cat "$work/out")"
    # A key intake does not admit: unanswered too, and stderr says why.
    start_responder
    set +e
    publish --cert "$work/keys/stranger.key_secret" --timeout 2 "$EXAMPLES/custody.jsonl" \
        >"$work/out2" 2>"$work/err2"
    rc=$?
    set -e
    [ "$rc" -eq 1 ] || fail "stranger: exit $rc, expected 1"
    [ "$(count "$work/out2" '.status == "UNANSWERED"')" -eq 5 ] || fail "$(cat "$work/out2")"
    grep -q "refused our CURVE key" "$work/err2" || fail "no allowlist hint: $(cat "$work/err2")"
    [ ! -s "$work/responder.log" ] || fail "the stranger's events were stored"
    # Missing key file: exit 78 naming the file.
    set +e
    publish --cert "$work/keys/nobody.key_secret" "$EXAMPLES/custody.jsonl" >/dev/null 2>"$work/err3"
    rc=$?
    set -e
    [ "$rc" -eq 78 ] || fail "missing key: exit $rc, expected 78"
    grep -q "nobody.key_secret" "$work/err3" || fail "missing key not named: $(cat "$work/err3")"
    ;;

kill_restart)
    n=3000
    for i in $(seq 1 $n); do
        printf '{"type":"CUSTODY_EVENT","event":{"event_id":"jms-kr-%05d","type":"BOOKED","offender_id":"B-%d","facility_id":"fac-1"}}\n' "$i" "$i"
    done >"$work/input.jsonl"
    start_responder
    first_port=$port
    publish --rate 1000 --window 128 --resend-ms 300 --reconnect-ms 1000 --timeout 60 \
        "$work/input.jsonl" >"$work/out" 2>"$work/err" &
    publish_pid=$!
    sleep 1
    stored_before=$(stored_events)
    kill_responder
    sleep 0.7
    start_responder "$first_port"
    set +e
    wait "$publish_pid"
    rc=$?
    set -e
    [ "$stored_before" -gt 0 ] && [ "$stored_before" -lt "$n" ] ||
        fail "the kill did not land mid-run ($stored_before stored before it)"
    [ "$rc" -eq 0 ] || fail "exit $rc: $(tail -3 "$work/err")"
    [ "$(wc -l <"$work/out")" -eq "$n" ] || fail "$(wc -l <"$work/out") results for $n events"
    [ "$(count "$work/out" '.status == "ACCEPTED" or .status == "DUPLICATE"')" -eq "$n" ] ||
        fail "not all answered: $(jq -c 'select(.status != "ACCEPTED")' "$work/out" | head -3)"
    [ "$(jq -r .line "$work/out" | sort -n | uniq | wc -l)" -eq "$n" ] || fail "a line twice"
    # Every event stored exactly once despite resends across the restart.
    [ "$(stored_events)" -eq "$n" ] || fail "stored $(stored_events) events, expected $n"
    [ "$(cut -f2 "$work/responder.log" | sort -u | wc -l)" -eq "$n" ] || fail "duplicates stored"
    grep -q "resends [1-9]" "$work/err" || fail "no resend recorded: $(tail -1 "$work/err")"
    ;;

insecure)
    # Only when asked for, and loudly: no CURVE on either side.
    start_responder any --insecure
    set +e
    publish --insecure "$EXAMPLES/custody.jsonl" >"$work/out" 2>"$work/err"
    rc=$?
    set -e
    [ "$rc" -eq 0 ] || fail "exit $rc: $(cat "$work/err")"
    [ "$(count "$work/out" '.status == "ACCEPTED"')" -eq 5 ] || fail "$(cat "$work/out")"
    grep -q "WARNING: --insecure" "$work/err" || fail "no warning on stderr"
    ;;

*)
    fail "unknown case"
    ;;
esac
echo "ok ($case_name)"
