#!/usr/bin/env bash
# Benchmark (not a test): rewriting one large wheel with `wheelwright manipulate`,
# side by side with `unzip -tq` (the yardstick), `cp` (the floor) and two Python baselines,
# in one run.
#
# Usage:
#   ci/bench-manipulate.sh [--small | --wheel PATH] [--runs N] [--slow-runs N] [--no-build]
#                          [--no-python]
#
#   (default)      torch 2.7.1 cp312 manylinux_2_28_x86_64 (~783 MiB), fetched from PyPI with pip
#   --small        scipy 1.15.3 cp312 manylinux x86_64 (~36 MiB) instead: quick runs, little disk
#   --wheel PATH   any other wheel (or BENCH_WHEEL=PATH)
#   --runs N       timed runs of the fast contenders (cp, wheelwright), best kept [3]
#   --slow-runs N  timed runs of the Python contenders [1]
#   --no-build     use target/release/wheelwright as it is (default: `cargo build --release` first)
#   --no-python    skip the Python contenders (wheel tags, manipulate_wheels.py): minutes on torch
#
# Environment:
#   BENCH_CACHE         downloads, the benchmark venv and scratch space [$REPO/bench-cache]
#   BENCH_PYTHON        the CPython 3.12 to build the venv with [$(pyenv root)/versions/3.12*/bin/python3]
#   WHEELS_BUILDER_DIR  a checkout of ComputeCanada's wheels_builder; its manipulate_wheels.py
#                       is timed (with wheelfile==0.0.9 from PyPI). Unset or missing: that
#                       baseline is skipped.
#
# Contenders, each on the same wheel with the page cache warm (the wheel is read once
# first), `sync` run before every timed run, and each output written next to the cache:
#   unzip -tq           unzip -tq WHEEL: inflates and CRC-checks every member once, on one core,
#                       writing nothing: the least a full check does (the yardstick; ours checks
#                       every member too, sha256 against RECORD, size and CRC-32, on every core)
#   cp                  cp WHEEL OUT/                                        (the floor)
#   cp + fsync          cp WHEEL OUT/ && sync OUT/WHEEL  (the floor for a durable writer: ours
#                       fsyncs its output before renaming it into place)
#   wheelwright         wheelwright manipulate --insert-local-version --strip-nvidia -o OUT WHEEL
#   wheelwright --no-fsync   the same without the fsync before the rename (like cp)
#   (ref) verify        wheelwright verify WHEEL: inflating and hashing every member
#   wheel tags          python -m wheel tags --platform-tag linux_x86_64 WHEEL (inflates, re-deflates)
#   manipulate_wheels   python manipulate_wheels.py --insert_local_version --wheels WHEEL, with
#                       stock wheelfile 0.0.9, and (if that crashes) again with wheelfile's METADATA
#                       handling relaxed by a run-time patch of the venv's wheelfile.py (multi-line
#                       values unfolded, unknown fields such as License-File/Dynamic dropped); the
#                       pristine file is put back on exit.
# Each run is under /usr/bin/time -f '%e %M': peak RSS is its %M (the largest over the runs
# is shown), wall seconds are bash's $EPOCHREALTIME around it (%e only has 10 ms steps);
# the best wall time of the runs is shown. Our output is checked with `wheelwright verify` and
# `python -m wheel unpack` (which checks every RECORD hash); the script fails if either
# fails. The targets (at most 0.35x the time of `unzip -tq`, under 128 MiB peak RSS) are only
# reported; the ratios to cp and cp + fsync are printed for reference. The machine's load average is printed: timings of a
# two-core machine shared with builds are noisy, the ratio to `unzip -tq` less so.
# Network: only PyPI, through pip (the venv's packages and the wheel downloads).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${BENCH_CACHE:-$REPO/bench-cache}
WHEEL=${BENCH_WHEEL:-}
SMALL=0
RUNS=3
SLOW_RUNS=1
BUILD=1
PYTHON_CONTENDERS=1

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "bench: error: $*" >&2; exit 2; }
note() { echo "bench: $*" >&2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --small) SMALL=1 ;;
        --wheel) [[ $# -ge 2 ]] || die "--wheel needs a path"; WHEEL=$2; shift ;;
        --wheel=*) WHEEL=${1#--wheel=} ;;
        --runs) [[ $# -ge 2 ]] || die "--runs needs a number"; RUNS=$2; shift ;;
        --runs=*) RUNS=${1#--runs=} ;;
        --slow-runs) [[ $# -ge 2 ]] || die "--slow-runs needs a number"; SLOW_RUNS=$2; shift ;;
        --slow-runs=*) SLOW_RUNS=${1#--slow-runs=} ;;
        --no-build) BUILD=0 ;;
        --no-python) PYTHON_CONTENDERS=0 ;;
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
WHEELFILE_PY=""
cleanup() {
    # Put the pristine wheelfile.py back if this run patched it.
    if [[ -n $WHEELFILE_PY && -f $WHEELFILE_PY.orig ]]; then
        cp -p "$WHEELFILE_PY.orig" "$WHEELFILE_PY"
        rm -f "$(dirname "$WHEELFILE_PY")"/__pycache__/wheelfile.*.pyc
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- Python and its venv
find_python() {
    if [[ -n ${BENCH_PYTHON:-} ]]; then
        echo "$BENCH_PYTHON"
        return
    fi
    local candidate=""
    if command -v pyenv >/dev/null 2>&1; then
        # Real interpreters by path, not pyenv's shims.
        # shellcheck disable=SC2012 # version directories, sorted by version
        candidate=$(ls -d "$(pyenv root)"/versions/3.12*/bin/python3 2>/dev/null | sort -V | tail -n1 || true)
    fi
    if [[ -z $candidate ]]; then
        candidate=$(command -v python3.12 || true)
    fi
    [[ -n $candidate ]] || die "no CPython 3.12 found: set BENCH_PYTHON"
    echo "$candidate"
}
PYTHON=$(find_python)
VENV=$CACHE/venv-py312
VPY=$VENV/bin/python
if ! "$VPY" -c 'import wheel, wheelfile, packaging' >/dev/null 2>&1; then
    note "creating the benchmark venv $VENV with $PYTHON"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VPY" -m pip install --quiet --disable-pip-version-check 'wheel==0.48.0' 'wheelfile==0.0.9' packaging
fi
WHEEL_VERSION=$("$VPY" -c 'from importlib.metadata import version as v; print(v("wheel"))')
WHEELFILE_VERSION=$("$VPY" -c 'from importlib.metadata import version as v; print(v("wheelfile"))')

# ---------------------------------------------------------------- the wheel
download() { # download SPEC PLATFORM
    local spec=$1 platform=$2
    "$VPY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
        --python-version 3.12 --platform "$platform" "$spec" -d "$CACHE/wheels" >&2
}
if [[ -z $WHEEL ]]; then
    if [[ $SMALL -eq 1 ]]; then
        WHEEL=$CACHE/wheels/scipy-1.15.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
        [[ -f $WHEEL ]] || download scipy==1.15.3 manylinux_2_17_x86_64
    else
        WHEEL=$CACHE/wheels/torch-2.7.1-cp312-cp312-manylinux_2_28_x86_64.whl
        [[ -f $WHEEL ]] || download torch==2.7.1 manylinux_2_28_x86_64
    fi
fi
[[ -f $WHEEL ]] || die "no wheel at $WHEEL"
WHEEL=$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")
WHEEL_NAME=$(basename "$WHEEL")
WHEEL_BYTES=$(stat -c %s "$WHEEL")
UNPACKED_BYTES=$("$VPY" -c 'import sys, zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))' "$WHEEL")
FREE_BYTES=$(( $(df -Pk "$WORK" | awk 'NR == 2 { print $4 }') * 1024 ))
NEEDED_BYTES=$(( 2 * WHEEL_BYTES + UNPACKED_BYTES + (256 << 20) ))
(( FREE_BYTES >= NEEDED_BYTES )) || die "about $((NEEDED_BYTES >> 20)) MiB free needed in $CACHE, $((FREE_BYTES >> 20)) MiB there (try --small)"

# ---------------------------------------------------------------- wheelwright
if [[ $BUILD -eq 1 ]]; then
    note "cargo build --release"
    (cd "$REPO" && cargo build --release --quiet)
fi
WW=$REPO/target/release/wheelwright
[[ -x $WW ]] || die "no $WW: build it or drop --no-build"

# ---------------------------------------------------------------- timing
# timed DIR CMD...: runs CMD in DIR under /usr/bin/time; sets T_WALL (s), T_RSS (KiB), T_CPU (s), T_RC.
timed() {
    local dir=$1
    shift
    sync
    T_RC=0
    local start=$EPOCHREALTIME end
    (cd "$dir" && exec /usr/bin/time -f '%e %M %U %S' -o "$WORK/time.out" "$@") >"$WORK/last.log" 2>&1 || T_RC=$?
    end=$EPOCHREALTIME
    # %M is the peak RSS; %e has 10 ms steps, too coarse for small wheels, so the wall time
    # is bash's clock around the whole thing (1 ms; includes ~1 ms of fork and exec).
    local user system
    read -r _ T_RSS user system < <(tail -n1 "$WORK/time.out")
    # CPU seconds (user + system, all threads): what a machine shared with other work decides.
    T_CPU=$(awk -v u="$user" -v s="$system" 'BEGIN { printf "%.2f", u + s }')
    T_WALL=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')
}

ROWS=()      # "name|seconds|rss_kib|status"
CP_WALL=""
OUR_WALL=""
OUR_RSS=""
add_row() { ROWS+=("$1|$2|$3|$4"); }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a + 0 < b + 0) ? a : b }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a + 0 > b + 0) ? a : b }'; }
warm() { cat "$WHEEL" >/dev/null; }

