#!/usr/bin/env bash
# A one-node Slurm cluster on localhost, built from Debian 12's packages, for tests/test_slurm.py:
#
#   local-slurm.sh start    install what is missing, configure, start; a second start changes nothing
#   local-slurm.sh stop     stop the daemons that `start` started, each by the PID in its pid file
#   local-slurm.sh status   which of those daemons run, and the partitions
#
# The node claims more than this machine has (16 CPUs, 64000 MB, two GPUs) so that the real requests
# of workflow/profiles/slurm can be scheduled here; slurmd takes the configured shape on trust and
# nothing enforces it. Accounting goes through slurmdbd and MariaDB, because the Snakemake plugin
# asks sacct for job states and the test reads each job's resources back from it.
# Partition and account names are the ones the profile reads: QACLIMS_SLURM_PARTITION (cpu),
# QACLIMS_SLURM_GPU_PARTITION (gpu), QACLIMS_SLURM_ACCOUNT (qaclims).
set -euo pipefail

CPU_PARTITION="${QACLIMS_SLURM_PARTITION:-cpu}"
GPU_PARTITION="${QACLIMS_SLURM_GPU_PARTITION:-gpu}"
ACCOUNT="${QACLIMS_SLURM_ACCOUNT:-qaclims}"
CLUSTER=qaclims
NODE="$(hostname -s)"
NODE_SHAPE="CPUs=16 Boards=1 SocketsPerBoard=1 CoresPerSocket=16 ThreadsPerCore=1 RealMemory=64000 Gres=gpu:2"
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)

CONFIG_DIR=/etc/slurm
RUN_DIR=/run/slurm
LOG_DIR=/var/log/slurm
# One empty file per daemon that this script started: `stop` leaves alone what it did not start.
STARTED_DIR=/run/qaclims-slurm
# The GPUs of gres.conf: character devices that are /dev/null under other names. Slurm 22.05 sets
# CUDA_VISIBLE_DEVICES in a GPU job only from device files; it rejects plain files, and with a bare
# Count= the node reports no GPUs and is drained.
FAKE_GPU_DIR=/run/qaclims-slurm-gpus
# The database listens on no port and only Slurm's user may use it, so this is no secret.
DB_PASSWORD=qaclims-slurm

say() { echo "local-slurm: $*" >&2; }

[ "$(id -u)" -eq 0 ] || { say "must run as root (it installs packages and starts system daemons)"; exit 1; }

pid_file_of() {
    case "$1" in
        munged) echo /run/munge/munged.pid ;;
        mariadbd) echo /run/mysqld/mysqld.pid ;;
        *) echo "$RUN_DIR/$1.pid" ;;
    esac
}

# The PID in the daemon's pid file, if that process is alive and is the daemon: a stale pid file
# may name a PID that the kernel has since given to another program.
running_pid() {
    local pid_file pid
    pid_file="$(pid_file_of "$1")"
    [ -s "$pid_file" ] || return 1
    pid="$(tr -d '[:space:]' < "$pid_file")"
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
    echo "$pid"
}

wait_until() {
    local seconds="$1" what="$2"; shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then say "gave up after ${seconds} s waiting for $what"; return 1; fi
        sleep 0.3
    done
}

stop_daemon() {
    local name="$1" pid
    [ -e "$STARTED_DIR/$name" ] || return 0
    if pid="$(running_pid "$name")"; then
        say "stopping $name (pid $pid)"
        kill -TERM "$pid"
        # Slurm's daemons save their state on SIGTERM, which can take a few seconds.
        if ! wait_until 30 "$name to exit" test ! -d "/proc/$pid"; then
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && kill -KILL "$pid"
        fi
    fi
    rm -f "$STARTED_DIR/$name"
}

install_packages() {
    local missing=() package
    for package in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Another apt (another test installing its packages) may hold the lock for a while.
    local apt_install=(apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600)
    # The package lists may be missing or name versions the mirror no longer has.
    "${apt_install[@]}" "${missing[@]}" > "$LOG_DIR/apt.log" 2>&1 \
        || { apt-get update -q >> "$LOG_DIR/apt.log" 2>&1 && "${apt_install[@]}" "${missing[@]}" >> "$LOG_DIR/apt.log" 2>&1; } \
        || { tail -n 20 "$LOG_DIR/apt.log" >&2; return 1; }
}

start_munge() {
    if running_pid munged >/dev/null; then return 0; fi
    [ -s /etc/munge/munge.key ] || mungekey --create
    mkdir -p /run/munge
    chown munge:munge /etc/munge /etc/munge/munge.key /run/munge
    chmod 0700 /etc/munge
    chmod 0400 /etc/munge/munge.key
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged
    touch "$STARTED_DIR/munged"
    wait_until 15 munge sh -c 'munge -n | unmunge'
}

