#!/usr/bin/env bash
# Benchmark (not a test): `wheelbuild` building one package's wheels for three Pythons,
# side by side with a plain-tools baseline that does what ComputeCanada's build_wheel.sh
# does, in one run, one contender after the other (never in parallel).
#
# Usage:
#   ci/bench-wheelbuild.sh [--runs N] [--quick] [--as-is] [--no-build]
#                          [--package NAME --version V --import NAME] [--python 3.11,3.12,3.13]
#
#   (default)      biopython 1.85 (import Bio) for CPython 3.11, 3.12, 3.13
#   --runs N       rounds of the contenders (interleaved), the best wall time of each kept [1]
#   --quick        only the three main contenders (baseline, ours cold, ours warm)
#   --as-is        run ours with CFLAGS/CXXFLAGS unset: wheelbuild's own flags (the default)
#   --matched      run ours with CFLAGS/CXXFLAGS set to the interpreter's sysconfig CFLAGS
#                  (-g included), as the baseline's setuptools compiles
#   --no-build     use target/release/{wheelbuild,wheelwright} as they are
#                  (default: `cargo build --release` first)
#   --package, --version, --import, --python   another package, version, import name, Pythons
#
# Environment:
#   BENCH_CACHE   scratch space for the runs [$REPO/bench-cache]; each run's directory in it
#                 is removed at the end unless BENCH_KEEP=1
#   PYENV_ROOT    where the interpreters are: $PYENV_ROOT/versions/3.X.*/bin/python3, the highest
#                 patch release of each [`pyenv root`, else ~/.pyenv]
#
# Contenders, in this order, each from empty output and build directories, `sync` first:
#   baseline (build_wheel.sh steps, --no-cache)
#       a bash function in this script, mirroring build_wheel.sh for each Python in turn:
#       `python -m venv build_env` (with pip); `pip install --no-cache setuptools>70
#       pip>=25.0,<25.3 wheel` (build_wheel.sh's PYTHON_DEPS_DEFAULT, plus wheel, the implied
#       build requirement of a tree without pyproject.toml; a pyproject.toml's [build-system]
#       requires are installed after the unpack); numpy not installed (build_wheel.sh loads it
#       as a module; biopython does not build against it); `pip freeze`; `pip download -v
#       --no-cache --no-binary PKG --no-use-pep517 --no-build-isolation --no-deps PKG==V`
#       (retried without --no-use-pep517, as build_wheel.sh does); unpack; its default pre-build
#       seds and its -march=native/-xHost grep; build: `pip wheel -vvv --no-deps
#       --no-build-isolation .` when there is a pyproject.toml, else `python setup.py
#       bdist_wheel` (biopython 1.85 has none), as build_wheel.sh chooses; the local version with
#       `wheelwright manipulate --insert-local-version --inplace` (instead of manipulate_wheels.py,
#       so the comparison is about the pipeline); its numpy-API check (unzip, grep the .so
#       files); then the test, like ours: a fresh `python -m venv test_env`, `pip install
#       --no-cache --find-links OUT WHEEL` (dependencies from PyPI), `python -c "import NAME"`
#       and `pip check`. (build_wheel.sh installs the wheel into its build environment instead,
#       and runs no `pip check`.)
#   ours, cold    wheelbuild -vv --package PKG --version V --python ... --json (default --jobs:
#                 the cores; every Python of a compiled package at once, each compiler given
#                 its share)
#                 with uv on PATH (ci/install-test-tools.sh), the baseline's interpreters (through
#                 WHEELWRIGHT_PYTHON_3_X: wheelbuild would take a python3.X on PATH first) and
#                 empty caches: --cache-dir, UV_CACHE_DIR and PIP_CACHE_DIR (wheelbuild fetches the
#                 sdist with pip) all new directories, so the sdist and every wheel come from PyPI,
#                 as for the baseline (build_wheel.sh passes --no-cache to pip and downloads the
#                 sdist every time).
#                 The like-for-like row: the target is judged on it.
#   ours, warm    the same again with the caches the cold run filled: a build machine's steady state.
#   ours, warm, --jobs 1    (not with --quick) the warm run one cell at a time.
#   ours, warm, CFLAGS = the interpreter's    (not with --quick or --matched) the baseline's
#                 compiler flags, -g included (wheelbuild's own drop -g: no debug information).
#   baseline, pip cache warm    (not with --quick) the baseline without --no-cache, with a
#                 PIP_CACHE_DIR filled by an untimed warm-up (each Python's build and test venv
#                 downloading what it will install): the strongest plain-pip baseline.
# Ours runs from an empty directory, so no ./recipes applies: PyPI defaults, as the baseline.
#
# Compiler flags: for setuptools, wheelbuild starts from the interpreter's own sysconfig CFLAGS
# (-DNDEBUG -O3 -Wall ...; since setuptools 75.7.0 an environment CFLAGS replaces them,
# pypa/setuptools#4836) without their -g, appends the arch's flags and -g0: no debug
# information, the default. --matched sets CFLAGS/CXXFLAGS to the interpreter's flags with -g,
# which wheelbuild then keeps (a caller's -g is a request for debug information), to compare
# with the baseline's flags exactly; the report prints each contender's first compile line.
#
# Wall seconds are bash's $EPOCHREALTIME around each contender. The machine may be shared, so
# each contender's own CPU time (user + sys of its processes, from bash's `times`) and the CPU
# time everything else used meanwhile (/proc/stat's busy time minus ours, shown per wall second
# as "others (cores)") are reported too: a run with others > 0.1 core was disturbed. "compile"
# is, for ours, the report's compile_seconds (its `pip wheel` steps), and for the baseline its
# build steps timed the same way. Each step of ours is timed from its -vv log (each line stamped as it arrives);
# each step of the baseline directly. Every contender must leave one wheel per Python, named
# with +computecanada, that passes `wheelwright verify`; the script exits 1 otherwise. The target
# (ours <= 0.4x the baseline's wall time) is only reported, never failed on.
# Network: PyPI only (pip, uv and wheelbuild's sdist download).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${BENCH_CACHE:-$REPO/bench-cache}
PACKAGE=biopython
VERSION=1.85
IMPORT_NAME=Bio
PYTHONS=3.11,3.12,3.13
QUICK=0
RUNS=1
BUILD=1
CFLAGS_MODE=as-is
TARGET=0.4

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "bench: error: $*" >&2; exit 2; }
note() { echo "bench: $*" >&2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) QUICK=1 ;;
        --as-is) CFLAGS_MODE=as-is ;;
        --matched) CFLAGS_MODE=matched ;;
        --runs) [[ $# -ge 2 ]] || die "--runs needs a number"; RUNS=$2; shift ;;
        --runs=*) RUNS=${1#--runs=} ;;
        --no-build) BUILD=0 ;;
        --package) [[ $# -ge 2 ]] || die "--package needs a name"; PACKAGE=$2; shift ;;
        --package=*) PACKAGE=${1#--package=} ;;
        --version) [[ $# -ge 2 ]] || die "--version needs a version"; VERSION=$2; shift ;;
        --version=*) VERSION=${1#--version=} ;;
        --import) [[ $# -ge 2 ]] || die "--import needs a name"; IMPORT_NAME=$2; shift ;;
        --import=*) IMPORT_NAME=${1#--import=} ;;
        --python) [[ $# -ge 2 ]] || die "--python needs versions"; PYTHONS=$2; shift ;;
        --python=*) PYTHONS=${1#--python=} ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive number"
IFS=, read -r -a PYTHON_LIST <<<"$PYTHONS"
[[ ${#PYTHON_LIST[@]} -ge 1 ]] || die "--python: no versions"
for tool in jq unzip tar; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is needed"
done

# ---------------------------------------------------------------- interpreters
PYENV_DIR=${PYENV_ROOT:-}
if [[ -z $PYENV_DIR ]] && command -v pyenv >/dev/null 2>&1; then
    PYENV_DIR=$(pyenv root 2>/dev/null || true)
fi
PYENV_DIR=${PYENV_DIR:-$HOME/.pyenv}
declare -A INTERPRETER
for minor in "${PYTHON_LIST[@]}"; do
    [[ $minor =~ ^3\.[0-9]+$ ]] || die "--python: $minor is not of the form 3.X"
    best=$(compgen -G "$PYENV_DIR/versions/$minor.*" | grep -E "/$minor\.[0-9]+$" | sort -V | tail -n1 || true)
    [[ -n $best && -x $best/bin/python3 ]] || die "no CPython $minor under $PYENV_DIR/versions"
    INTERPRETER[$minor]=$best/bin/python3
done
# The flags a plain `setup.py build_ext` compiles with: the newest interpreter's CFLAGS
# (3.11's differ only in spelling -fno-strict-overflow as -fwrapv).
PY_CFLAGS=$("${INTERPRETER[${PYTHON_LIST[-1]}]}" -c 'import sysconfig; print(sysconfig.get_config_var("CFLAGS") or "")')

# ---------------------------------------------------------------- our binaries and uv
if [[ $BUILD -eq 1 ]]; then
    note "cargo build --release"
    (cd "$REPO" && cargo build --release --quiet)
fi
[[ -x $REPO/target/release/wheelbuild && -x $REPO/target/release/wheelwright ]] \
    || die "no target/release/wheelbuild or wheelwright: build them or drop --no-build"
# shellcheck source=ci/install-test-tools.sh
source "$REPO/ci/install-test-tools.sh" || die "ci/install-test-tools.sh failed"
command -v uv >/dev/null 2>&1 || die "uv is not on PATH after ci/install-test-tools.sh"

mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
RUN=$(mktemp -d "$CACHE/wheelbuild-run.XXXXXX")
cleanup() {
    # Build trees are large; keep nothing but what the report printed (unless BENCH_KEEP=1).
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        note "kept $RUN"
        return
    fi
    chmod -R u+w "$RUN" 2>/dev/null || true
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A snapshot of the binaries: a `cargo build` elsewhere during the run must not swap them.
mkdir -p "$RUN/bin"
cp "$REPO/target/release/wheelbuild" "$REPO/target/release/wheelwright" "$RUN/bin/"
WB=$RUN/bin/wheelbuild
WW=$RUN/bin/wheelwright
WB_SHA=$(sha256sum "$WB" | cut -c1-12)

elapsed() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.3f", e - s }'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# ---------------------------------------------------------------- measuring
# The machine is shared: besides the wall time, each contender's own CPU time (its reaped
# children's user + sys, from the `times` builtin) and the CPU time everything else on the
# machine used meanwhile (all busy time in /proc/stat minus ours) are recorded.
CLK_TCK=$(getconf CLK_TCK)
machine_busy() { # busy CPU seconds of the whole machine since boot
    awk -v hz="$CLK_TCK" '$1 == "cpu" { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz; exit }' /proc/stat
}
own_cpu() { # sets OWN_CPU: this shell's reaped children's user + sys seconds (no subshell)
    times >"$RUN/times.out"
    OWN_CPU=$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); sub(/s$/, "", p[2]); t += p[1] * 60 + p[2] } printf "%.2f", t }' "$RUN/times.out")
}
measure_start() {
    sync
    own_cpu
    M_CPU0=$OWN_CPU
    M_BUSY0=$(machine_busy)
    M_START=$EPOCHREALTIME
}
measure_stop() { # sets M_WALL, M_CPU, M_OTHERS
    local end=$EPOCHREALTIME busy
    busy=$(machine_busy)
    own_cpu
    M_WALL=$(elapsed "$M_START" "$end")
    M_CPU=$(sub "$OWN_CPU" "$M_CPU0")
    M_OTHERS=$(awk -v b0="$M_BUSY0" -v b1="$busy" -v c="$M_CPU" 'BEGIN { o = b1 - b0 - c; printf "%.1f", (o < 0) ? 0 : o }')
}

# ---------------------------------------------------------------- checking the wheels
# check_wheels DIR: one +computecanada wheel per Python in DIR, each passing `wheelwright
# verify`. Prints "valid" or what is wrong; returns 1 when something is.
check_wheels() {
    local dir=$1 minor tag found problems=()
    for minor in "${PYTHON_LIST[@]}"; do
        tag=cp${minor/./}
        found=$(find "$dir" -maxdepth 2 -name "*-$tag-*.whl" -type f | sort)
        if [[ -z $found ]]; then
            problems+=("no $tag wheel")
        elif [[ $(wc -l <<<"$found") -ne 1 ]]; then
            problems+=("several $tag wheels")
        elif [[ $(basename "$found") != *+computecanada* ]]; then
            problems+=("$(basename "$found"): no +computecanada")
        elif ! "$WW" verify "$found" >"$RUN/verify.log" 2>&1; then
            problems+=("$(basename "$found") fails wheelwright verify: $(grep -m1 -v '^$' "$RUN/verify.log")")
        fi
    done
    if [[ ${#problems[@]} -eq 0 ]]; then
        echo "valid (${#PYTHON_LIST[@]} wheels, wheelwright verify)"
    else
        local IFS=';'
        echo "INVALID: ${problems[*]}"
        return 1
    fi
}

# ---------------------------------------------------------------- the baseline
# Per-step seconds of the last baseline run, summed over the Pythons.
declare -A BSTEP
BSTEP_ORDER=(venv "build deps" "pip freeze" download unpack+prep compile "local version" "numpy check" "test venv" "test install" "import + pip check")
B_FAIL=""

# step NAME CMD...: runs CMD, adds its seconds to BSTEP[NAME]; output goes to $STEP_LOG.
step() {
    local name=$1 start end rc=0
    shift
    start=$EPOCHREALTIME
    "$@" >>"$STEP_LOG" 2>&1 || rc=$?
    end=$EPOCHREALTIME
    BSTEP[$name]=$(add "${BSTEP[$name]:-0}" "$(elapsed "$start" "$end")")
    if [[ $rc -ne 0 ]]; then
        B_FAIL="$name failed (exit $rc): $*"
        return "$rc"
    fi
}

# baseline_cell PYTHON MINOR WORKDIR WHEELHOUSE NOCACHE: one Python, build_wheel.sh's steps.
# NOCACHE is "--no-cache" (as build_wheel.sh) or "" (pip's cache, PIP_CACHE_DIR).
baseline_cell() {
    local python=$1 minor=$2 workdir=$3 wheelhouse=$4 nocache=$5
    local pvdir=python-$minor build_env test_env archive src wheel requires
    local -a nocache_args=()
    if [[ -n $nocache ]]; then nocache_args=("$nocache"); fi
    cd "$workdir"
    build_env=$workdir/build_$pvdir
    test_env=$workdir/test_$pvdir
    # setup: python -m venv build_$PVDIR; wrapped_pip_install $PYTHON_DEPS_DEFAULT; pip freeze
    step venv "$python" -m venv "$build_env" || return
    # The sdist's [build-system] requires are only known after the download; build_wheel.sh
    # installs its defaults first. biopython 1.85 has no pyproject.toml: setuptools and wheel.
    step "build deps" "$build_env/bin/pip" install 'setuptools>70' 'pip>=25.0,<25.3' wheel \
        "${nocache_args[@]}" --find-links="$wheelhouse" || return
    step "pip freeze" "$build_env/bin/pip" freeze || return
    # download: pip download -v --no-cache --no-binary $PACKAGE --no-use-pep517
    #           --no-build-isolation --no-deps $PACKAGE==$VERSION
    mkdir -p "$pvdir"
    if ! step download "$build_env/bin/pip" download -v "${nocache_args[@]}" --no-binary "$PACKAGE" \
        --no-use-pep517 --no-build-isolation --no-deps "$PACKAGE==$VERSION"; then
        # build_wheel.sh: "does not support disabling PEP 517. Trying again without --no-use-pep517"
        B_FAIL=""
        step download "$build_env/bin/pip" download -v "${nocache_args[@]}" --no-binary "$PACKAGE" \
            --no-build-isolation --no-deps "$PACKAGE==$VERSION" || return
    fi
    archive=$(find . -maxdepth 1 -type f \( -name '*.tar.gz' -o -name '*.zip' \) | head -n1)
    [[ -n $archive ]] || { B_FAIL="download: no archive saved"; return 1; }
    # Extract, pushd into the tree, PRE_BUILD_COMMANDS_DEFAULT, verify_and_patch_arch_flags.
    # shellcheck disable=SC2016 # expanded by the inner bash
    step unpack+prep bash -c '
        unzip "$1" -d "$2" >/dev/null 2>&1 || tar xf "$1" -C "$2"
        cd "$2"/* && pwd >"$3"
        sed -i -e "s/\([^\.]\)distutils.core/\1setuptools/g" setup.py 2>/dev/null || true
        sed -i -e "/^\s*license\s*=\s*\"[^\"]*\"\s*$/d" pyproject.toml 2>/dev/null || true
        grep -rl --exclude-dir="doc*" --exclude="*.md" --exclude="README*" --exclude="INSTALL*" \
            --exclude="*.tex" --exclude=NEWS -- "-march=native" . || true
        grep -rl --exclude-dir="doc*" --exclude="*.md" --exclude="README*" --exclude="INSTALL*" \
            --exclude="*.tex" --exclude=NEWS -- "-xHost" . || true
    ' bash "$archive" "$pvdir" "$workdir/srcdir.$minor" || return
    src=$(cat "$workdir/srcdir.$minor")
    if [[ -f $src/pyproject.toml ]]; then
        requires=$("$build_env/bin/python" -c '
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print("\n".join(tomllib.load(f).get("build-system", {}).get("requires", [])))' "$src/pyproject.toml" 2>/dev/null || true)
        if [[ -n $requires ]]; then
            mapfile -t requires_list <<<"$requires"
            step "build deps" "$build_env/bin/pip" install "${requires_list[@]}" "${nocache_args[@]}" \
                --find-links="$wheelhouse" || return
        fi
    fi
    # build: pip wheel -vvv --no-deps --no-build-isolation . when there is a pyproject.toml,
    # else python setup.py bdist_wheel; then cp dist/*.whl .
    cd "$src"
    if [[ -f pyproject.toml ]]; then
        step compile env PATH="$build_env/bin:$PATH" VIRTUAL_ENV="$build_env" \
            "$build_env/bin/pip" wheel -vvv --no-deps --no-build-isolation . || return
    else
        step compile env PATH="$build_env/bin:$PATH" VIRTUAL_ENV="$build_env" \
            "$build_env/bin/python" setup.py bdist_wheel || return
    fi
    [[ -d dist ]] && cp dist/*.whl .
    wheel=$(find . -maxdepth 1 -name '*.whl' -type f | head -n1)
    [[ -n $wheel ]] || { B_FAIL="the build left no wheel"; return 1; }
    wheel=${wheel#./}
    # manipulate_wheels.py --insert_local_version --inplace --wheels $WHEEL_NAME; cp to the wheelhouse
    step "local version" "$WW" manipulate --insert-local-version --inplace "$wheel" || return
    wheel=$(find . -maxdepth 1 -name '*+computecanada*.whl' -type f | head -n1)
    [[ -n $wheel ]] || { B_FAIL="no +computecanada wheel after manipulate"; return 1; }
    wheel=${wheel#./}
    cp "$wheel" "$wheelhouse/"
    cd "$workdir"
    rm -f "$archive"
    # adjust_numpy_requirements_based_on_link_info: unzip, grep the .so files for numpy's API
    # message (biopython has none, so nothing is pinned).
    # shellcheck disable=SC2016 # expanded by the inner bash
    step "numpy check" bash -c '
        tmp=$(mktemp -d) && cd "$tmp" && unzip -qn "$1"
        sos=$(find . -name "*.so")
        [[ -z $sos ]] || grep -l "module compiled against API version .* but this version of numpy is .*" $sos || true
        cd / && rm -rf "$tmp"
    ' bash "$wheelhouse/$wheel" || return
    # test_whl, like ours: a fresh venv, the wheel with its dependencies, import, pip check.
    step "test venv" "$python" -m venv "$test_env" || return
    step "test install" "$test_env/bin/pip" install "${nocache_args[@]}" --find-links="$wheelhouse" \
        "$wheelhouse/$wheel" || return
    mkdir -p "$workdir/scratch"
    cd "$workdir/scratch"
    step "import + pip check" "$test_env/bin/python" -c "import $IMPORT_NAME" || return
    step "import + pip check" "$test_env/bin/pip" check || return
    cd "$workdir"
}

# baseline NAME SLUG NOCACHE: all Pythons in turn; sets M_WALL, M_CPU, M_OTHERS, C_COMPILE,
# C_STATUS, C_FLAGS and BSTEP (seconds per step, summed over the Pythons).
baseline() {
    local name=$1 dir=$RUN/$2 nocache=$3 minor key
    local workdir=$dir/work wheelhouse=$dir/out
    rm -rf "$dir"
    mkdir -p "$workdir" "$wheelhouse"
    STEP_LOG=$dir/steps.log
    BSTEP=()
    B_FAIL=""
    note "$name: $PACKAGE $VERSION for $PYTHONS"
    measure_start
    for minor in "${PYTHON_LIST[@]}"; do
        # A subshell keeps each Python's cd's and variables apart, as build_wheel.sh's module
        # loads and venv activations are; its step times come back through a file.
        # shellcheck disable=SC2030,SC2031 # on purpose: merged below
        (
            BSTEP=()
            B_FAIL=""
            baseline_cell "${INTERPRETER[$minor]}" "$minor" "$workdir" "$wheelhouse" "$nocache" || B_FAIL=${B_FAIL:-failed}
            declare -p BSTEP | sed 's/^declare -A BSTEP=/CELLSTEP=/' >"$dir/steps.$minor"
            printf 'CELLFAIL=%q\n' "$B_FAIL" >>"$dir/steps.$minor"
        )
        local -A CELLSTEP=()
        local CELLFAIL=""
        # shellcheck disable=SC1090 # written just above
        source "$dir/steps.$minor"
        # shellcheck disable=SC2031 # the parent's BSTEP, on purpose
        for key in "${!CELLSTEP[@]}"; do BSTEP[$key]=$(add "${BSTEP[$key]:-0}" "${CELLSTEP[$key]}"); done
        if [[ -n $CELLFAIL ]]; then
            B_FAIL="python $minor: $CELLFAIL"
            tail -n 30 "$STEP_LOG" >&2
            break
        fi
    done
    measure_stop
    C_COMPILE=${BSTEP[compile]:-0}
    if [[ -n $B_FAIL ]]; then
        C_STATUS="FAILED: $B_FAIL"
    else
        C_STATUS=$(check_wheels "$wheelhouse") || true
    fi
    C_FLAGS=$(compile_flags "$STEP_LOG")
    note "$name: ${M_WALL}s wall, ${M_CPU}s CPU, ${M_OTHERS}s CPU used by others ($C_STATUS)"
}

# ---------------------------------------------------------------- ours
# stamp: prefixes each line with the time it arrived.
stamp() {
    local line
    while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done
}

# ours NAME SLUG CACHES CFLAGS_MODE [EXTRA ARGS...]: runs wheelbuild with uv's, pip's and its
# own source cache under CACHES (uv/, pip/, source/). CFLAGS_MODE "matched" sets CFLAGS and
# CXXFLAGS to Python's own CFLAGS, which wheelbuild then appends the arch flags to; "as-is"
# leaves them unset. Sets M_WALL, M_CPU, M_OTHERS, C_COMPILE, C_STATUS, C_FLAGS, OURS_JSON,
# OURS_LOG.
ours() {
    local name=$1 dir=$RUN/$2 caches=$3 mode=$4 rc
    shift 4
    local -a flags_env=(-u CFLAGS -u CXXFLAGS) minor
    if [[ $mode == matched ]]; then flags_env=("CFLAGS=$PY_CFLAGS" "CXXFLAGS=$PY_CFLAGS"); fi
    # The baseline's interpreters (wheelbuild looks at python3.X on PATH before pyenv's).
    for minor in "${PYTHON_LIST[@]}"; do flags_env+=("WHEELWRIGHT_PYTHON_${minor/./_}=${INTERPRETER[$minor]}"); done
    rm -rf "$dir"
    mkdir -p "$dir/cwd" "$dir/out" "$dir/work" "$caches/uv" "$caches/pip" "$caches/source"
    OURS_JSON=$dir/report.json
    OURS_LOG=$dir/stderr.log
    note "$name: $PACKAGE $VERSION for $PYTHONS"
    measure_start
    printf '%s (started)\n' "$M_START" >"$OURS_LOG"
    set +e
    (cd "$dir/cwd" && exec env "${flags_env[@]}" UV_CACHE_DIR="$caches/uv" PIP_CACHE_DIR="$caches/pip" \
        "$WB" -vv --package "$PACKAGE" --version "$VERSION" --python "$PYTHONS" --output "$dir/out" \
        --work-dir "$dir/work" --cache-dir "$caches/source" --test-deps-from-pypi --json "$@" \
        2>&1 >"$OURS_JSON") | stamp >>"$OURS_LOG"
    rc=${PIPESTATUS[0]}
    set -e
    measure_stop
    printf '%s (ended)\n' "$EPOCHREALTIME" >>"$OURS_LOG"
    C_COMPILE=$(jq -r '.compile_seconds // 0' "$OURS_JSON" 2>/dev/null || echo 0)
    # The interpreters it built with, from its `uv venv --python X` (or `X -m venv`) lines.
    OURS_PYTHONS=$(sed -n -e 's/.* venv .*--python \([^ ]*\) .*/\1/p' -e 's/.*DEBUG python -m venv: \([^ ]*\) .*/\1/p' "$OURS_LOG" | sort -u | paste -sd' ' -)
    local -a logs
    mapfile -t logs < <(find "$dir/work" -name build.log -type f)
    C_FLAGS=$(compile_flags "${logs[@]}")
    if [[ $rc -ne 0 ]]; then
        C_STATUS="FAILED (exit $rc)"
        tail -n 30 "$OURS_LOG" >&2
        jq -r '.cells[]? | select(.error) | "error (\(.python)): \(.error)"' "$OURS_JSON" >&2 2>/dev/null || true
    else
        C_STATUS=$(check_wheels "$dir/out") || true
    fi
    note "$name: ${M_WALL}s wall, ${M_CPU}s CPU, ${M_OTHERS}s CPU used by others ($C_STATUS)"
}

# compile_flags LOG...: the flags of the first C compile line in the logs (-I, -c, -o dropped).
compile_flags() {
    local line
    line=$(cat "$@" 2>/dev/null | grep -m1 -E '^[[:space:]]*[^[:space:]]*(gcc|cc|clang)[^[:space:]]* .* -c ' || true)
    if [[ -z $line ]]; then
        echo "(no compile line found)"
    else
        tr -s ' \t' '\n' <<<"$line" | grep '^-' | grep -v -E '^-(I.*|c|o)$' | paste -sd' ' -
    fi
}

# our_steps LOG: seconds per kind of step, from the stamped -vv log. A debug line
# "DEBUG <what>: <command>" is written as the command starts; the next line's stamp is (about)
# when it ended. Time between the end of one command and the next start is "in-process".
our_steps() {
    sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
        {
            t = $1 + 0
            line = substr($0, index($0, " ") + 1)
            # Events: log lines, progress lines, the start and end marks; not the continuation
            # lines of a multi-line command.
            if (line !~ /^ *(TRACE|DEBUG|INFO|WARN|ERROR) |^wheelbuild: |^\((started|ended)\)$/) next
            # A command runs from its line to the next event; any other time is in-process.
            if (current != "") { sum[current] += t - began; current = "" }
            else if (prev != "") inproc += t - prev
            if (match(line, /DEBUG [^:]*: \//)) {
                current = substr(line, RSTART + 6, RLENGTH - 9); began = t
                if (!(current in seen)) { seen[current] = 1; order[++n] = current }
            }
            prev = t
        }
        END {
            for (i = 1; i <= n; i++) printf "%s\t%.1f\n", order[i], sum[order[i]]
            printf "%s\t%.1f\n", "(in-process and between commands)", inproc
        }'
}

# ---------------------------------------------------------------- the runs
# Each contender's best run (the least wall time) is kept: R_*[KEY].
KEYS=()
declare -A R_NAME R_WALL R_CPU R_OTHERS R_COMPILE R_STATUS R_FLAGS R_PARALLEL R_RUNS
STATUS_OK=1
BEST=0
# record KEY NAME PARALLEL: files the measurement just taken; BEST=1 when it is KEY's best so far.
record() {
    local key=$1
    BEST=0
    [[ -n ${R_NAME[$key]:-} ]] || KEYS+=("$key")
    R_NAME[$key]=$2
    R_PARALLEL[$key]=$3
    R_RUNS[$key]="${R_RUNS[$key]:+${R_RUNS[$key]} }$M_WALL"
    if [[ $C_STATUS != valid* ]]; then
        STATUS_OK=0
        R_STATUS[$key]=$C_STATUS
        return
    fi
    if [[ -z ${R_WALL[$key]:-} ]] || awk -v a="$M_WALL" -v b="${R_WALL[$key]}" 'BEGIN { exit !(a < b) }'; then
        R_WALL[$key]=$M_WALL R_CPU[$key]=$M_CPU R_OTHERS[$key]=$M_OTHERS
        R_COMPILE[$key]=$C_COMPILE R_STATUS[$key]=$C_STATUS R_FLAGS[$key]=$C_FLAGS
        BEST=1
    fi
}

declare -A BASELINE_STEPS=()
COLD_STEPS="" COLD_CELLS="" WARM_STEPS="" WARM_CELLS=""
for ((round = 1; round <= RUNS; round++)); do
    [[ $RUNS -eq 1 ]] || note "round $round of $RUNS"
    baseline "baseline (build_wheel.sh steps, --no-cache)" "baseline-nocache-$round" --no-cache
    record base "baseline (build_wheel.sh steps, --no-cache)" 0
    if [[ $BEST -eq 1 ]]; then
        BASELINE_STEPS=()
        for key in "${!BSTEP[@]}"; do BASELINE_STEPS[$key]=${BSTEP[$key]}; done
    fi

    # Fresh caches each round: the cold run fills them, the warm runs use them.
    CACHES=$RUN/ours-caches-$round
    ours "ours, cold (empty caches)" "ours-cold-$round" "$CACHES" "$CFLAGS_MODE"
    record cold "ours, cold (empty caches)" 0
    if [[ $BEST -eq 1 ]]; then
        COLD_STEPS=$(our_steps "$OURS_LOG")
        COLD_CELLS=$(jq -r '.cells[] | "\(.python)\t\(.seconds)"' "$OURS_JSON" 2>/dev/null || true)
    fi

    ours "ours, warm (caches filled by the cold run)" "ours-warm-$round" "$CACHES" "$CFLAGS_MODE"
    record warm "ours, warm (caches filled by the cold run)" 0
    if [[ $BEST -eq 1 ]]; then
        WARM_STEPS=$(our_steps "$OURS_LOG")
        WARM_CELLS=$(jq -r '.cells[] | "\(.python)\t\(.seconds)"' "$OURS_JSON" 2>/dev/null || true)
    fi

    if [[ $QUICK -eq 0 ]]; then
        ours "ours, warm, --jobs 1" "ours-warm-j1-$round" "$CACHES" "$CFLAGS_MODE" --jobs 1
        record j2 "ours, warm, --jobs 1" 1
        if [[ $CFLAGS_MODE == as-is ]]; then
            ours "ours, warm, CFLAGS = the interpreter's (-g kept)" "ours-warm-matched-$round" "$CACHES" matched
            record asis "ours, warm, CFLAGS = the interpreter's (-g kept)" 0
        fi
    fi
done

if [[ $QUICK -eq 0 ]]; then
    # Warm pip's cache, untimed: each Python's build venv (pip 25) and test venv (the bundled pip)
    # download what the timed run will install. Run once, after the rounds.
    export PIP_CACHE_DIR=$RUN/pip-cache
    note "warming pip's cache in $PIP_CACHE_DIR (untimed)"
    for minor in "${PYTHON_LIST[@]}"; do
        w=$RUN/pip-warmup-$minor
        "${INTERPRETER[$minor]}" -m venv "$w/build" >/dev/null
        "$w/build/bin/pip" install --quiet 'setuptools>70' 'pip>=25.0,<25.3' wheel >/dev/null 2>&1
        (cd "$w" && "$w/build/bin/pip" download --quiet --no-binary "$PACKAGE" --no-build-isolation \
            --no-deps "$PACKAGE==$VERSION" -d "$w/d" >/dev/null 2>&1)
        "${INTERPRETER[$minor]}" -m venv "$w/test" >/dev/null
        # The wheel's runtime dependencies, as the test venv's pip will fetch them.
        deps=$(tar -xzOf "$w"/d/*.tar.gz --wildcards '*/PKG-INFO' 2>/dev/null | sed -n 's/^Requires-Dist: //p' | grep -v 'extra ==' | sort -u || true)
        if [[ -n $deps ]]; then
            mapfile -t dep_list <<<"$deps"
            "$w/test/bin/pip" download --quiet -d "$w/d" "${dep_list[@]}" >/dev/null 2>&1 || true
        fi
        rm -rf "$w"
    done
    baseline "baseline, pip cache warm" baseline-pipcache ""
    record basewarm "baseline, pip cache warm (one run)" 0
    unset PIP_CACHE_DIR
fi

# ---------------------------------------------------------------- report
BASE=${R_WALL[base]:-}
BASE_CPU=${R_CPU[base]:-}
echo
echo "package:  $PACKAGE $VERSION, import $IMPORT_NAME, CPython $(for m in "${PYTHON_LIST[@]}"; do "${INTERPRETER[$m]}" -c 'import platform; print(platform.python_version())'; done | paste -sd, -)"
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine:  $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
echo "versions: wheelwright $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?') (wheelbuild binary sha256 $WB_SHA...), $(uv --version), $(cc --version 2>/dev/null | head -n1)"
echo "pythons:  baseline: $(for m in "${PYTHON_LIST[@]}"; do printf '%s ' "${INTERPRETER[$m]}"; done)"
echo "          ours:     ${OURS_PYTHONS:-?}"
echo "runs:     best wall time of $RUNS per contender$([[ $QUICK -eq 0 ]] && echo "; the pip-cache baseline once")"
echo
fmt() { awk -v x="$1" 'BEGIN { printf "%.1f", x }'; }
printf '| %-46s | %7s | %7s | %8s | %9s | %8s | %9s | %8s | %s |\n' "contender" "wall s" "CPU s" "others" \
    "compile s" "rest s" "x base" "x base" "wheels"
printf '| %-46s | %7s | %7s | %8s | %9s | %8s | %9s | %8s | %s |\n' "" "" "" "(cores)" "" "" "(wall)" "(CPU)" ""
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..48})" "--------:" "--------:" "---------:" \
    "----------:" "---------:" "----------:" "---------:" "---"
for key in "${KEYS[@]}"; do
    if [[ -z ${R_WALL[$key]:-} ]]; then
        printf '| %-46s | %7s | %7s | %8s | %9s | %8s | %9s | %8s | %s |\n' "${R_NAME[$key]}" - - - - - - - "${R_STATUS[$key]}"
        continue
    fi
    wall=${R_WALL[$key]} compile=${R_COMPILE[$key]}
    if [[ ${R_PARALLEL[$key]} -eq 1 ]]; then
        compile_cell="$(fmt "$compile")*" rest_cell="-"
    else
        compile_cell=$(fmt "$compile") rest_cell=$(fmt "$(sub "$wall" "$compile")")
    fi
    printf '| %-46s | %7s | %7s | %8s | %9s | %8s | %9s | %8s | %s |\n' "${R_NAME[$key]}" "$(fmt "$wall")" \
        "$(fmt "${R_CPU[$key]}")" "$(awk -v o="${R_OTHERS[$key]}" -v w="$wall" 'BEGIN { printf "%.2f", o / w }')" \
        "$compile_cell" "$rest_cell" "$(ratio "$wall" "$BASE")" "$(ratio "${R_CPU[$key]}" "$BASE_CPU")" "${R_STATUS[$key]}"
done
echo
echo "wall s: bash's clock around the contender. CPU s: its processes' user + sys. others (cores):"
echo "CPU time used by everything else on the machine meanwhile, per wall second (0 = a quiet machine)."
echo "compile s: ours, the report's compile_seconds; the baseline, its build steps."
echo "*: compile s of ours is summed over cells built at the same time, so more than the wall time can be."
[[ $RUNS -gt 1 ]] && for key in "${KEYS[@]}"; do echo "runs of ${R_NAME[$key]}: ${R_RUNS[$key]}"; done
echo
echo "C compile flags (the first compile line of each build log):"
for key in "${KEYS[@]}"; do
    [[ -n ${R_FLAGS[$key]:-} ]] && printf '  %-46s %s\n' "${R_NAME[$key]}:" "${R_FLAGS[$key]}"
done
echo
echo "baseline (--no-cache), seconds per step, summed over the ${#PYTHON_LIST[@]} Pythons:"
for key in "${BSTEP_ORDER[@]}"; do
    [[ -n ${BASELINE_STEPS[$key]:-} ]] && printf '  %-36s %7.1f\n' "$key" "${BASELINE_STEPS[$key]}"
done
echo
echo "ours, cold, seconds per step (from the stamped -vv log), summed over the Pythons:"
awk -F'\t' 'NF { printf "  %-36s %7s\n", $1, $2 }' <<<"$COLD_STEPS"
echo "  per cell (report):$(awk -F'\t' 'NF { printf " %s %.1fs", $1, $2 }' <<<"$COLD_CELLS")"
echo
echo "ours, warm, seconds per step:"
awk -F'\t' 'NF { printf "  %-36s %7s\n", $1, $2 }' <<<"$WARM_STEPS"
echo "  per cell (report):$(awk -F'\t' 'NF { printf " %s %.1fs", $1, $2 }' <<<"$WARM_CELLS")"
echo
met() { awk -v r="$1" -v t="$TARGET" 'BEGIN { print (r != "n/a" && r + 0 <= t) ? "met" : "NOT met" }'; }
target_line() { # target_line KEY LABEL
    local r
    [[ -n ${R_WALL[$1]:-} ]] || return 0
    r=$(ratio "${R_WALL[$1]}" "$BASE")
    printf '  %-52s %5sx wall -> %s   (%sx CPU)\n' "$2" "$r" "$(met "$r")" "$(ratio "${R_CPU[$1]}" "$BASE_CPU")"
}
echo "target: ours <= ${TARGET}x the baseline's wall time (reported, not enforced):"
target_line cold "ours cold vs baseline, both cold (the target row):"
target_line warm "ours warm vs baseline:"
target_line j2 "ours warm --jobs 1 vs baseline:"
target_line asis "ours warm, the interpreter's CFLAGS (-g) vs baseline:"
if [[ -n ${R_WALL[basewarm]:-} && -n ${R_WALL[warm]:-} ]]; then
    echo "  ours warm vs the baseline with pip's cache warm: $(ratio "${R_WALL[warm]}" "${R_WALL[basewarm]}")x wall"
fi
if [[ -n $BASE && -n ${R_WALL[cold]:-} ]]; then
    budget=$(awk -v b="$BASE" -v t="$TARGET" 'BEGIN { printf "%.1f", b * t }')
    left=$(awk -v b="$budget" -v c="${R_COMPILE[cold]}" 'BEGIN { printf "%.1f", b - c }')
    if awk -v l="$left" 'BEGIN { exit !(l > 0) }'; then
        echo "  ${TARGET}x is $budget s: with compiling as is ($(fmt "${R_COMPILE[cold]}") s), everything else may take $left s (cold: $(fmt "$(sub "${R_WALL[cold]}" "${R_COMPILE[cold]}")") s)"
    else
        echo "  ${TARGET}x is $budget s: out of reach one Python at a time, compiling alone takes $(fmt "${R_COMPILE[cold]}") s (the baseline's: $(fmt "${R_COMPILE[base]}") s)"
    fi
fi
if [[ $STATUS_OK -ne 1 ]]; then
    echo "bench: a contender did not leave valid wheels" >&2
    exit 1
fi