# bench NAME RUNS SETUP CMD...: SETUP (a function) empties/creates $OUT before each run;
# CMD is run in $OUT. Keeps the best wall time and the largest RSS; sets B_WALL/B_RSS/B_RC.
OUT=$WORK/out
bench() {
    local name=$1 runs=$2
    shift 2
    B_WALL="" B_RSS="" B_CPU="" B_RC=0
    warm
    local i
    for ((i = 1; i <= runs; i++)); do
        rm -rf "$OUT"
        mkdir -p "$OUT"
        timed "$OUT" "$@"
        note "$name run $i/$runs: ${T_WALL}s (${T_CPU} s of CPU), $((T_RSS / 1024)) MB, exit $T_RC"
        if [[ $T_RC -ne 0 ]]; then
            B_RC=$T_RC B_WALL=$T_WALL B_RSS=$T_RSS
            return
        fi
        [[ $(min "$T_WALL" "$B_WALL") == "$T_WALL" ]] && B_CPU=$T_CPU
        B_WALL=$(min "$T_WALL" "$B_WALL")
        B_RSS=$(max "$T_RSS" "$B_RSS")
    done
}

# verify_output FILE: "valid" or "INVALID" per `wheelwright verify` (for the baselines' rows).
verify_output() {
    if [[ ! -f $1 ]]; then
        echo "no output wheel"
    elif "$WW" verify "$1" >"$WORK/verify.log" 2>&1; then
        echo "valid"
    else
        echo "fails wheelwright verify: $(sed -n 's/^  - //p' "$WORK/verify.log" | head -n1)"
    fi
}

