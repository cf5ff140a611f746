#!/usr/bin/env bash
# keys.sh: creates the keys a vigil mesh needs, where they are missing.
#
# For every service (intake, triage, notification, reporting) a CURVE keypair
# in zcert format (`vigilctl keygen`): KEYS/<name>.key (public) and
# KEYS/<name>.key_secret. For every client named with --client (default:
# dev-publisher, the development upstream that vigil-publish uses) a keypair
# the same way. The allowlists, one directory per server with copies of the
# public certs of the clients it admits:
#
#     allow/intake/        the upstream clients (--client names)
#     allow/triage/        intake
#     allow/notification/  intake, triage
#     allow/reporting/     intake, triage, notification
#
# a vault key file for each service that holds personal data
# (KEYS/intake.vault, KEYS/notification.vault; mode 0600; format in
# services/common/include/vigil/vault.h), and the case-key secret (64 hex
# digits, mode 0600) from which intake and triage derive the keyed case
# hashes reporting sees and intake its PIN hashes. Both services must load
# the same secret, so it is written once and copied under each service's
# default file name: KEYS/case_key.secret (triage.case_key_file) and
# KEYS/intake.hashkey (intake.hash_key_file).
#
# With --secrets-dir DIR, KEYS_DIR gets only what may be shared (public
# certs and allowlists) and every secret goes to the folder of the one
# party that needs it, so that each can be mounted into that service alone:
#
#     DIR/intake/        intake.key_secret, intake.vault, intake.hashkey
#     DIR/triage/        triage.key_secret, case_key.secret
#     DIR/notification/  notification.key_secret, notification.vault
#     DIR/reporting/     reporting.key_secret
#     DIR/clients/       <client>.key_secret for every --client
#
# (compose/ does this: no container can read another service's secrets,
# and triage's container never holds the vault key to personal data.)
#
# It never overwrites or rotates an existing key: running it twice changes
# nothing. It never prints a secret. Used by scripts/run.sh (KEYS =
# state/keys) and by the `keys` one-shot service in compose/.
#
# Usage: scripts/keys.sh [--vigilctl PATH] [--client NAME]... [--secrets-dir DIR] KEYS_DIR
set -euo pipefail

services=(intake triage notification reporting)
vault_services=(intake notification)
# Which server admits which internal clients (upstream clients go to intake).
declare -A admits=(
    [intake]=""
    [triage]="intake"
    [notification]="intake triage"
    [reporting]="intake triage notification"
)
vault_key_bytes=32
case_key_bytes=32
# Where each service looks for the shared case-key secret by default, and
# whose secret that file is.
case_key_files=(case_key.secret intake.hashkey)
declare -A case_key_owner=([case_key.secret]=triage [intake.hashkey]=intake)

vigilctl=""
clients=()
keys_dir=""
secrets_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
    --vigilctl)
        vigilctl=$2
        shift 2
        ;;
    --client)
        clients+=("$2")
        shift 2
        ;;
    --secrets-dir)
        secrets_dir=$2
        shift 2
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "keys.sh: unknown option '$1'" >&2
        exit 64
        ;;
    *)
        keys_dir=$1
        shift
        ;;
    esac
done
if [ -z "$keys_dir" ]; then
    echo "usage: keys.sh [--vigilctl PATH] [--client NAME]... [--secrets-dir DIR] KEYS_DIR" >&2
    exit 64
