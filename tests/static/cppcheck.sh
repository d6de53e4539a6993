#!/usr/bin/env bash
# cppcheck over engine/ (C engine, kernels, bindings, host) with the checks we keep; any finding
# fails. Run by CTest as static_cppcheck; by hand: bash tests/static/cppcheck.sh build
#   kept: warning, style, performance, portability (plus cppcheck's default error checks)
#   suppressed: only inline, with a comment saying why (`// cppcheck-suppress <id>`)
set -euo pipefail
build=${1:?usage: cppcheck.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v cppcheck >/dev/null || { echo "cppcheck not found: apt-get install cppcheck" >&2; exit 1; }
build=$(realpath "$build")
cd "$root"
# Findings are reported for engine/ only; system headers are not ours to fix. cppcheck exits 0
# whatever it finds, so any other status is the tool failing (a crash, a bad option, an
# unreadable project): that fails the test too, with what cppcheck printed.
status=0
raw=$(cppcheck --project="$build/compile_commands.json" --file-filter="$root/engine/*" \
  --suppress='*:/usr/include/*' \
  --enable=warning,style,performance,portability --inline-suppr --quiet \
  --template='{file}:{line}: {severity} [{id}] {message}' 2>&1) || status=$?
if [ "$status" -ne 0 ]; then
  printf '%s\n' "$raw"
  echo "cppcheck: the tool failed (exit status $status); engine/ was not checked"
  exit 1
fi
out=$(printf '%s\n' "$raw" | grep -v '^/usr/' || true)
if [ -n "$out" ]; then
  echo "$out"
  echo "cppcheck: findings in engine/ (see above)"
  exit 1
fi
echo "cppcheck: 0 findings in engine/"