note "wheel: $WHEEL_NAME ($((WHEEL_BYTES >> 20)) MiB, $((UNPACKED_BYTES >> 20)) MiB unpacked)"
warm
# The machine's load and CPU pressure (the share of time some task waited for a CPU, over the
# last 10 s and 60 s): on a shared machine the ratios hold only when this is low.
load_now() {
    local pressure=""
    [[ -r /proc/pressure/cpu ]] && pressure=$(sed -n 's/^some avg10=\([0-9.]*\) avg60=\([0-9.]*\).*/, CPU pressure \1% (10 s) \2% (60 s)/p' /proc/pressure/cpu)
    echo "load $(cut -d' ' -f1-3 /proc/loadavg)$pressure"
}
LOAD_BEFORE=$(load_now)

# 0. unzip -tq, the yardstick: every member inflated and CRC-checked once, on one core.
command -v unzip >/dev/null 2>&1 || die "unzip is needed (the yardstick): apt-get install unzip"
bench "unzip -tq" "$RUNS" unzip -tq "$WHEEL"
[[ $B_RC -eq 0 ]] || die "unzip -tq failed: $(cat "$WORK/last.log")"
UNZIP_WALL=$B_WALL
UNZIP_CPU=$B_CPU
add_row "unzip -tq (every member inflated, CRC)" "$B_WALL" "$B_RSS" "yardstick: one core, writes nothing"

# 1. cp, the floor.
bench "cp" "$RUNS" cp "$WHEEL" "$OUT/"
[[ $B_RC -eq 0 ]] || die "cp failed: $(cat "$WORK/last.log")"
CP_WALL=$B_WALL
add_row "cp" "$B_WALL" "$B_RSS" "floor"

