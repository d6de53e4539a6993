#!/usr/bin/env bash
# Stop what tests/slurm/setup.sh DIR started: cancel the jobs left in its queue, then stop
# slurmd, slurmctld and munged by the pids in their pid files (nothing else), wait for them to
# exit, and remove DIR.
set -uo pipefail

dir=${1:?usage: teardown.sh DIR}
[ -d "$dir" ] || exit 0

# The pid in PIDFILE if that process is still the daemon NAME (a pid file can outlive its
# process, and the pid be reused by another).
daemon_pid() { # daemon_pid PIDFILE NAME
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
  echo "$pid"
}

# TERM each daemon named (PIDFILE NAME pairs) at once, then wait for all of them (slurmd and
# slurmctld each take about 2 s to shut down); KILL what is left after 10 s.
stop() {
  local pids=() pid
  while (($#)); do
    pid=$(daemon_pid "$1" "$2") && kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    shift 2
  done
  for _ in $(seq 1 200); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.05
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
}

# Cancel what is left in this cluster's queue first, so that no job's processes outlive slurmd.
if [ -f "$dir/slurm.conf" ] && daemon_pid "$dir/slurmctld.pid" slurmctld >/dev/null; then
  export SLURM_CONF=$dir/slurm.conf
  scancel --user="$(id -un)" 2>/dev/null
  for _ in $(seq 1 100); do
    [ -z "$(squeue --noheader 2>/dev/null)" ] && break
    sleep 0.1
  done
fi

stop "$dir/slurmd.pid" slurmd "$dir/slurmctld.pid" slurmctld
stop "$dir/munge/munged.pid" munged
rm -rf "$dir"
