#!/usr/bin/python3
"""config_docs_test.py: the config files and tables an operator reads are
what the services accept and print.

docs/operations.md says its service key tables *are* the output of
--check-config, shows a complete intake config for a real host, and points
at compose/config/ for complete examples. This test runs the real service
binaries with --check-config and checks that:
- compose/config/intake.conf and triage.conf load (exit 0);
- the "complete intake config on a real host" block in operations.md loads;
- every key a service prints has a row in operations.md's tables;
- each intake.* and triage.* row has the default and the meaning the
  service prints (backticks aside), so the tables cannot drift.

Usage: config_docs_test.py SOURCE_DIR VIGIL_INTAKE VIGIL_TRIAGE
"""
import os
import re
import subprocess
import sys
import tempfile

REAL_HOST_MARK = "# A complete intake config on a real host."
ROW = re.compile(r"^\| `([a-z_0-9.]+)` \| (.*?) \| (.*?) \|$", re.M)
failures = []


def fail(message):
    failures.append(message)
    print("FAIL " + message, file=sys.stderr)


def check_config(exe, config=None):
    """Runs EXE --check-config [--config CONFIG]; returns (exit code, output)."""
    args = [exe, "--check-config"]
    if config:
        args += ["--config", config]
    run = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return run.returncode, run.stdout + run.stderr


def printed_keys(output):
    """{key: (value, doc)} from --check-config's 'key = value  # doc' lines."""
    keys = {}
    for line in output.splitlines():
        if line.startswith("#") or " = " not in line:
            continue
        key, rest = line.split(" = ", 1)
        value, _, doc = rest.partition("  # ")
        keys[key] = (value, doc)
    return keys


def plain(text):
    return text.replace("`", "").strip()


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    source, intake, triage = sys.argv[1:]
    docs = open(os.path.join(source, "docs", "operations.md"), encoding="utf-8").read()
    rows = {m.group(1): (m.group(2), m.group(3)) for m in ROW.finditer(docs)}

    for exe, name in ((intake, "intake"), (triage, "triage")):
        path = os.path.join(source, "compose", "config", name + ".conf")
        code, out = check_config(exe, path)
        if code != 0:
            fail("%s --check-config on %s exited %d:\n%s" % (name, path, code, out))

    start = docs.find(REAL_HOST_MARK)
    if start < 0:
        fail("operations.md has no block starting %r" % REAL_HOST_MARK)
    else:
        block = docs[start:docs.index("```", start)]
        with tempfile.TemporaryDirectory(prefix="vigil-config-docs-") as folder:
            path = os.path.join(folder, "intake.conf")
            with open(path, "w", encoding="utf-8") as out_file:
                out_file.write(block)
            code, out = check_config(intake, path)
            if code != 0:
                fail("operations.md's real-host intake config exited %d:\n%s" % (code, out))

    checked = 0
    for exe, name in ((intake, "intake"), (triage, "triage")):
        code, out = check_config(exe)
        if code != 0:
            fail("%s --check-config on its embedded defaults exited %d" % (name, code))
            continue
        for key, (value, doc) in printed_keys(out).items():
            checked += 1
            if key not in rows:
                fail("%s prints %s, which operations.md's tables lack" % (name, key))
                continue
            if not key.startswith(name + "."):
                continue
            default, meaning = rows[key]
            if key != name + ".regions" and key != name + ".sources" and plain(default) != value:
                fail("%s: operations.md says default %s, the service prints %s"
                     % (key, default, value))
            if plain(meaning) != plain(doc):
                fail("%s: operations.md says\n    %s\n  the service prints\n    %s"
                     % (key, plain(meaning), doc))

    if failures:
        print("%d problem(s)" % len(failures), file=sys.stderr)
        return 1
    print("config docs match: the example configs load, and the %d keys intake and triage "
          "print are in operations.md's tables" % checked)
    return 0


if __name__ == "__main__":
    sys.exit(main())
