#!/usr/bin/env bash
# clang-tidy over every C file of engine/ with the checks in the top-level .clang-tidy (which
# says what is kept and why the rest is off); warnings are errors, any finding fails.
# Run by CTest as static_clang_tidy; by hand: bash tests/static/clang-tidy.sh build
set -euo pipefail
build=${1:?usage: clang-tidy.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v clang-tidy >/dev/null || { echo "clang-tidy not found: apt-get install clang-tidy" >&2; exit 1; }
cd "$root"
mapfile -t files < <(find engine -name '*.c' | sort)
status=0
for f in "${files[@]}"; do
  if ! out=$(clang-tidy -p "$build" --quiet "$f" 2>/dev/null); then
    status=1
  fi
  if grep -qE '(warning|error):' <<<"$out"; then
    echo "$out"
    status=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "clang-tidy: findings in engine/ (see above)"
  exit 1
fi
echo "clang-tidy: 0 findings in ${#files[@]} files of engine/"
