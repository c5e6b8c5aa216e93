#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine, for the tests and the examples.
#
# Installs slurm-wlm and munge from Debian when they are missing (needs root), writes a
# slurm.conf for this host into the state folder, starts munged (unless one already answers),
# slurmctld and slurmd directly (no systemd needed), and waits until `sinfo` shows the node idle.
# Running it again while the cluster is up changes nothing. stop-cluster.sh ends only the
# daemons this script started, using the pid files in the state folder.
#
# Environment:
#   ENTROPIC_SLURM_DIR   the state folder (default /var/tmp/entropic-slurm)
#   ENTROPIC_SLURM_WAIT  seconds to wait for the node to become idle (default 120)
set -euo pipefail
# The daemons and runuser live in the sbin folders, which a plain user's PATH may leave out.
export PATH="$PATH:/usr/sbin:/sbin"

STATE="${ENTROPIC_SLURM_DIR:-/var/tmp/entropic-slurm}"
WAIT="${ENTROPIC_SLURM_WAIT:-120}"
CONF="$STATE/slurm.conf"
SYSTEM_CONF=/etc/slurm/slurm.conf

say() { echo "start-cluster: $*"; }
die() { echo "start-cluster: $*" >&2; exit 1; }

alive() {  # alive PIDFILE: the process named in PIDFILE is running
    [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

[[ $(id -u) -eq 0 ]] || die "run me as root (the daemons and the test jobs run as root)"

# ---------------------------------------------------------------- packages
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends slurm-wlm munge
fi

mkdir -p "$STATE"/{state,spool,log,run}
chmod 755 "$STATE"

# ---------------------------------------------------------------- slurm.conf
host=$(hostname -s)
cpus=$(nproc)
mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
# Leave a margin (a tenth, at least 512 MB) so slurmd never finds less memory than configured.
mem_mb=$((mem_kb / 1024))
margin=$((mem_mb / 10 > 512 ? mem_mb / 10 : 512))
real_mb=$((mem_mb - margin > 256 ? mem_mb - margin : 256))

cat >"$CONF.new" <<CONF
# Written by entropic's tests-integration/slurm/start-cluster.sh: one node, this machine.
ClusterName=entropic-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No cgroups, no systemd: track job processes through /proc, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Walltime is enforced by the controller about every half minute; SIGTERM, then SIGKILL after
# KillWait seconds.
KillWait=30
OverTimeLimit=0
MinJobAge=300
SlurmctldTimeout=60
SlurmdTimeout=60
InactiveLimit=0
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mb State=UNKNOWN
# Up to four jobs share a core, so a handful of small test jobs run side by side on a laptop.
PartitionName=debug Nodes=$host Default=YES MaxTime=1-00:00:00 DefaultTime=01:00:00 OverSubscribe=FORCE:4 State=UP
CONF

if [[ -f "$CONF" ]] && cmp -s "$CONF" "$CONF.new"; then
    rm -f "$CONF.new"
    changed=no
else
    mv "$CONF.new" "$CONF"
    changed=yes
fi

# The slurm commands read /etc/slurm/slurm.conf; point it at ours unless someone else's is there.
mkdir -p /etc/slurm
if [[ -L "$SYSTEM_CONF" || ! -e "$SYSTEM_CONF" ]]; then
    ln -sfn "$CONF" "$SYSTEM_CONF"
elif ! cmp -s "$SYSTEM_CONF" "$CONF"; then
    die "$SYSTEM_CONF exists and is not ours; refusing to overwrite it"
fi

# ---------------------------------------------------------------- munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    if [[ ! -s /etc/munge/munge.key ]]; then
        say "creating a munge key"
        mkdir -p /etc/munge
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key --force
        else
            dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
        fi
    fi
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
    chmod 700 /etc/munge /var/lib/munge /var/log/munge
    chmod 755 /run/munge
    chmod 600 /etc/munge/munge.key
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged
    wait_for 30 munged sh -c 'munge -n | unmunge' || die "munged does not answer"
    cp /run/munge/munged.pid "$STATE/run/munged.pid"  # so stop-cluster.sh knows it is ours
fi

# ---------------------------------------------------------------- slurmctld and slurmd
if [[ $changed == yes ]] && alive "$STATE/run/slurmctld.pid"; then
    say "slurm.conf changed: reconfiguring"
    scontrol reconfigure || true
fi
if ! alive "$STATE/run/slurmctld.pid"; then
    say "starting slurmctld"
    slurmctld -f "$CONF"
    wait_for 60 slurmctld scontrol ping || die "slurmctld did not come up; see $STATE/log/slurmctld.log"
fi
if ! alive "$STATE/run/slurmd.pid"; then
    say "starting slurmd"
    slurmd -f "$CONF"
fi

# ---------------------------------------------------------------- wait for the node
node_idle() {
    local state
    state=$(sinfo -h -N -n "$host" -o %T 2>/dev/null) || return 1
    [[ $state == idle || $state == mixed || $state == allocated ]]
}
if ! wait_for "$WAIT" "node $host" node_idle; then
    sinfo -N -l >&2 || true
    tail -n 20 "$STATE/log/slurmd.log" >&2 || true
    die "node $host did not become idle within ${WAIT}s"
fi
# A node that was down (an earlier unclean stop) is brought back.
say "cluster up: $(sinfo -h -N -o '%N %T %c CPUs %m MB')"