# 1b. cp + fsync of the copy (wheelwright fsyncs its output before the rename).
# shellcheck disable=SC2016 # expanded by sh -c
bench "cp + fsync" "$RUNS" sh -c 'cp "$1" . && sync "./${1##*/}"' sh "$WHEEL"
[[ $B_RC -eq 0 ]] || die "cp + fsync failed: $(cat "$WORK/last.log")"
CPSYNC_WALL=$B_WALL
add_row "cp + fsync" "$B_WALL" "$B_RSS" "reference: the floor for a durable writer"

# 2. ours.
bench "wheelwright" "$RUNS" "$WW" manipulate --insert-local-version --strip-nvidia -o "$OUT" "$WHEEL"
if [[ $B_RC -ne 0 ]]; then
    cat "$WORK/last.log" >&2
    die "wheelwright manipulate failed (exit $B_RC)"
fi
OUR_WALL=$B_WALL
OUR_RSS=$B_RSS
OUR_CPU=$B_CPU
OURS=$(find "$OUT" -maxdepth 1 -name '*.whl' -print -quit)
[[ -n $OURS ]] || die "wheelwright manipulate wrote no wheel"
mkdir -p "$WORK/ours"
mv "$OURS" "$WORK/ours/"
OURS=$WORK/ours/$(basename "$OURS")
CHECKS_OK=1
CHECK_NOTES=()
if "$WW" verify "$OURS" >"$WORK/verify.log" 2>&1; then
    CHECK_NOTES+=("wheelwright verify: $(head -n1 "$WORK/verify.log" | sed "s|$WORK/ours/||; s/  */ /g")")
else
    CHECKS_OK=0
    CHECK_NOTES+=("wheelwright verify FAILED: $(cat "$WORK/verify.log")")
fi
if "$VPY" -m wheel unpack -d "$WORK/unpacked" "$OURS" >"$WORK/unpack.log" 2>&1; then
    CHECK_NOTES+=("python -m wheel unpack: ok (every RECORD hash checked)")
else
    CHECKS_OK=0
    CHECK_NOTES+=("python -m wheel unpack FAILED: $(tail -n3 "$WORK/unpack.log")")
fi
rm -rf "$WORK/unpacked"
add_row "wheelwright manipulate" "$OUR_WALL" "$OUR_RSS" "$([[ $CHECKS_OK -eq 1 ]] && echo "valid" || echo "INVALID")"

# Ours without the fsync before the rename (--no-fsync): the like-for-like match for plain cp,
# which does not fsync either.
bench "wheelwright manipulate --no-fsync" "$RUNS" "$WW" manipulate --no-fsync --insert-local-version --strip-nvidia -o "$OUT" "$WHEEL"
NOSYNC_WALL=$B_WALL
NOSYNC_RSS=$B_RSS
add_row "wheelwright manipulate --no-fsync" "$B_WALL" "$B_RSS" "$([[ $B_RC -eq 0 ]] && echo "like-for-like with cp (no fsync)" || echo "failed (exit $B_RC)")"
rm -f "$OUT"/*.whl

# Reference: reading, inflating and hashing every member, as `verify` does.
bench "wheelwright verify (input)" "$RUNS" "$WW" verify "$WHEEL"
add_row "(ref) wheelwright verify INPUT" "$B_WALL" "$B_RSS" "$([[ $B_RC -eq 0 ]] && echo "reference" || echo "failed (exit $B_RC)")"
rm -rf "$WORK/ours"

if [[ $PYTHON_CONTENDERS -eq 1 ]]; then
# 3. wheel tags: rewrites the whole wheel next to its input, so give it a symlink in $OUT.
PLATFORM_TAG=linux_x86_64
[[ $WHEEL_NAME == *-linux_x86_64.whl ]] && PLATFORM_TAG=+any
# shellcheck disable=SC2016 # expanded by sh -c
bench "wheel tags" "$SLOW_RUNS" sh -c 'ln -s "$1" . && exec "$2" -m wheel tags --platform-tag "$3" "./${1##*/}"' \
    sh "$WHEEL" "$VPY" "$PLATFORM_TAG"
if [[ $B_RC -eq 0 ]]; then
    TAGGED=$(find "$OUT" -maxdepth 1 -name '*.whl' -type f -print -quit)
    add_row "wheel $WHEEL_VERSION tags" "$B_WALL" "$B_RSS" "$(verify_output "$TAGGED")"
