#!/bin/sh
# plugin_expect_exit.sh CODE TEXT COMMAND...: runs COMMAND and passes only if
# it exits with CODE and its output (stdout and stderr) contains TEXT.
# Used to prove the policy tools fail when they should.
expected=$1
text=$2
shift 2
out=$("$@" 2>&1)
code=$?
printf '%s\n' "$out"
if [ "$code" -ne "$expected" ]; then
    echo "plugin_expect_exit: exit $code, expected $expected" >&2
    exit 1
fi
case "$out" in
*"$text"*) exit 0 ;;
esac
echo "plugin_expect_exit: output lacks \"$text\"" >&2
exit 1
