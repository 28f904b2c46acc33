#!/usr/bin/env bash
# Cross-check (run by hand, or in CI's slow step): what `wheelwright inspect --json --no-scan`
# reads from the ELF files of real PyPI wheels, against pyelftools and `auditwheel show`.
#
# Usage:
#   ci/compare-auditwheel.sh [--torch | --no-torch] [--wheel PATH]... [--no-build]
#                            [--reference-only] [--no-auditwheel] [--verbose]
#
#   (default)         numpy 2.2.6, scipy 1.15.3, pillow 11.3.0, cryptography 45.0.7
#                     (CPython 3.12, manylinux_2_17_x86_64), from target/test-cache/wheels
#                     or downloaded there with pip; plus torch 2.7.1 (cp312,
#                     manylinux_2_28_x86_64, ~783 MiB) when a copy is already in
#                     $BENCH_CACHE/wheels or target/test-cache/wheels
#   --torch           torch too, downloaded into $BENCH_CACHE/wheels when missing
#   --no-torch        never torch
#   --wheel PATH      one more wheel to check (repeatable)
#   --no-build        use target/release/wheelwright as it is (default: `cargo build --release`)
#   --reference-only  no wheelwright: pyelftools against auditwheel only (tests this script)
#   --no-auditwheel   skip `auditwheel show` (the slow part: ~3 s numpy, ~10 s scipy, ~25 s torch)
#   --verbose         print pyelftools' reading of every ELF member
#
# Environment:
#   BENCH_CACHE       where the benchmarks keep their downloads [$REPO/bench-cache]
#   COMPARE_PYTHON    the CPython 3.12 to build the venv with [$(pyenv root)/versions/3.12*/bin/python3]
#   WHEELWRIGHT       the binary to check [$REPO/target/release/wheelwright]
#
# Per ELF member of each wheel (ci/compare_auditwheel.py does the work):
#   needed    DT_NEEDED, as a set (and its order: ours keeps the file's order)
#   rpath     DT_RPATH entries split on ':', as a set
#   runpath   DT_RUNPATH entries split on ':', as a set
#   soname    DT_SONAME
#   glibc     the highest GLIBC_x.y version needed, from the GNU version-needs section
# ours (the `elf_files` of `wheelwright inspect --json --no-scan`) against pyelftools reading
# the same member; an ELF member only one side lists is a mismatch too. Per wheel, our `glibc`
# against the highest GLIBC_ version in `auditwheel show --json`'s versioned_symbols (a
# difference due only to the version needs on ld-linux-x86-64.so.2, which auditwheel skips, is
# a note, not a mismatch).
# auditwheel and pyelftools (pinned) are installed from PyPI into the venv target/ci-tools-audit.
# Prints a per-wheel table and each mismatch as `MISMATCH wheel | file | field | ours | theirs`;
# exits 1 on any mismatch, 2 on a usage or setup error.
# Network: only PyPI, through pip (the venv's packages and the wheel downloads).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_CACHE=${BENCH_CACHE:-$REPO/bench-cache}
CACHE=$REPO/target/test-cache/wheels
VENV=$REPO/target/ci-tools-audit
AUDITWHEEL_SPEC=auditwheel==6.8.2
PYELFTOOLS_SPEC=pyelftools==0.33
TORCH=auto
BUILD=1
EXTRA_WHEELS=()
PY_ARGS=()

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "compare: error: $*" >&2; exit 2; }
note() { echo "compare: $*" >&2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --torch) TORCH=yes ;;
        --no-torch) TORCH=no ;;
        --wheel) [[ $# -ge 2 ]] || die "--wheel needs a path"; EXTRA_WHEELS+=("$2"); shift ;;
        --wheel=*) EXTRA_WHEELS+=("${1#--wheel=}") ;;
        --no-build) BUILD=0 ;;
        --reference-only) PY_ARGS+=(--reference-only); BUILD=0 ;;
        --no-auditwheel) PY_ARGS+=(--no-auditwheel) ;;
        --verbose) PY_ARGS+=(--verbose) ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