start_mariadb() {
    if ! running_pid mariadbd >/dev/null; then
        mkdir -p /run/mysqld
        chown mysql:mysql /run/mysqld
        [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql > "$LOG_DIR/mariadb-install.log"
        say "starting mariadbd"
        setsid /usr/sbin/mariadbd --user=mysql --skip-networking --pid-file=/run/mysqld/mysqld.pid \
            < /dev/null >> "$LOG_DIR/mariadb.log" 2>&1 &
        touch "$STARTED_DIR/mariadbd"
        wait_until 60 MariaDB mariadb-admin ping
    fi
    # Root logs in through the unix socket on Debian.
    mariadb <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
}

# Writes the file from standard input; true when its content changed.
install_config() {
    local path="$1" mode="$2" new
    new="$(mktemp)"
    cat > "$new"
    if cmp -s "$new" "$path"; then rm -f "$new"; return 1; fi
    install -m "$mode" -o slurm -g slurm "$new" "$path"
    rm -f "$new"
}

# True when a file changed, so the daemons reading it must restart.
write_configs() {
    local changed=no
    mkdir -p "$CONFIG_DIR" "$RUN_DIR" "$LOG_DIR" "$FAKE_GPU_DIR" /var/spool/slurmctld /var/spool/slurmd
    chown slurm:slurm "$RUN_DIR" "$LOG_DIR" /var/spool/slurmctld
    local gpu
    for gpu in 0 1; do [ -c "$FAKE_GPU_DIR/nvidia$gpu" ] || mknod -m 0666 "$FAKE_GPU_DIR/nvidia$gpu" c 1 3; done

    install_config "$CONFIG_DIR/slurm.conf" 0644 <<EOF && changed=yes
# Written by tests/slurm/local-slurm.sh: one node on localhost, shaped like a GPU node.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
MailProg=/bin/true
# No cgroups in a container: processes are tracked by their parents, nothing is bound or limited.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# Trust the node's configured CPUs, memory and GPUs instead of draining it for lacking them.
SlurmdParameters=config_overrides
ReturnToService=2
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
# A job must name an account that exists, as on a real site.
AccountingStorageEnforce=associations
AccountingStorageTRES=gres/gpu
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 $NODE_SHAPE State=UNKNOWN
PartitionName=$CPU_PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=$GPU_PARTITION Nodes=$NODE MaxTime=INFINITE State=UP
EOF

    install_config "$CONFIG_DIR/gres.conf" 0644 <<EOF && changed=yes
NodeName=$NODE Name=gpu File=$FAKE_GPU_DIR/nvidia[0-1]
EOF

    install_config "$CONFIG_DIR/slurmdbd.conf" 0600 <<EOF && changed=yes
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
PidFile=$RUN_DIR/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASSWORD
StorageLoc=slurm_acct_db
EOF
    [ "$changed" = yes ]
}

# Slurm's daemons write their pid files themselves once they have forked into the background.
start_slurm_daemon() {
    local name="$1"; shift
    if running_pid "$name" >/dev/null; then return 0; fi
    say "starting $name"
    "$@"
    touch "$STARTED_DIR/$name"
    wait_until 15 "$name's pid file" running_pid "$name"
}

node_ready() {
    case "$(sinfo -h -n "$NODE" -o %t 2>/dev/null | head -n 1)" in
        idle* | mix* | alloc*) return 0 ;;
        down* | drain* | fail*) scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 ;;
    esac
    return 1
}

add_account() {
    sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description="qaclims tests" Organization=qaclims >/dev/null || true
    sacctmgr -i add user root Account="$ACCOUNT" Cluster="$CLUSTER" >/dev/null || true
    sacctmgr -n -P show associations cluster="$CLUSTER" account="$ACCOUNT" user=root format=user | grep -qx root
}

start() {
    local began=$SECONDS
    mkdir -p "$STARTED_DIR" "$LOG_DIR"
    install_packages
    if write_configs; then
        say "configuration changed"
        stop_daemon slurmd
        stop_daemon slurmctld
        stop_daemon slurmdbd
    fi
    start_munge
    start_mariadb
    start_slurm_daemon slurmdbd slurmdbd
    wait_until 30 "slurmdbd to accept connections" sacctmgr -n list cluster
    # The account needs its cluster in the database, which slurmctld would only add once it runs.
    sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
    add_account
    start_slurm_daemon slurmctld slurmctld
    wait_until 30 slurmctld scontrol ping
    start_slurm_daemon slurmd slurmd -N "$NODE"
    wait_until 60 "node $NODE to be idle" node_ready || { sinfo -R >&2; return 1; }
    say "up in $((SECONDS - began)) s: node $NODE, partitions $CPU_PARTITION and $GPU_PARTITION, account $ACCOUNT"
}

stop() {
    local name
    for name in slurmd slurmctld slurmdbd mariadbd munged; do stop_daemon "$name"; done
    # Without a controller, Slurm's commands wait about 9 s for it before they fail, and the Snakemake
    # plugin runs `scontrol show config` whenever Snakemake starts. With no configuration they fail at
    # once, so the machine is left as fast as it was before the cluster; `start` writes them again.
    rm -f "$CONFIG_DIR/slurm.conf" "$CONFIG_DIR/gres.conf" "$CONFIG_DIR/slurmdbd.conf"
}

status() {
    local name pid
    for name in munged mariadbd slurmdbd slurmctld slurmd; do
        if pid="$(running_pid "$name")"; then echo "$name running, pid $pid"; else echo "$name not running"; fi
    done
    if running_pid slurmctld >/dev/null; then sinfo -o "%P %a %D %t %c %m %G"; fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
