#!/usr/bin/env bash
# CTest's slurm_array test: tests/slurm/slurm_spec.lua against a real one-node Slurm that
# tests/slurm/setup.sh installs and starts. That needs root; otherwise the test is skipped
# (exit 77, which CTest reports as skipped) with the reason printed, and left in
# $MOONLAB_SKIP_NOTES/slurm_array for ctest to print after its summary (CMakeLists.txt).
#   bash tests/slurm/run.sh LUA BUSTED
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ]; then
  reason="slurm_array skipped: running a study through a real Slurm needs root (to install
slurmctld, slurmd, slurm-client and munge and start their daemons); run ctest as root"
  echo "$reason"
  if [ -n "${MOONLAB_SKIP_NOTES:-}" ]; then
    { mkdir -p "$MOONLAB_SKIP_NOTES" && echo "$reason" >"$MOONLAB_SKIP_NOTES/slurm_array"; } || true
  fi
  exit 77
fi
exec "$1" "$2" --output=plainTerminal tests/slurm/slurm_spec.lua
