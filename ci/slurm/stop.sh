#!/usr/bin/env bash
# Stops the single-node Slurm that ci/slurm/start.sh started: cancels its jobs, stops slurmd,
# slurmctld and munged, and puts back a slurm.conf it had set aside.
set -euo pipefail

dir=${WHEELWRIGHT_SLURM_DIR:-/tmp/wheelwright-slurm}
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi

scancel --user="$(id -un)" >/dev/null 2>&1 || true
for daemon in slurmd slurmctld; do
    pidfile="$dir/run/$daemon.pid"
    if [ -s "$pidfile" ]; then
        $sudo kill "$(cat "$pidfile")" 2>/dev/null || true
    else
        $sudo pkill -x "$daemon" 2>/dev/null || true
    fi
done
for _ in $(seq 50); do
    pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break
    sleep 0.1
done
$sudo pkill -x munged 2>/dev/null || true
for _ in $(seq 50); do
    pgrep -x munged >/dev/null || break
    sleep 0.1
done
conf=/etc/slurm/slurm.conf
if [ -f "$conf.wheelwright-saved" ]; then
    $sudo mv "$conf.wheelwright-saved" "$conf"
elif [ -f "$conf" ] && grep -q "written by wheelwright" "$conf"; then
    $sudo rm -f "$conf"
fi
echo "stop.sh: Slurm stopped"
