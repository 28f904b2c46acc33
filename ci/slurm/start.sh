#!/usr/bin/env bash
# Starts a real single-node Slurm on this machine, for wheelwright's Slurm executor: Debian's
# slurm-wlm and munge (installed if missing), munged, slurmctld and slurmd started without
# systemd, the node's CPUs and memory read from the machine. Waits until the node is idle.
#
#   ci/slurm/start.sh            # then: sinfo, sbatch, wheelwright nightly run --executor slurm
#   ci/slurm/stop.sh
#
# Needs root (or sudo). Its files live in $WHEELWRIGHT_SLURM_DIR (default /tmp/wheelwright-slurm):
# state, spool, logs, pid files. /etc/slurm/slurm.conf is written (an existing one is kept as
# slurm.conf.wheelwright-saved and put back by stop.sh).
set -euo pipefail

dir=${WHEELWRIGHT_SLURM_DIR:-/tmp/wheelwright-slurm}
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "start.sh: installing slurm-wlm and munge (Debian packages)" >&2
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q slurm-wlm munge
fi

host=$(hostname -s)
# slurmd and slurmctld find the node by name.
if ! getent hosts "$host" >/dev/null; then
    echo "127.0.0.1 $host" | $sudo tee -a /etc/hosts >/dev/null
fi
cpus=$(nproc)
# Memory for jobs: what the machine has, less 512 MiB for the system.
memory=$(( $(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo) - 512 ))

$sudo mkdir -p "$dir"/{ctld,slurmd,log,run} /etc/slurm /run/munge
$sudo chmod 755 "$dir"

# munge: a key, then the daemon (as the munge user when there is one).
if [ ! -s /etc/munge/munge.key ]; then
    $sudo mkdir -p /etc/munge
    $sudo dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
if id munge >/dev/null 2>&1; then
    $sudo chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    $sudo chmod 0400 /etc/munge/munge.key
    $sudo chmod 0755 /run/munge
    if ! pgrep -x munged >/dev/null; then
        if [ -z "$sudo" ]; then
            runuser -u munge -- /usr/sbin/munged
        else
            sudo -u munge /usr/sbin/munged
        fi
    fi
else
    $sudo chmod 0400 /etc/munge/munge.key
    pgrep -x munged >/dev/null || $sudo /usr/sbin/munged --force
fi
for _ in $(seq 50); do
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then break; fi
    sleep 0.1
done
munge -n | unmunge >/dev/null

conf=/etc/slurm/slurm.conf
if [ -f "$conf" ] && ! grep -q "written by wheelwright" "$conf"; then
    $sudo cp "$conf" "$conf.wheelwright-saved"
fi
$sudo tee "$conf" >/dev/null <<CONF
# written by wheelwright's ci/slurm/start.sh: a single-node cluster on $host
ClusterName=wheelwright
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=kill_invalid_depend
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=3600
InactiveLimit=0
KillWait=5
SlurmctldTimeout=30
SlurmdTimeout=30
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/slurmd
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# Slurm's cgroup plugins are not used (proctrack/linuxproc, task/none), and no cgroup.conf is
# written: slurmd then starts in containers too.

if ! pgrep -x slurmctld >/dev/null; then
    $sudo /usr/sbin/slurmctld
fi
if ! pgrep -x slurmd >/dev/null; then
    $sudo /usr/sbin/slurmd
fi

# Wait until the node takes jobs.
for _ in $(seq 120); do
    state=$(sinfo -h -N -n "$host" -o %T 2>/dev/null | head -1 || true)
    case "$state" in
        idle | mixed | allocated) break ;;
        down* | drain* | "")
            $sudo scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
done
state=$(sinfo -h -N -n "$host" -o %T 2>/dev/null | head -1 || true)
if [ "$state" != idle ] && [ "$state" != mixed ] && [ "$state" != allocated ]; then
    echo "start.sh: the node $host is '$state', not idle; logs in $dir/log" >&2
    tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
    exit 1
fi
echo "start.sh: Slurm is up: node $host ($cpus CPUs, $memory MiB), partition debug; logs in $dir/log"