# ---------------------------------------------------------------- Python and its venv
find_python() {
    if [[ -n ${COMPARE_PYTHON:-} ]]; then
        echo "$COMPARE_PYTHON"
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
    [[ -n $candidate ]] || die "no CPython 3.12 found: set COMPARE_PYTHON"
    echo "$candidate"
}
# Keep the caller's Python settings out of the venv.
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP VIRTUAL_ENV CONDA_PREFIX
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1

VPY=$VENV/bin/python
WANTED="$AUDITWHEEL_SPEC $PYELFTOOLS_SPEC"
if [[ ! -f $VENV/.installed || $(cat "$VENV/.installed") != "$WANTED" ]] \
    || ! "$VPY" -c 'import auditwheel, elftools' >/dev/null 2>&1; then
    PYTHON=$(find_python)
    note "creating the venv $VENV with $PYTHON ($WANTED)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VPY" -m pip install --quiet "$AUDITWHEEL_SPEC" "$PYELFTOOLS_SPEC"
    echo "$WANTED" >"$VENV/.installed"
fi

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

WHEELS=()
WHEELS+=("$(fetch "$CACHE" numpy 2.2.6 manylinux_2_17_x86_64)")
WHEELS+=("$(fetch "$CACHE" scipy 1.15.3 manylinux_2_17_x86_64)")
WHEELS+=("$(fetch "$CACHE" pillow 11.3.0 manylinux_2_17_x86_64)")
WHEELS+=("$(fetch "$CACHE" cryptography 45.0.7 manylinux_2_17_x86_64)")
if [[ $TORCH != no ]]; then
    TORCH_WHEEL=""
    for dir in "$BENCH_CACHE/wheels" "$CACHE"; do
        TORCH_WHEEL=$(compgen -G "$dir/torch-2.7.1-cp312-cp312-manylinux_2_28_x86_64.whl" || true)
        [[ -n $TORCH_WHEEL ]] && break
    done
    if [[ -z $TORCH_WHEEL && $TORCH == yes ]]; then
        TORCH_WHEEL=$(fetch "$BENCH_CACHE/wheels" torch 2.7.1 manylinux_2_28_x86_64)
    fi
    if [[ -n $TORCH_WHEEL ]]; then
        WHEELS+=("$TORCH_WHEEL")
    else
        note "no torch 2.7.1 wheel in $BENCH_CACHE/wheels or $CACHE: skipped (--torch downloads it)"
    fi
fi
for wheel in "${EXTRA_WHEELS[@]}"; do
    [[ -f $wheel ]] || die "no wheel at $wheel"
    WHEELS+=("$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")")
done

# ---------------------------------------------------------------- wheelwright
WW=${WHEELWRIGHT:-$REPO/target/release/wheelwright}
if [[ $BUILD -eq 1 ]]; then
    note "cargo build --release"
    (cd "$REPO" && cargo build --release --quiet)
fi
# What the version line shows: the repository's commit for its own binary, else the path.
if [[ -n ${WHEELWRIGHT:-} ]]; then
    WW_LABEL="wheelwright $WW"
else
    WW_LABEL="wheelwright $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')"
fi
if [[ " ${PY_ARGS[*]} " != *" --reference-only "* ]]; then
    [[ -x $WW ]] || die "no $WW: build it or drop --no-build"
    "$WW" inspect --help >/dev/null 2>&1 || die "$WW has no working \`inspect\` subcommand"
fi

# ---------------------------------------------------------------- compare
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "versions: $WW_LABEL, $("$VPY" --version), $("$VPY" -c 'from importlib.metadata import version as v; print(f"auditwheel {v("auditwheel")}, pyelftools {v("pyelftools")}")')"
exec "$VPY" "$REPO/ci/compare_auditwheel.py" --wheelwright "$WW" --auditwheel "$VENV/bin/auditwheel" \
    ${PY_ARGS[@]+"${PY_ARGS[@]}"} "${WHEELS[@]}"
