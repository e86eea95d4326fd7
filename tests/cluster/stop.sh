#!/usr/bin/env bash
# Stop the daemons that tests/cluster/start.sh started, each by the PID in its pidfile, in reverse
# start order, and wait until each has exited. Processes it did not start are never touched.
set -uo pipefail
PIDS=/run/icl_slurm
for name in slurmd slurmctld slurmdbd mariadbd munged; do
    file="$PIDS/$name.pid"
    [ -s "$file" ] || continue
    pid="$(cat "$file")"
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { echo "stop.sh: $name ($pid) ignored SIGTERM; killing"; kill -9 "$pid"; }
        echo "stop.sh: stopped $name ($pid)"
    fi
    rm -f "$file"
done
