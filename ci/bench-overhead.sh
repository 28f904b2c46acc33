#!/usr/bin/env bash
# Benchmark (not a test): wheelbuild's per-package overhead over a bare `pip wheel` of the same
# sdist, for small packages, one Python, warm caches on both sides (a build machine's steady
# state), side by side in one run.
#
# Usage: ci/bench-overhead.sh [--runs N] [--python 3.12] [--no-build] [PKG==VERSION ...]
#        default packages: psutil==7.0.0 simplejson==3.20.1; runs: 3 (best wall time kept)
#
#   bare pip     `python -m pip wheel --no-deps -w OUT SDIST` (build isolation: pip installs
#                the backend into a temporary environment from its warm cache); builds only.
#   ours         `wheelbuild --package PKG --version V --python X.Y` with a warm source cache and
#                uv on PATH (ci/install-test-tools.sh): fetch from the cache, build environment,
#                dynamic build requirements, build, post-process (label, RECORD, verification,
#                classification), smoke test in a fresh environment (install, every import,
#                pip check), staging.
# Each contender runs once untimed first (warming pip's, uv's and the source cache). The
# target, ours <= 1.2x bare pip, is reported, not enforced.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=3
PYTHON_VERSION=3.12
BUILD=1
PACKAGES=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --runs) RUNS=$2; shift ;;
        --python) PYTHON_VERSION=$2; shift ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *==*) PACKAGES+=("$1") ;;
        *) echo "bench: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[[ ${#PACKAGES[@]} -gt 0 ]] || PACKAGES=(psutil==7.0.0 simplejson==3.20.1)

pyenv_root=${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")}
PYTHON=$(compgen -G "$pyenv_root/versions/$PYTHON_VERSION.*" | sort -V | tail -n 1)/bin/python3
[[ -x $PYTHON ]] || { echo "bench: no Python $PYTHON_VERSION under $pyenv_root/versions" >&2; exit 2; }
# shellcheck source=install-test-tools.sh
source "$REPO/ci/install-test-tools.sh"
if [[ $BUILD -eq 1 ]]; then
    (cd "$REPO" && cargo build --release --quiet --bin wheelbuild)
fi
WHEELBUILD=$REPO/target/release/wheelbuild

RUN=$(mktemp -d "${TMPDIR:-/tmp}/wheelwright-overhead.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
export PIP_CACHE_DIR=$RUN/pip-cache UV_CACHE_DIR=$RUN/uv-cache

now() { echo "$EPOCHREALTIME"; }
seconds() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.2f", e - s }'; }
best() { tr ' ' '\n' | sort -g | head -n 1; }

printf '| %-22s | %12s | %12s | %8s | %s |\n' package "bare pip s" "ours s" ratio "target <= 1.2x"
printf '|%s|%s|%s|%s|%s|\n' "------------------------" "--------------" "--------------" "----------" "----------------"
for spec in "${PACKAGES[@]}"; do
    name=${spec%%==*} version=${spec##*==}
    sdists=$RUN/sdists/$name
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
        -d "$sdists" "$spec" >/dev/null 2>&1
    sdist=$(compgen -G "$sdists/*" | head -n 1)
    pip_times=() our_times=()
    for ((round = 0; round <= RUNS; round++)); do
        out=$RUN/pip-out-$name-$round
        start=$(now)
        "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$out" "$sdist" >/dev/null
        end=$(now)
        [[ $round -gt 0 ]] && pip_times+=("$(seconds "$start" "$end")")
        start=$(now)
        (cd "$RUN" && "$WHEELBUILD" -q --package "$name" --version "$version" --python "$PYTHON_VERSION" \
            --output "$RUN/ours-out-$name-$round" --work-dir "$RUN/ours-work-$name" \
            --cache-dir "$RUN/sources") >/dev/null
        end=$(now)
        [[ $round -gt 0 ]] && our_times+=("$(seconds "$start" "$end")")
        compgen -G "$RUN/ours-out-$name-$round/*+computecanada*.whl" >/dev/null \
            || { echo "bench: wheelbuild left no wheel for $spec" >&2; exit 1; }
    done
    pip_best=$(echo "${pip_times[*]}" | best)
    our_best=$(echo "${our_times[*]}" | best)
    ratio=$(awk -v a="$our_best" -v b="$pip_best" 'BEGIN { printf "%.2f", a / b }')
    met=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.2) ? "met" : "NOT met" }')
    printf '| %-22s | %12s | %12s | %7sx | %s |\n' "$spec" "$pip_best" "$our_best" "$ratio" "$met"
    echo "  runs: bare pip ${pip_times[*]}; ours ${our_times[*]}" >&2
done
