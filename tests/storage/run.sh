#!/usr/bin/env bash
# CTest's study_storage test: tests/storage/storage_spec.lua, a study whose results directory
# (a small tmpfs mounted for the test) fills up or turns read-only mid-run. Mounting needs root;
# otherwise the test is skipped (exit 77, which CTest reports as skipped) with the reason printed.
# Whatever the spec leaves mounted (after a failure) is unmounted on the way out.
#   bash tests/storage/run.sh LUA BUSTED
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ]; then
  echo "study_storage skipped: filling a file system and making it read-only under a running"
  echo "study needs root (to mount a tmpfs); run ctest as root"
  exit 77
fi
# The sanitized build preloads the ASan runtime for busted only, not for the tools used here.
preload=${LD_PRELOAD:-}
unset LD_PRELOAD
base=$(mktemp -d /tmp/moonlab-storage.XXXXXX)
cleanup() {
  local m
  for m in $(findmnt -rn -o TARGET | grep "^$base/" | sort -r || true); do
    umount -l "$m" || true
  done
  rm -rf "$base"
}
trap cleanup EXIT
MOONLAB_STORAGE_DIR=$base MOONLAB_TEST_GATE=$base/gate LD_PRELOAD=$preload \
  "$1" "$2" --output=plainTerminal tests/storage/storage_spec.lua
