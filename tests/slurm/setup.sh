#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the tests: bash tests/slurm/setup.sh DIR
# installs Debian's slurmctld, slurmd, slurm-client and munge if missing, writes DIR/slurm.conf
# (the node is this host, `hostname -s`, with 2 CPUs), starts munged, slurmctld and slurmd by
# hand (no systemd; the packages' scripts start nothing) with every file of theirs under DIR,
# and waits until this slurmd has registered and the node is idle. Commands then need
# SLURM_CONF=DIR/slurm.conf (DIR/env sets it). bash tests/slurm/teardown.sh DIR stops them.
#
# Root only. munged gets its own socket under DIR and slurmctld/slurmd free ports, so this
# neither needs nor disturbs a Slurm or munge the machine may already run.
set -euo pipefail

dir=${1:?usage: setup.sh DIR}
[ "$(id -u)" -eq 0 ] || { echo "tests/slurm/setup.sh: needs root" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

pkgs=(slurmctld slurmd slurm-client munge)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "slurm setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node=$(hostname -s) # slurmd refuses to start unless its NodeName is this host's short name

# Two free TCP ports for slurmctld and slurmd.
used=$(ss -Hltn 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
ctld_port=
for p in $(seq 16817 2 16999); do
  if ! grep -qx "$p" <<<"$used" && ! grep -qx "$((p + 1))" <<<"$used"; then
    ctld_port=$p
    break
  fi
done
[ -n "$ctld_port" ] || { echo "slurm setup: no free port pair in 16817-17000" >&2; exit 1; }
slurmd_port=$((ctld_port + 1))

# munged: run as the munge user (it refuses root), with its socket, pid, seed and log in a
# directory of its own. /run/munge is created too, for a munged started the usual way.
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 "$dir/munge"
chmod 0755 "$dir"
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=128 status=none
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
socket=$dir/munge/munge.socket
runuser -u munge -- /usr/sbin/munged --socket="$socket" --pid-file="$dir/munge/munged.pid" \
  --seed-file="$dir/munge/munged.seed" --log-file="$dir/munge/munged.log" --force

mkdir -p "$dir/state" "$dir/spool"
cat >"$dir/slurm.conf" <<EOF
# One-node test cluster written by tests/slurm/setup.sh
ClusterName=moonlabtest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
# pgid: a job's processes share its process group and die with it (linuxproc leaks them here)
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# the default scheduler waits ~3 s between waves of jobs; this brings it to ~1 s
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
ReturnToService=2
SlurmdTimeout=30
KillWait=5
MinJobAge=5
NodeName=$node NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
echo "export SLURM_CONF=$dir/slurm.conf" >"$dir/env"
export SLURM_CONF=$dir/slurm.conf

/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF"

# Ready means: this slurmd registered (scontrol shows its start time; sinfo alone can show
# "idle" from saved state) and the node is idle.
for _ in $(seq 1 300); do
  info=$(scontrol -o show node "$node" 2>/dev/null || true)
  if [[ $info == *" State=IDLE "* && $info != *"SlurmdStartTime=None"* ]]; then
    exit 0
  fi
  sleep 0.1
done
echo "slurm setup: node $node did not register within 30 s" >&2
echo "$info" >&2
tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
exit 1