else
    add_row "wheel $WHEEL_VERSION tags" "-" "-" "failed (exit $B_RC): $(tail -n1 "$WORK/last.log")"
fi
rm -rf "$OUT"

# 4. manipulate_wheels.py with wheelfile 0.0.9.
# mw_status: "ok" when it wrote a wheel, else why not. It catches its own exceptions,
# prints a traceback and exits 0, so look at what it printed and wrote.
mw_status() {
    local written
    written=$(find "$OUT/tmp" -maxdepth 1 -name '*.whl' -type f -print -quit 2>/dev/null || true)
    if [[ $B_RC -ne 0 ]]; then
        echo "crashed (exit $B_RC)"
    elif grep -q '^Exception: Traceback' "$WORK/last.log" || ! grep -q '^New wheel created' "$WORK/last.log"; then
        echo "crashed: $(grep -E '^[A-Za-z]*(Error|Exception): ' "$WORK/last.log" | tail -n1)"
    else
        echo "ok $written"
    fi
}
# relax_wheelfile: patches the venv's wheelfile.py (from the pristine copy) so MetaData
# accepts what newer METADATA holds: multi-line header values are unfolded onto one line
# (stock __str__ refuses linefeeds in headers) and unknown fields such as License-File and
# Dynamic are dropped (stock from_str raises "Unknown field", which wheelfile reports as
# "METADATA file is not present in the archive or is corrupted").
relax_wheelfile() {
    cp -p "$WHEELFILE_PY.orig" "$WHEELFILE_PY"
    "$VPY" - "$WHEELFILE_PY" <<'PY'
import sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
patches = [
    (
        "                m.add_header(field_name, content)\n",
        "                m.add_header(field_name, \" \".join(content.splitlines()))  # bench: unfold\n",
    ),
    (
        "        for field_name in m.keys():\n            attr = cls._attr_name(field_name)\n",
        "        for field_name in m.keys():\n"
        "            try:  # bench: drop fields wheelfile does not know\n"
        "                attr = cls._attr_name(field_name)\n"
        "            except ValueError:\n"
        "                continue\n",
    ),
]
for old, new in patches:
    if text.count(old) != 1:
        sys.exit(f"wheelfile.py: patch site not found exactly once: {old.strip()!r}")
    text = text.replace(old, new)
open(path, "w", encoding="utf-8").write(text)
PY
    rm -f "$(dirname "$WHEELFILE_PY")"/__pycache__/wheelfile.*.pyc
}

MW=""
if [[ -z ${WHEELS_BUILDER_DIR:-} ]]; then
    note "WHEELS_BUILDER_DIR is not set: skipping the manipulate_wheels.py baseline"
elif [[ ! -f $WHEELS_BUILDER_DIR/manipulate_wheels.py ]]; then
    note "no manipulate_wheels.py in WHEELS_BUILDER_DIR=$WHEELS_BUILDER_DIR: skipping that baseline"
else
    MW=$(cd "$WHEELS_BUILDER_DIR" && pwd)/manipulate_wheels.py
fi
if [[ -z $MW ]]; then
    add_row "manipulate_wheels.py" "-" "-" "skipped (WHEELS_BUILDER_DIR unset or without manipulate_wheels.py)"