fi
[ ${#clients[@]} -gt 0 ] || clients=(dev-publisher)
if [ -z "$vigilctl" ]; then
    vigilctl=$(command -v vigilctl || true)
fi
if [ -z "$vigilctl" ] || [ ! -x "$vigilctl" ]; then
    echo "keys.sh: vigilctl not found (build it first, or pass --vigilctl PATH)" >&2
    exit 1
fi

umask 077
mkdir -p "$keys_dir"
chmod 0700 "$keys_dir"
created=0

# secret_dir OWNER: the folder OWNER's secrets go to (made if missing).
secret_dir() {
    local dir=$keys_dir
    [ -z "$secrets_dir" ] || dir="$secrets_dir/$1"
    mkdir -p "$dir"
    chmod 0700 "$dir"
    printf '%s' "$dir"
}

# keypair NAME OWNER: writes KEYS/NAME.key and, in OWNER's secret folder,
# NAME.key_secret, if absent.
keypair() {
    local name=$1 path="$keys_dir/$1.key" secret dir
    dir=$(secret_dir "$2")
    secret="$dir/$name.key_secret"
    if [ -e "$path" ] && [ -e "$secret" ]; then
        return 0
    fi
    if [ -e "$path" ] || [ -e "$secret" ]; then
        echo "keys.sh: only one half of the keypair $name exists ($path, $secret); move it away and run again" >&2
        exit 1
    fi
    "$vigilctl" keygen "$dir/$name.key" --name "$name" >/dev/null
    chmod 0600 "$secret"
    chmod 0644 "$dir/$name.key"
    [ "$dir" = "$keys_dir" ] || mv "$dir/$name.key" "$path"
    echo "keys.sh: created keypair $path ($secret)"
    created=$((created + 1))
}

# admit SERVER CLIENT: copies CLIENT's public cert into SERVER's allowlist.
admit() {
    local server=$1 client=$2 dir="$keys_dir/allow/$1"
    mkdir -p "$dir"
    if ! cmp -s "$keys_dir/$client.key" "$dir/$client.key"; then
        cp "$keys_dir/$client.key" "$dir/$client.key"
        chmod 0644 "$dir/$client.key"
        echo "keys.sh: $server admits $client"
        created=$((created + 1))
    fi
}

# vault_file NAME: writes KEYS/NAME.vault with one current key if absent.
vault_file() {
    local path key
    path="$(secret_dir "$1")/$1.vault"
    [ -e "$path" ] && return 0
    key=$(od -An -vtx1 -N"$vault_key_bytes" /dev/urandom | tr -d ' \n')
    {
        echo "# vigil vault key file for $1 (see vault.h): <id> <64 hex digits> [current]"
        echo "# Keep it secret and back it up apart from the database: without it the"
        echo "# personal data in $1's store cannot be read."
        echo "1 $key current"
    } >"$path.tmp"
    chmod 0600 "$path.tmp"
    mv "$path.tmp" "$path"
    echo "keys.sh: created vault key file $path"
    created=$((created + 1))
}

# case_keys: writes the shared case-key secret under every default name,
# reusing one that already exists so that the copies always agree.
case_keys() {
    local name existing="" secret
    declare -A at
    for name in "${case_key_files[@]}"; do
        at[$name]="$(secret_dir "${case_key_owner[$name]}")/$name"
    done
    for name in "${case_key_files[@]}"; do
        if [ -e "${at[$name]}" ]; then
            existing="${at[$name]}"
            break
        fi
    done
    if [ -n "$existing" ]; then
        secret=$(head -n 1 "$existing")
    else
        secret=$(od -An -vtx1 -N"$case_key_bytes" /dev/urandom | tr -d ' \n')
    fi
    for name in "${case_key_files[@]}"; do
        [ -e "${at[$name]}" ] && continue
        printf '%s\n' "$secret" >"${at[$name]}.tmp"
        chmod 0600 "${at[$name]}.tmp"
        mv "${at[$name]}.tmp" "${at[$name]}"
        echo "keys.sh: created case-key secret ${at[$name]}"
        created=$((created + 1))
    done
    for name in "${case_key_files[@]}"; do
        if [ "$(head -n 1 "${at[$name]}")" != "$secret" ]; then
            echo "keys.sh: ${at[$name]} differs from $existing; intake and triage must share one case-key secret" >&2
            exit 1
        fi
    done
}

for name in "${services[@]}"; do
    keypair "$name" "$name"
done
for name in "${clients[@]}"; do
    keypair "$name" clients
done
for client in "${clients[@]}"; do
    admit intake "$client"
done
for server in "${services[@]}"; do
    for client in ${admits[$server]}; do
        admit "$server" "$client"
    done
done
for name in "${vault_services[@]}"; do
    vault_file "$name"
done
case_keys
[ "$created" -gt 0 ] || echo "keys.sh: all keys in $keys_dir already exist"
