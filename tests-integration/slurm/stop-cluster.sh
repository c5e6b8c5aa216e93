#!/usr/bin/env bash
# Stop the one-node SLURM cluster that start-cluster.sh started.
#
# Ends only the daemons named in the state folder's pid files (slurmd, slurmctld, and munged if
# start-cluster.sh started it), SIGTERM first and SIGKILL after a deadline. Jobs still queued or
# running are cancelled first. The state folder is kept; ENTROPIC_SLURM_DIR names it as for
# start-cluster.sh.
set -euo pipefail
# The daemons live in the sbin folders, which a plain user's PATH may leave out.
export PATH="$PATH:/usr/sbin:/sbin"

STATE="${ENTROPIC_SLURM_DIR:-/var/tmp/entropic-slurm}"
RUN="$STATE/run"

say() { echo "stop-cluster: $*"; }

[[ -d "$RUN" ]] || { say "nothing to stop ($RUN does not exist)"; exit 0; }

if [[ -s "$RUN/slurmctld.pid" ]] && kill -0 "$(cat "$RUN/slurmctld.pid")" 2>/dev/null; then
    scancel --full --quiet --user=root 2>/dev/null || true
fi

stop() {  # stop NAME: end the process in RUN/NAME.pid, if it is still the daemon we started
    local file="$RUN/$1.pid" pid deadline
    [[ -s "$file" ]] || return 0
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1"* ]]; then
        say "stopping $1 ($pid)"
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 30))
        while kill -0 "$pid" 2>/dev/null; do
            if ((SECONDS >= deadline)); then
                say "$1 ($pid) still running after 30s: SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.2
        done
    fi
    rm -f "$file"
}

stop slurmd
stop slurmctld
stop munged
say "stopped"
