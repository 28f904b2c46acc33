#!/usr/bin/env bash
# Benchmarks of the nightly's executors, each side by side with its baseline in one run:
#
# 1. local: 6 small real PyPI packages x 3 Pythons through the local executor (cells in
#    parallel, each with its share of the CPUs) against the same builds one after another,
#    each on one core (the ratio's target is the machine's core count), and one after
#    another each given the whole machine (what parbuild_wheel.sh does without GNU
#    parallel); prints the times, the ratios, and the cores busy from result.json.
# 2. slurm (when a controller answers, e.g. after ci/slurm/start.sh): the same cells one at a
#    time through Slurm and through the local executor; the difference per cell is Slurm's
#    overhead (submit to start, end to result seen).
#
#   ci/bench-nightly.sh [local] [slurm]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin wheelwright >/dev/null 2>&1
bin=$PWD/target/release/wheelwright
# shellcheck source=install-test-tools.sh
source ci/install-test-tools.sh >/dev/null 2>&1 || true
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(local slurm)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cores=$(nproc)
packages='"markupsafe==3.0.2", "msgpack==1.1.0", "simplejson==3.20.1", "wrapt==1.17.2", "pyyaml==6.0.2", "bitarray==3.4.2"'

# A nightly configuration in $1 with cpus per cell $2 and more TOML $3.
config() {
    mkdir -p "$1"
    cat > "$1/nightly.toml" <<TOML
packages = [${PACKAGES:-$packages}]
recipes = "$PWD/recipes"
[matrix]
pythons = [${PYTHONS:-"\"3.11\", \"3.12\", \"3.13\""}]
archs = ["generic"]
[resources]
cpus = $2
[paths]
cache = "$work/cache"
$3
TOML
}

# Runs a command; prints its wall time and the CPU time (user + system) of it and its children.
timed() {
    python3 -c '
import resource, subprocess, sys, time
start = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.2f} {usage.ru_utime + usage.ru_stime:.2f}")' "$@"
}

seconds() {
    timed "$@" | cut -d" " -f1
}

# Warm the caches once (sources, and uv's cache of build requirements): downloads are not
# what is measured, and both sides then start equally warm.
config "$work/warm" 1 ""
"$bin" nightly run --config "$work/warm/nightly.toml" --jobs "$cores" > /dev/null 2>&1 || true

for part in "${parts[@]}"; do
    case "$part" in
    local)
        config "$work/parallel" 1 ""
        config "$work/sequential" "$cores" ""
        config "$work/one-core" 1 ""
        read -r parallel parallel_cpu < <(timed "$bin" nightly run --config "$work/parallel/nightly.toml" --jobs "$cores")
        read -r sequential sequential_cpu < <(timed "$bin" nightly run --config "$work/sequential/nightly.toml" --jobs "$cores")
        # One cell at a time on one core (a budget of one CPU: nothing starts beside it).
        read -r one_core one_core_cpu < <(timed "$bin" nightly run --config "$work/one-core/nightly.toml" --jobs 1)
        cells=$(python3 -c "import json,glob; print(len(json.load(open(sorted(glob.glob('$work/parallel/nightly/runs/*/result.json'))[-1]))['cells']))")
        busy=$(python3 -c "import json,glob; print(json.load(open(sorted(glob.glob('$work/parallel/nightly/runs/*/result.json'))[-1])).get('cpu_busy_mean', 0))")
        printf "local executor, %s cells on %s cores: parallel %.1f s (%.2f cores busy on average, from result.json)\n" \
            "$cells" "$cores" "$parallel" "$busy"
        printf "  one after another, one core each: %.1f s, ratio %.2fx (target: %s cores)\n" \
            "$one_core" "$(python3 -c "print($one_core / $parallel)")" "$cores"
        printf "  one after another, the whole machine each: %.1f s, ratio %.2fx\n" \
            "$sequential" "$(python3 -c "print($sequential / $parallel)")"
        # The CPU time says how far the ratio can go: the sequential side already keeps more
        # than one core busy at times (uv's threads, compilers given the whole machine).
        printf "  CPU time: parallel %.0f s (%.2f cores busy on average), one after another %.0f s (%.2f cores); the most the ratio can be with the parallel side's work: %.2fx\n" \
            "$parallel_cpu" "$(python3 -c "print($parallel_cpu / $parallel)")" \
            "$sequential_cpu" "$(python3 -c "print($sequential_cpu / $sequential)")" \
            "$(python3 -c "print($sequential / ($parallel_cpu / $cores))")"
        ;;
    slurm)
        if ! squeue -h --me >/dev/null 2>&1; then
            echo "slurm: no controller answers (ci/slurm/start.sh); skipped"
            continue
        fi
        export PACKAGES='"markupsafe==3.0.2", "msgpack==1.1.0", "simplejson==3.20.1"'
        export PYTHONS='"3.12", "3.13"'
        config "$work/on-slurm" "$cores" "[slurm]
max_jobs = 1"
        config "$work/on-local" "$cores" ""
        slurm=$(seconds "$bin" nightly run --config "$work/on-slurm/nightly.toml" --executor slurm)
        local_time=$(seconds "$bin" nightly run --config "$work/on-local/nightly.toml" --jobs "$cores")
        cells=$(python3 -c "import json,glob; print(len(json.load(open(sorted(glob.glob('$work/on-slurm/nightly/runs/*/result.json'))[-1]))['cells']))")
        printf "slurm executor, %s cells one at a time: slurm %.1f s, local %.1f s, overhead %.2f s per cell\n" \
            "$cells" "$slurm" "$local_time" "$(python3 -c "print(($slurm - $local_time) / $cells)")"
        unset PACKAGES PYTHONS
        ;;
    esac
done
