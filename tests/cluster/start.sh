#!/usr/bin/env bash
# Start a real single-node SLURM on this machine, bound to 127.0.0.1 only, for tests/cluster/test_slurm.py.
#
# Installs the packages first (install.sh), writes /etc/slurm/{slurm,gres,slurmdbd}.conf for this
# host (node line from `slurmd -C`, two fake GPUs so `--gpus` requests are really scheduled), then
# starts munged, mariadbd (socket only, no TCP), slurmdbd, slurmctld and slurmd by hand (no systemd
# needed) and waits until the node is idle. Each daemon writes a pidfile; stop.sh kills by those.
# Idempotent: exits 0 at once if the controller already answers. Must run as root.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PIDS=/run/icl_slurm            # pidfiles of everything this script started
LOGS=/var/log/icl_slurm
CONF=/etc/slurm

log() { echo "start.sh: $*"; }
die() { echo "start.sh: $*" >&2; exit 1; }
wait_for() {  # wait_for SECONDS WHAT COMMAND...: poll COMMAND until it succeeds
    local limit=$1 what=$2; shift 2
    for _ in $(seq $((limit * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    die "$what did not come up within ${limit}s (logs in $LOGS)"
}

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons)"
bash "$HERE/install.sh"
if scontrol ping 2>/dev/null | grep -q UP; then
    log "a controller is already running; nothing to do"
    exit 0
fi
mkdir -p "$PIDS" "$LOGS" /run/munge /run/mysqld /var/lib/slurm/slurmd /var/lib/slurm/slurmctld "$CONF"
chown munge: /run/munge; chown mysql: /run/mysqld
chown slurm:mysql "$PIDS"; chmod 775 "$PIDS"  # slurm and mysql daemons write their own pidfiles
chown slurm: /var/lib/slurm /var/lib/slurm/slurmctld "$LOGS"

# --- configuration ------------------------------------------------------------------------------
NODE="$(hostname -s)"
# `slurmd -C` prints this host's node line (CPUs, sockets, cores, RealMemory); keep 90% of memory.
HW="$(slurmd -C | head -1 | sed -E 's/^NodeName=[^ ]+ //; s/ UpTime=.*//')"
MEM="$(echo "$HW" | sed -E 's/.*RealMemory=([0-9]+).*/\1/')"
HW="$(echo "$HW" | sed -E "s/RealMemory=[0-9]+/RealMemory=$((MEM * 9 / 10))/")"
for i in 0 1; do  # fake GPU device files: clones of /dev/null, enough for slurmd to count them
    [ -e /dev/icl_fakegpu$i ] || mknod /dev/icl_fakegpu$i c 1 3
done
cat > "$CONF/slurm.conf" <<CONFEOF
# Written by tests/cluster/start.sh: a one-node test cluster on 127.0.0.1.
ClusterName=iclcluster
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
# Process tracking without cgroups works on any host (cgroup v1 or v2, no systemd); the cost is
# that memory limits are not enforced, which the tests do not need.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
MinJobAge=600
ReturnToService=2
SlurmctldPidFile=$PIDS/slurmctld.pid
SlurmdPidFile=$PIDS/slurmd.pid
SlurmdSpoolDir=/var/lib/slurm/slurmd
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 $HW Gres=gpu:2 State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONFEOF
echo "NodeName=$NODE Name=gpu File=/dev/icl_fakegpu[0-1]" > "$CONF/gres.conf"
DBPASS="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat > "$CONF/slurmdbd.conf" <<CONFEOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
PidFile=$PIDS/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=$DBPASS
CommunicationParameters=NoInAddrAny
CONFEOF
chown slurm: "$CONF/slurmdbd.conf"; chmod 600 "$CONF/slurmdbd.conf"

# --- daemons, in dependency order ---------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge: /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
# Each daemon is started only if it is not already answering (e.g. left over from a crashed run).
if ! sh -c 'munge -n | unmunge' >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    cp /run/munge/munged.pid "$PIDS/munged.pid"
    wait_for 10 munged sh -c 'munge -n | unmunge'
fi
log "munged up"

[ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >"$LOGS/mariadb-install.log" 2>&1
if ! mariadb-admin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1; then
    nohup mariadbd --user=mysql --skip-networking --socket=/run/mysqld/mysqld.sock \
        --pid-file="$PIDS/mariadbd.pid" >"$LOGS/mariadbd.log" 2>&1 &
    wait_for 30 mariadbd mariadb-admin --socket=/run/mysqld/mysqld.sock ping
fi
mariadb --socket=/run/mysqld/mysqld.sock -u root -e "
  CREATE USER IF NOT EXISTS 'slurm'@'localhost';
  ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
log "mariadbd up"

if ! sacctmgr -n -i list cluster >/dev/null 2>&1; then
    [ -s "$PIDS/slurmdbd.pid" ] && kill "$(cat "$PIDS/slurmdbd.pid")" 2>/dev/null && sleep 1  # stale, new password
    slurmdbd
    wait_for 30 slurmdbd sacctmgr -n -i list cluster
fi
slurmctld
wait_for 30 slurmctld sh -c 'scontrol ping | grep -q UP'
running() { [ -s "$PIDS/$1.pid" ] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }
running slurmd || slurmd
wait_for 30 slurmd sh -c "sinfo -h -n $NODE -o %t | grep -qv -e '^unk' -e '^$'"
state="$(sinfo -h -n "$NODE" -o %t)"
case "$state" in idle*|mix*|alloc*) ;; *) scontrol update nodename="$NODE" state=resume || true ;; esac
wait_for 20 "node $NODE (state $state)" sh -c "sinfo -h -n $NODE -o %t | grep -q -e idle -e mix"
log "cluster up: node $NODE idle with 2 fake GPUs (pidfiles in $PIDS)"
