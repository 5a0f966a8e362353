#!/bin/sh
# Run the imapcidd end-to-end suite.  Exits non-zero on any failure.
# IMAPCID_BUILD selects the build directory (default: build), e.g.
#   IMAPCID_BUILD=build-asan tests/e2e/run.sh
# Extra arguments are passed to unittest (e.g. -k clientid, or a test name
# when combined with a module path instead of discovery).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
exec "$PY" -m unittest discover -s tests/e2e -v "$@"