else
    WHEELFILE_PY=$("$VPY" -c 'import wheelfile; print(wheelfile.__file__)')
    [[ -f $WHEELFILE_PY.orig ]] || cp -p "$WHEELFILE_PY" "$WHEELFILE_PY.orig"
    cp -p "$WHEELFILE_PY.orig" "$WHEELFILE_PY"
    rm -f "$(dirname "$WHEELFILE_PY")"/__pycache__/wheelfile.*.pyc
    MW_NAME="manipulate_wheels.py"
    bench "manipulate_wheels.py, stock wheelfile" "$SLOW_RUNS" "$VPY" "$MW" --insert_local_version --wheels "$WHEEL"
    STATUS=$(mw_status)
    if [[ $STATUS == ok* ]]; then
        add_row "$MW_NAME (stock wheelfile $WHEELFILE_VERSION)" "$B_WALL" "$B_RSS" "$(verify_output "${STATUS#ok }")"
    else
        note "manipulate_wheels.py with stock wheelfile: $STATUS"
        add_row "$MW_NAME (stock wheelfile $WHEELFILE_VERSION)" "-" "-" "crashed (stock wheelfile) after ${B_WALL} s: ${STATUS#crashed: }"
        if relax_wheelfile; then
            bench "manipulate_wheels.py, relaxed wheelfile" "$SLOW_RUNS" "$VPY" "$MW" --insert_local_version --wheels "$WHEEL"
            STATUS=$(mw_status)
            if [[ $STATUS == ok* ]]; then
                add_row "$MW_NAME (relaxed wheelfile)" "$B_WALL" "$B_RSS" "$(verify_output "${STATUS#ok }")"
            else
                add_row "$MW_NAME (relaxed wheelfile)" "-" "-" "$STATUS"
            fi
        else
            add_row "$MW_NAME (relaxed wheelfile)" "-" "-" "not run: the wheelfile.py patch did not apply"
        fi
        cp -p "$WHEELFILE_PY.orig" "$WHEELFILE_PY"
        rm -f "$(dirname "$WHEELFILE_PY")"/__pycache__/wheelfile.*.pyc
    fi
fi
rm -rf "$OUT"
else
    add_row "python contenders" "-" "-" "skipped (--no-python)"
fi

# ---------------------------------------------------------------- report
echo
echo "wheel:    $WHEEL_NAME ($(awk -v b="$WHEEL_BYTES" 'BEGIN { printf "%.0f", b / 1048576 }') MiB, $(awk -v b="$UNPACKED_BYTES" 'BEGIN { printf "%.0f", b / 1048576 }') MiB unpacked)"
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine:  $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
echo "versions: wheelwright $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?'), $("$VPY" --version), wheel $WHEEL_VERSION, wheelfile $WHEELFILE_VERSION"
echo "runs:     best of $RUNS (unzip, cp, wheelwright), $SLOW_RUNS (python); peak RSS = largest over the runs"
echo "load:     before: $LOAD_BEFORE; after: $(load_now) (load: 1, 5, 15 min averages)"
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
printf '| %-44s | %9s | %11s | %7s | %6s | %10s | %s |\n' "contender" "seconds" "peak RSS MB" "x unzip" "x cp" "x cp+fsync" "output"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "----------:" "------------:" "--------:" "-------:" "-----------:" "---"
for row in "${ROWS[@]}"; do
    IFS='|' read -r name wall rss status <<<"$row"
    if [[ $wall == "-" ]]; then
        printf '| %-44s | %9s | %11s | %7s | %6s | %10s | %s |\n' "$name" "-" "-" "-" "-" "-" "$status"
    else
        printf '| %-44s | %9.3f | %11.1f | %7s | %6s | %10s | %s |\n' "$name" "$wall" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" \
            "$(ratio "$wall" "$UNZIP_WALL")" "$(ratio "$wall" "$CP_WALL")" "$(ratio "$wall" "$CPSYNC_WALL")" "$status"
    fi
done
echo
for check in "${CHECK_NOTES[@]}"; do echo "check: $check"; done
echo "target: at most 0.35x unzip -tq, every member checked (ours, fsync before rename): $(ratio "$OUR_WALL" "$UNZIP_WALL")x -> $(awk -v a="$OUR_WALL" -v b="$UNZIP_WALL" 'BEGIN { print (a <= 0.35 * b) ? "met" : "NOT met" }')"
echo "        (ours --no-fsync: $(ratio "$NOSYNC_WALL" "$UNZIP_WALL")x unzip -tq)"
echo "cpu:    ours $OUR_CPU s of CPU (all threads) against unzip -tq's $UNZIP_CPU s: $(ratio "$OUR_CPU" "$UNZIP_CPU")x, the ratio a machine"
echo "        whose other work leaves this run one core's share would show"
echo "reference: ours --no-fsync vs cp: $(ratio "$NOSYNC_WALL" "$CP_WALL")x; ours (fsync before rename) vs cp + fsync: $(ratio "$OUR_WALL" "$CPSYNC_WALL")x"
echo "           (cp reads nothing it copies; the page cache makes it swing: the yardstick is unzip -tq)"
RSS_MAX=$(( OUR_RSS > NOSYNC_RSS ? OUR_RSS : NOSYNC_RSS ))
echo "target: peak RSS under 128 MiB: $(awk -v k="$RSS_MAX" 'BEGIN { printf "%.1f", k / 1024 }') MiB -> $(awk -v k="$RSS_MAX" 'BEGIN { print (k < 128 * 1024) ? "met" : "NOT met" }')"
if [[ $CHECKS_OK -ne 1 ]]; then
    echo "bench: our output failed its checks" >&2
    exit 1
fi
