#!/usr/bin/env bash
# Benchmark (not a test): `wheelwright inspect` against `auditwheel show`, side by side in
# one run, on real wheels.
#
# Usage:
#   ci/bench-inspect.sh [--runs N] [--slow-runs N] [--no-torch] [--wheel PATH]... [--no-build]
#
#   (default)      numpy 2.2.6 and scipy 1.15.3 (cp312, manylinux_2_17_x86_64, from
#                  target/test-cache/wheels) and torch 2.7.1 (cp312, manylinux_2_28_x86_64,
#                  ~783 MiB, from $BENCH_CACHE/wheels); each downloaded with pip when missing
#   --no-torch     numpy and scipy only (quick, little disk)
#   --wheel PATH   benchmark this wheel instead of the defaults (repeatable)
#   --runs N       timed runs of wheelwright, best kept [3]
#   --slow-runs N  timed runs of auditwheel show, best kept [1]
#   --no-build     use target/release/wheelwright as it is (default: `cargo build --release` first)
#
# Environment:
#   BENCH_CACHE    torch's download and scratch space [$REPO/bench-cache]
#   BENCH_PYTHON   the CPython 3.12 to build the venv with [$(pyenv root)/versions/3.12*/bin/python3]
#   WHEELWRIGHT    the binary to time [$REPO/target/release/wheelwright]
#
# Contenders, on each wheel, with the page cache warm (the wheel is read once first):
#   auditwheel show               auditwheel show WHEEL (pinned, from PyPI, in the venv
#                                 target/ci-tools-audit that ci/compare-auditwheel.sh uses too)
#   wheelwright inspect           wheelwright inspect WHEEL (with the instruction scan)
#   wheelwright inspect --no-scan the same without decoding instructions
# Each run is under /usr/bin/time -f '%e %M': peak RSS is its %M (the largest over the runs is
# shown); wall seconds are bash's $EPOCHREALTIME around it (%e has 10 ms steps); the best wall
# time of the runs is shown, with the speed-up auditwheel/contender. The target (inspect, with
# the scan, at least 10x faster than auditwheel show on each wheel) is only reported: timings
# never fail this script; a contender that exits non-zero is marked in the table.
# Network: only PyPI, through pip (the venv's packages and the wheel downloads).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${BENCH_CACHE:-$REPO/bench-cache}
TEST_CACHE=$REPO/target/test-cache/wheels
VENV=$REPO/target/ci-tools-audit
AUDITWHEEL_SPEC=auditwheel==6.8.2
PYELFTOOLS_SPEC=pyelftools==0.33
RUNS=3
SLOW_RUNS=1
BUILD=1
TORCH=1
WHEELS=()
TARGET=10

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "bench: error: $*" >&2; exit 2; }
note() { echo "bench: $*" >&2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --no-torch) TORCH=0 ;;
        --wheel) [[ $# -ge 2 ]] || die "--wheel needs a path"; WHEELS+=("$2"); shift ;;
        --wheel=*) WHEELS+=("${1#--wheel=}") ;;
        --runs) [[ $# -ge 2 ]] || die "--runs needs a number"; RUNS=$2; shift ;;
        --runs=*) RUNS=${1#--runs=} ;;
        --slow-runs) [[ $# -ge 2 ]] || die "--slow-runs needs a number"; SLOW_RUNS=$2; shift ;;
        --slow-runs=*) SLOW_RUNS=${1#--slow-runs=} ;;
        --no-build) BUILD=0 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive number"
[[ $SLOW_RUNS =~ ^[1-9][0-9]*$ ]] || die "--slow-runs must be a positive number"
[[ -x /usr/bin/time ]] || die "/usr/bin/time (GNU time) is needed: apt-get install time"

mkdir -p "$CACHE/wheels"
CACHE=$(cd "$CACHE" && pwd)
WORK=$(mktemp -d "$CACHE/run.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- Python and its venv
find_python() {
    if [[ -n ${BENCH_PYTHON:-} ]]; then
        echo "$BENCH_PYTHON"
        return
    fi
    local root=${PYENV_ROOT:-} candidate=""
    if [[ -z $root ]] && command -v pyenv >/dev/null 2>&1; then
        root=$(pyenv root 2>/dev/null || true)
    fi
    root=${root:-$HOME/.pyenv}
    # Real interpreters by path, never pyenv's shims.
    # shellcheck disable=SC2012 # version directories, sorted by version
    candidate=$(ls -d "$root"/versions/3.12*/bin/python3 2>/dev/null | sort -V | tail -n1 || true)
    [[ -n $candidate ]] || candidate=$(command -v python3.12 || true)
    [[ -n $candidate ]] || die "no CPython 3.12 found: set BENCH_PYTHON"
    echo "$candidate"
}
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP VIRTUAL_ENV CONDA_PREFIX
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

VPY=$VENV/bin/python
WANTED="$AUDITWHEEL_SPEC $PYELFTOOLS_SPEC" # the same stamp as ci/compare-auditwheel.sh
if [[ ! -f $VENV/.installed || $(cat "$VENV/.installed") != "$WANTED" ]] \
    || ! "$VPY" -c 'import auditwheel, elftools' >/dev/null 2>&1; then
    PYTHON=$(find_python)
    note "creating the venv $VENV with $PYTHON ($WANTED)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VPY" -m pip install --quiet "$AUDITWHEEL_SPEC" "$PYELFTOOLS_SPEC"
    echo "$WANTED" >"$VENV/.installed"
fi
AUDITWHEEL=$VENV/bin/auditwheel
AUDITWHEEL_VERSION=$("$VPY" -c 'from importlib.metadata import version as v; print(v("auditwheel"))')

# ---------------------------------------------------------------- the wheels
# fetch DIR NAME VERSION PLATFORM: prints the cached wheel NAME-VERSION-*.whl in DIR, or
# downloads it there with pip (into a temporary directory first: no half files in DIR).
fetch() {
    local dir=$1 name=$2 version=$3 platform=$4 found tmp
    found=$(compgen -G "$dir/$name-$version-*.whl" | sort | tail -n1 || true)
    if [[ -z $found ]]; then
        note "downloading $name==$version ($platform) into $dir"
        mkdir -p "$dir"
        tmp=$(mktemp -d "$dir/.download-XXXXXX")
        if ! "$VPY" -m pip download --quiet --no-deps --only-binary :all: --python-version 3.12 \
            --platform "$platform" "$name==$version" -d "$tmp" >&2; then
            rm -rf "$tmp"
            die "pip download $name==$version failed"
        fi
        found=$(compgen -G "$tmp/$name-$version-*.whl" | head -n1 || true)
        [[ -n $found ]] || { rm -rf "$tmp"; die "pip download left no $name-$version-*.whl"; }
        mv "$found" "$dir/"
        rm -rf "$tmp"
        found=$dir/$(basename "$found")
    fi
    echo "$found"
}
if [[ ${#WHEELS[@]} -eq 0 ]]; then
    WHEELS+=("$(fetch "$TEST_CACHE" numpy 2.2.6 manylinux_2_17_x86_64)")
    WHEELS+=("$(fetch "$TEST_CACHE" scipy 1.15.3 manylinux_2_17_x86_64)")
    if [[ $TORCH -eq 1 ]]; then
        TORCH_WHEEL=$(compgen -G "$TEST_CACHE/torch-2.7.1-cp312-cp312-manylinux_2_28_x86_64.whl" || true)
        [[ -n $TORCH_WHEEL ]] || TORCH_WHEEL=$(fetch "$CACHE/wheels" torch 2.7.1 manylinux_2_28_x86_64)
        WHEELS+=("$TORCH_WHEEL")
    fi
fi
for i in "${!WHEELS[@]}"; do
    [[ -f ${WHEELS[$i]} ]] || die "no wheel at ${WHEELS[$i]}"
    WHEELS[i]=$(cd "$(dirname "${WHEELS[$i]}")" && pwd)/$(basename "${WHEELS[$i]}")
done

# ---------------------------------------------------------------- wheelwright
if [[ $BUILD -eq 1 ]]; then
    note "cargo build --release"
    (cd "$REPO" && cargo build --release --quiet)
fi
WW=${WHEELWRIGHT:-$REPO/target/release/wheelwright}
# What the version line shows: the repository's commit for its own binary, else the path.
if [[ -n ${WHEELWRIGHT:-} ]]; then
    WW_LABEL="wheelwright $WW"
else
    WW_LABEL="wheelwright $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')"
fi
[[ -x $WW ]] || die "no $WW: build it or drop --no-build"
"$WW" inspect --help >/dev/null 2>&1 || die "$WW has no working \`inspect\` subcommand"

# ---------------------------------------------------------------- timing
# timed CMD...: runs CMD under /usr/bin/time in $WORK/cwd; sets T_WALL (s), T_RSS (KiB), T_RC.
timed() {
    T_RC=0
    mkdir -p "$WORK/cwd"
    local start=$EPOCHREALTIME end
    (cd "$WORK/cwd" && exec /usr/bin/time -f '%e %M' -o "$WORK/time.out" "$@") >"$WORK/last.out" 2>"$WORK/last.err" || T_RC=$?
    end=$EPOCHREALTIME
    read -r _ T_RSS < <(tail -n1 "$WORK/time.out")
    T_WALL=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')
}
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a + 0 < b + 0) ? a : b }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a + 0 > b + 0) ? a : b }'; }

# bench NAME RUNS CMD...: best wall time and largest RSS over RUNS runs; sets B_WALL/B_RSS/B_STATUS.
bench() {
    local name=$1 runs=$2 i
    shift 2
    B_WALL="" B_RSS="" B_STATUS="ok"
    for ((i = 1; i <= runs; i++)); do
        timed "$@"
        note "  $name run $i/$runs: ${T_WALL}s, $((T_RSS / 1024)) MB, exit $T_RC"
        B_WALL=$(min "$T_WALL" "$B_WALL")
        B_RSS=$(max "$T_RSS" "$B_RSS")
        if [[ $T_RC -ne 0 ]]; then
            B_STATUS="exit $T_RC: $(grep -v '^[[:space:]]*$' "$WORK/last.err" | tail -n1 | cut -c1-100)"
            return
        fi
    done
}

ROWS=()    # "wheel|contender|seconds|rss_kib|ratio|status"
TARGETS=() # one line per wheel
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'; }

for wheel in "${WHEELS[@]}"; do
    name=$(basename "$wheel")
    short=$(echo "$name" | cut -d- -f1,2)
    note "$name ($(( $(stat -c %s "$wheel") >> 20 )) MiB)"
    cat "$wheel" >/dev/null # warm the page cache

    bench "auditwheel show" "$SLOW_RUNS" "$AUDITWHEEL" show "$wheel"
    AW_WALL=$B_WALL
    ROWS+=("$short|auditwheel $AUDITWHEEL_VERSION show|$B_WALL|$B_RSS|1.0|$B_STATUS")
    # "... is consistent with the following platform tag: "TAG"." (wrapped over lines)
    AW_TAG=$(tr '\n' ' ' <"$WORK/last.out" | sed -n 's/.*consistent with the following platform tag: *"\([^"]*\)".*/\1/p')

    bench "wheelwright inspect" "$RUNS" "$WW" inspect "$wheel"
    SCAN_WALL=$B_WALL
    ROWS+=("$short|wheelwright inspect|$B_WALL|$B_RSS|$(ratio "$AW_WALL" "$B_WALL")|$B_STATUS")
    cp "$WORK/last.out" "$WORK/inspect-$short.out"

    bench "wheelwright inspect --no-scan" "$RUNS" "$WW" inspect --no-scan "$wheel"
    ROWS+=("$short|wheelwright inspect --no-scan|$B_WALL|$B_RSS|$(ratio "$AW_WALL" "$B_WALL")|$B_STATUS")

    r=$(ratio "$AW_WALL" "$SCAN_WALL")
    TARGETS+=("$short: auditwheel show / wheelwright inspect = ${r}x -> $(awk -v r="$r" -v t="$TARGET" 'BEGIN { print (r + 0 >= t) ? "met" : "NOT met" }')${AW_TAG:+ (auditwheel: $AW_TAG)}")
done

# ---------------------------------------------------------------- report
echo
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine:  $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "versions: $WW_LABEL, auditwheel $AUDITWHEEL_VERSION ($("$VPY" --version))"
echo "runs:     best of $RUNS (wheelwright), $SLOW_RUNS (auditwheel); peak RSS = largest over the runs"
echo
printf '| %-14s | %-30s | %9s | %11s | %13s | %s |\n' "wheel" "contender" "seconds" "peak RSS MB" "x faster (aw)" "status"
printf '|%s|%s|%s|%s|%s|%s|\n' "----------------" "--------------------------------" "----------:" "------------:" "--------------:" "---"
for row in "${ROWS[@]}"; do
    IFS='|' read -r w c wall rss r status <<<"$row"
    printf '| %-14s | %-30s | %9.3f | %11.1f | %13s | %s |\n' "$w" "$c" "$wall" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$r" "$status"
done
echo
for t in "${TARGETS[@]}"; do echo "target: at least ${TARGET}x faster than auditwheel show: $t"; done
