#!/usr/bin/env bash
# A throw-away single-node SLURM (Debian's slurmctld, slurmd, munge; no accounting database,
# no systemd) for the SLURM tests, then `pytest -m slurm` against it, then every daemon
# stopped by its PID. Usage (from the repository root, after the venv exists):
#
#   bash .ci/slurm_cluster.sh            # bring the cluster up, run the SLURM tests, tear down
#   bash .ci/slurm_cluster.sh --shell    # bring it up and open a shell in it (exit tears down)
#   bash .ci/slurm_cluster.sh -- CMD...  # bring it up, run CMD in it, tear down
#
# Needs root (it installs the packages with apt-get when they are missing and starts the
# daemons as root). Where SLURM cannot be installed or started, it prints why and exits 0:
# the SLURM tests are then skipped, with that reason, not failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

skip() {
    echo "SLURM tests skipped: $*" >&2
    exit 0
}

if [[ $(id -u) -ne 0 ]]; then
    skip "they need root to install and start slurmctld, slurmd and munge"
fi
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        skip "slurmctld/slurmd/munge are not installed and there is no apt-get to install them"
    fi
    # `apt-get update` can fail on one repository and still leave usable lists: try the install anyway
    apt-get update -qq >/dev/null 2>&1 || echo "warning: apt-get update failed; installing from the lists there are" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null \
        || skip "apt-get could not install slurmctld slurmd slurm-client munge"
fi

work=$(mktemp -d /tmp/pgx-slurm.XXXXXX)
chmod 755 "$work"
pids=()
stop() {
    # Stop every daemon this script started, by PID (never by name), and wait for each.
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    [[ -n ${own_conf:-} ]] && rm -f "$own_conf"
    rm -rf "$work"
}
trap stop EXIT

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
mkdir -p "$work"/{state,spool,log,run,munge}
chown slurm:slurm "$work"/{state,log} 2>/dev/null || true

# munge: a key of our own in our own folder, the daemon started directly
munge_key="$work/munge/munge.key"
dd if=/dev/urandom of="$munge_key" bs=1024 count=1 status=none
chmod 700 "$work/munge" && chmod 400 "$munge_key"
munge_socket="$work/munge/munge.socket"
# as root, like the SLURM daemons below (--force: munged otherwise refuses root and this key's owner)
munged --key-file="$munge_key" --socket="$munge_socket" \
    --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed" \
    --force 2>"$work/log/munged.err" || skip "munged did not start: $(cat "$work/log/munged.err")"
for _ in $(seq 50); do [[ -s $work/munge/munged.pid ]] && break; sleep 0.1; done
pids+=("$(cat "$work/munge/munged.pid")")

# SLURM's default config path: the job steps Snakemake starts inside a job (srun) drop every
# SLURM_* variable, SLURM_CONF included, so the config must be where SLURM looks by default.
# A config already there belongs to a real cluster: never replace it.
conf=/etc/slurm/slurm.conf
if [[ -e $conf ]]; then
    skip "$conf exists (a real SLURM here?); this script only makes a throw-away cluster where there is none"
fi
mkdir -p /etc/slurm
cat >"$conf" <<EOF
ClusterName=pgxci
SlurmctldHost=$host
AuthType=auth/munge
CryptoType=crypto/munge
AuthInfo=socket=$munge_socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=300
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=pgx Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
own_conf=$conf
export SLURM_CONF=$conf

slurmctld -f "$SLURM_CONF" 2>>"$work/log/slurmctld.err" || skip "slurmctld did not start: $(tail -3 "$work/log/slurmctld.log" "$work/log/slurmctld.err" 2>/dev/null)"
for _ in $(seq 50); do [[ -s $work/run/slurmctld.pid ]] && break; sleep 0.1; done
pids+=("$(cat "$work/run/slurmctld.pid")")
slurmd -f "$SLURM_CONF" 2>>"$work/log/slurmd.err" || skip "slurmd did not start: $(tail -3 "$work/log/slurmd.log" "$work/log/slurmd.err" 2>/dev/null)"
for _ in $(seq 50); do [[ -s $work/run/slurmd.pid ]] && break; sleep 0.1; done
pids+=("$(cat "$work/run/slurmd.pid")")

ready=""
for _ in $(seq 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then ready=1; break; fi
    sleep 0.5
done
if [[ -z $ready ]]; then
    echo "--- slurmctld log" >&2; tail -20 "$work/log/slurmctld.log" >&2
    echo "--- slurmd log" >&2; tail -20 "$work/log/slurmd.log" >&2
    skip "the SLURM node did not become ready within 30 s"
fi
echo "single-node SLURM up: $host, $cpus CPUs, $mem_mb MB (SLURM_CONF=$SLURM_CONF; daemons ${pids[*]})"

export PGX_SLURM_CLUSTER=1
if [[ ${1:-} == --shell ]]; then
    bash -i
    exit $?
elif [[ ${1:-} == -- ]]; then
    shift
    "$@"
    exit $?
fi
# the SLURM tests only; the rest of the suite ran before without this cluster
"$repo/.venv/bin/pytest" -m slurm -p no:cacheprovider tests/test_slurm.py
