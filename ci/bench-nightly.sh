#!/usr/bin/env bash
# Benchmarks of the nightly's executors, each side by side with its baseline in one run:
#
# 1. local: 6 small real PyPI packages x 3 Pythons through the local executor (cells in
#    parallel, each with its share of the CPUs) against the same builds one after another,
#    each given the whole machine (what parbuild_wheel.sh does without GNU parallel);
#    prints both times and the ratio (the target is the machine's core count).
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

seconds() {
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null 2>&1 || true
    end=$(date +%s.%N)
    python3 -c "print($end - $start)"
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
        parallel=$(seconds "$bin" nightly run --config "$work/parallel/nightly.toml" --jobs "$cores")
        sequential=$(seconds "$bin" nightly run --config "$work/sequential/nightly.toml" --jobs "$cores")
        cells=$(python3 -c "import json,glob; print(len(json.load(open(sorted(glob.glob('$work/parallel/nightly/runs/*/result.json'))[-1]))['cells']))")
        printf "local executor, %s cells on %s cores: parallel %.1f s, one after another %.1f s, ratio %.2fx\n" \
            "$cells" "$cores" "$parallel" "$sequential" "$(python3 -c "print($sequential / $parallel)")"
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
