#!/usr/bin/env bash
# keys_test.sh: scripts/keys.sh makes every key a mesh needs, and with
# --secrets-dir gives each secret to the one party that needs it.
#
# Checked, on real files:
# - the shared folder holds public certs and allowlists only: no
#   *.key_secret, no *.vault, no case-key secret;
# - each secret is in its owner's folder and nowhere else (intake's vault
#   key never in triage's folder), mode 0600 in folders of mode 0700;
# - intake and triage get the same case-key secret;
# - a second run changes nothing; half a keypair is refused by name;
# - without --secrets-dir everything is in one folder, as scripts/run.sh
#   uses it.
#
# Usage: keys_test.sh KEYS_SH VIGILCTL
set -euo pipefail

keys_sh=$1
vigilctl=$2
work=$(mktemp -d /tmp/vigil-keys-test-XXXXXX)
trap 'rm -rf "$work"' EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

bash "$keys_sh" --vigilctl "$vigilctl" --secrets-dir "$work/secrets" "$work/keys" >"$work/out"

shared_secrets=$(find "$work/keys" -type f \( -name '*_secret' -o -name '*.vault' -o -name '*.hashkey' -o -name '*.secret' \))
[ -z "$shared_secrets" ] || fail "secrets in the shared folder: $shared_secrets"

expect_only() { # FILE OWNER: FILE exists in OWNER's folder and in no other
    local file=$1 owner=$2 found
    found=$(cd "$work/secrets" && find . -type f -name "$file" | sort)
    [ "$found" = "./$owner/$file" ] || fail "$file found at '${found//$'\n'/ }', expected only ./$owner/$file"
    [ "$(stat -c %a "$work/secrets/$owner/$file")" = 600 ] || fail "$owner/$file is not mode 0600"
}
expect_only intake.key_secret intake
expect_only intake.vault intake
expect_only intake.hashkey intake
expect_only triage.key_secret triage
expect_only case_key.secret triage
expect_only notification.key_secret notification
expect_only notification.vault notification
expect_only reporting.key_secret reporting
expect_only dev-publisher.key_secret clients
for dir in intake triage notification reporting clients; do
    [ "$(stat -c %a "$work/secrets/$dir")" = 700 ] || fail "secrets/$dir is not mode 0700"
done
for name in intake triage notification reporting dev-publisher; do
    [ -f "$work/keys/$name.key" ] || fail "public cert $name.key missing"
done
[ -f "$work/keys/allow/triage/intake.key" ] || fail "triage does not admit intake"
[ -f "$work/keys/allow/intake/dev-publisher.key" ] || fail "intake does not admit dev-publisher"
cmp -s "$work/secrets/intake/intake.hashkey" "$work/secrets/triage/case_key.secret" ||
    fail "intake and triage got different case-key secrets"

# The cert in the shared folder is the public half of the owner's secret.
pub=$(sed -n 's/^ *public-key = "\(.*\)"/\1/p' "$work/keys/intake.key")
sec=$(sed -n 's/^ *public-key = "\(.*\)"/\1/p' "$work/secrets/intake/intake.key_secret")
[ -n "$pub" ] && [ "$pub" = "$sec" ] || fail "intake.key does not match intake's secret cert"

snapshot() { (cd "$work" && find keys secrets -exec stat -c "%n %a %s %Y" {} + &&
    find keys secrets -type f -exec sha256sum {} +) | sort; }
before=$(snapshot)
bash "$keys_sh" --vigilctl "$vigilctl" --secrets-dir "$work/secrets" "$work/keys" >"$work/out2"
after=$(snapshot)
[ "$before" = "$after" ] || fail "a second run changed files"
grep -q "already exist" "$work/out2" || fail "a second run did not say so: $(cat "$work/out2")"

rm "$work/secrets/triage/triage.key_secret"
if bash "$keys_sh" --vigilctl "$vigilctl" --secrets-dir "$work/secrets" "$work/keys" 2>"$work/err"; then
    fail "half a keypair was accepted"
fi
grep -q "only one half of the keypair triage" "$work/err" || fail "not named: $(cat "$work/err")"

bash "$keys_sh" --vigilctl "$vigilctl" "$work/one" >/dev/null
for file in intake.key_secret intake.vault intake.hashkey case_key.secret triage.key_secret \
    dev-publisher.key_secret; do
    [ -f "$work/one/$file" ] || fail "without --secrets-dir, $file is not in the one folder"
done
echo "PASS"
