#!/usr/bin/env bash
# Benchmark (not a test): staging M new wheels into a wheelhouse tree that already holds N
# (generated), with `cp-wheels`, side by side with plain `cp` and with cp_wheels.sh's approach
# (one `find` over the whole tree per wheel), for several tree sizes to show how time grows
# with the tree.
#
# Usage:
#   ci/bench-cp-wheels.sh [--tree-size N] [--sizes "0 10000 50000"] [--new M] [--runs R]
#                         [--wheelwright PATH] [--no-ours] [--ours-arg ARG]... [--seed S]
#                         [--sample K] [--budget SECONDS]
#
#   --tree-size N      the largest tree, where the target is judged [50000]
#   --sizes "LIST"     the tree sizes, smallest first in the table ["0 N/5 N": "0 10000 50000"];
#                      the target is judged at the largest
#   --new M            new wheels to stage [1000]
#   --runs R           timed runs of each contender per tree size, the median kept [3]
#   --wheelwright PATH the cp-wheels binary [target/release/cp-wheels, built with
#                      `cargo build --release --bin cp-wheels` when missing]
#   --no-ours          time only the baselines (cp, cp + sync, the cp_wheels.sh approach)
#   --ours-arg ARG     one more argument for every cp-wheels run (repeatable)
#   --seed S           the generator's seed [1]
#   --sample K         wheels the cp_wheels.sh approach runs on when a full run of it would
#                      take longer than --budget; its time is then extrapolated to M [100]
#   --budget SECONDS   see --sample [300]
#
# Environment:
#   BENCH_CACHE   scratch space [$REPO/bench-cache]: the generated staging directory is kept
#                 there (cp-wheels-staging/seedS-newM-<generator hash>) and reused; trees and
#                 runs live in a run directory removed at the end unless BENCH_KEEP=1
#   BENCH_PYTHON  the Python for ci/gen_wheelhouse.py [the newest $PYENV_ROOT/versions/3.12.*, else python3]
#
# Data (ci/gen_wheelhouse.py): for each tree size a tree of generated wheels spread over the
# layout's directories like a real wheelhouse (hard links to a few template wheels: names
# and sizes are what a tree reader sees), and once M new, valid wheels (~75% pure, ~25%
# compiled cp311-cp313 with a real ELF library, plain x86-64, with a RUNPATH into the 2023
# stack; most 20-500 KB, ~5% 2-20 MB), checked with `gen_wheelhouse.py --verify` when
# generated. A TSV manifest gives each new wheel's destination, as wheel_architecture.sh and
# `wheelwright inspect` classify it: generic/ for pure wheels, gentoo2023/generic/ for
# compiled ones.
#
# Contenders, on the same tree and the same wheels; each run starts from the same tree (the
# previous run's wheels are removed, and the tree's listing compared with the original) and a
# fresh staging directory (hard links to the generated one), with caches warm (staged wheels
# read and the tree walked first; no drop_caches, which needs root) and `sync` first:
#   cp                 one `cp -t DEST` per destination directory with all its wheels
#   cp + sync          the same, then `sync FILES... DIRS...` (fsync of every placed wheel and
#                      of the destination directories): the floor for a durable writer
#   cp_wheels.sh       its loop re-created in bash, per wheel: `find ROOT -not -wholename
#                      "*/generic/*" -name "PKG-*.whl"` (the search for arch-specific copies,
#                      which must find none), `chmod ug+rw,o+r`, `cp -vn` into the destination
#                      (its echo lines and cp -v output go to a log). It is given each wheel's
#                      destination from the manifest: wheel_architecture.sh is NOT run, so the
#                      baseline gets its classification for free (ours classifies every wheel).
#   ours               cp-wheels --from STAGING --layout LAYOUT (fsync, the default), LAYOUT the
#                      repository's wheelhouse-layout.toml with `root` set to the tree
#   ours --no-fsync    the same with --no-fsync: like for like with cp
#   ours, verified before (and --no-fsync): the same wheels after an untimed
#                      `cp-wheels --dry-run` on the same files has verified them: cp-wheels
#                      then knows them (by stat, else by sha256) and checks structure, names
#                      and RECORD's listing without inflating and hashing every member again.
#                      The usual case: a dry run first, or wheels wheelbuild verified when it
#                      wrote them.
#                      The full rows use an empty record of verified wheels for every run.
#   (the cp-wheels placeholder of the releases before issue 5 is detected at the start: then
#   only --no-ours runs)
# The contenders take turns: --runs rounds, each contender once per round. Before the rounds,
# a pilot run of the cp_wheels.sh approach on the sample decides whether its full runs fit
# --budget (if not, every one of its runs is on the sample, and marked ~ in the table).
# Wall seconds are bash's $EPOCHREALTIME around each run; the median of --runs is shown. After
# every run the placed files are checked: for the baselines their sizes, for ours every byte
# (sha256 against the manifest), the number of wheels in the tree (N + M) and no temporary
# file left; the script exits 1 if ours fails a check. The target (ours within 1.5x of plain
# cp: --no-fsync against cp, fsync against cp + sync) is only reported, never failed on.
# Network: none.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${BENCH_CACHE:-$REPO/bench-cache}
GEN=$REPO/ci/gen_wheelhouse.py
TREE_SIZE=50000
SIZES=""
NEW=1000
RUNS=3
CPW=""
OURS=1
OURS_ARGS=()
SEED=1
SAMPLE=100
BUDGET=300
TARGET=1.5

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "bench: error: $*" >&2; exit 2; }
note() { echo "bench: $*" >&2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --tree-size) [[ $# -ge 2 ]] || die "--tree-size needs a number"; TREE_SIZE=$2; shift ;;
        --tree-size=*) TREE_SIZE=${1#--tree-size=} ;;
        --sizes) [[ $# -ge 2 ]] || die "--sizes needs a list"; SIZES=$2; shift ;;
        --sizes=*) SIZES=${1#--sizes=} ;;
        --new) [[ $# -ge 2 ]] || die "--new needs a number"; NEW=$2; shift ;;
        --new=*) NEW=${1#--new=} ;;
        --runs) [[ $# -ge 2 ]] || die "--runs needs a number"; RUNS=$2; shift ;;
        --runs=*) RUNS=${1#--runs=} ;;
        --wheelwright) [[ $# -ge 2 ]] || die "--wheelwright needs a path"; CPW=$2; shift ;;
        --wheelwright=*) CPW=${1#--wheelwright=} ;;
        --no-ours) OURS=0 ;;
        --ours-arg) [[ $# -ge 2 ]] || die "--ours-arg needs an argument"; OURS_ARGS+=("$2"); shift ;;
        --ours-arg=*) OURS_ARGS+=("${1#--ours-arg=}") ;;
        --seed) [[ $# -ge 2 ]] || die "--seed needs a number"; SEED=$2; shift ;;
        --seed=*) SEED=${1#--seed=} ;;
        --sample) [[ $# -ge 2 ]] || die "--sample needs a number"; SAMPLE=$2; shift ;;
        --sample=*) SAMPLE=${1#--sample=} ;;
        --budget) [[ $# -ge 2 ]] || die "--budget needs seconds"; BUDGET=$2; shift ;;
        --budget=*) BUDGET=${1#--budget=} ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
for pair in "tree-size:$TREE_SIZE" "seed:$SEED" "budget:$BUDGET"; do
    [[ ${pair#*:} =~ ^[0-9]+$ ]] || die "--${pair%%:*} must be a number"
done
for pair in "new:$NEW" "runs:$RUNS" "sample:$SAMPLE"; do
    [[ ${pair#*:} =~ ^[1-9][0-9]*$ ]] || die "--${pair%%:*} must be a positive number"
done
[[ -n $SIZES ]] || SIZES="0 $((TREE_SIZE / 5)) $TREE_SIZE"
read -r -a SIZE_LIST <<<"$SIZES"
[[ ${#SIZE_LIST[@]} -ge 1 ]] || die "--sizes: no sizes"
for size in "${SIZE_LIST[@]}"; do
    [[ $size =~ ^[0-9]+$ ]] || die "--sizes: $size is not a number"
done
# Smallest first, no repeats: growth is read from the first.
mapfile -t SIZE_LIST < <(printf '%s\n' "${SIZE_LIST[@]}" | sort -n -u)
(( SAMPLE < NEW )) || SAMPLE=$NEW

# ---------------------------------------------------------------- tools
PYENV_DIR=${PYENV_ROOT:-$HOME/.pyenv}
PYTHON=${BENCH_PYTHON:-}
if [[ -z $PYTHON ]]; then
    # A real interpreter by path, not a pyenv shim.
    PYTHON=$(compgen -G "$PYENV_DIR/versions/3.12.*/bin/python3" | sort -V | tail -n1 || true)
    PYTHON=${PYTHON:-$(command -v python3 || true)}
fi
[[ -n $PYTHON && -x $PYTHON ]] || die "no Python found: set BENCH_PYTHON"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' || die "$PYTHON: Python 3.9 or newer needed"
command -v gcc >/dev/null 2>&1 || die "gcc is needed (compiled wheels carry a library built with it)"

if [[ $OURS -eq 1 ]]; then
    if [[ -z $CPW ]]; then
        CPW=$REPO/target/release/cp-wheels
        if [[ ! -x $CPW ]]; then
            note "no $CPW: cargo build --release --bin cp-wheels"
            (cd "$REPO" && cargo build --release --quiet --bin cp-wheels)
        fi
    fi
    [[ -x $CPW ]] || die "no cp-wheels binary at $CPW"
    CPW=$(cd "$(dirname "$CPW")" && pwd)/$(basename "$CPW")
    # The placeholder of the releases before issue 5 says so on any invocation.
    probe=$("$CPW" --from /nonexistent --layout /nonexistent 2>&1 || true)
    if [[ $probe == *"not yet available"* ]]; then
        die "$CPW is the placeholder cp-wheels (not yet available): build one with issue 5, or time the baselines only with --no-ours"
    fi
fi

mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
WORK=$(mktemp -d "$CACHE/cpw-run.XXXXXX")
cleanup() {
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        note "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the new wheels
# Generated once per seed, count and generator version, and kept in the cache: it is the
# slow part of the data (about 45 s for 1,000 wheels).
GEN_HASH=$(sha256sum "$GEN" | cut -c1-12)
STAGED=$CACHE/cp-wheels-staging/seed$SEED-new$NEW-$GEN_HASH
PRISTINE=$STAGED/staging
MANIFEST=$STAGED/manifest.tsv
if [[ ! -f $STAGED/complete ]]; then
    note "generating $NEW new wheels in $STAGED (once; kept for later runs)"
    rm -rf "$STAGED"
    mkdir -p "$STAGED"
    "$PYTHON" "$GEN" --seed "$SEED" --staging "$PRISTINE" --new "$NEW" --manifest "$MANIFEST"
    "$PYTHON" "$GEN" --verify "$PRISTINE"
    touch "$STAGED/complete"
else
    note "reusing the $NEW new wheels in $STAGED"
fi
# Same file system as the run directory (hard links).
[[ $(stat -c %d "$PRISTINE") == $(stat -c %d "$WORK") ]] || die "$PRISTINE and $WORK are on different file systems"

FILES=() DESTS=() BYTES=() SHAS=()
while IFS=$'\t' read -r file dest bytes sha _; do
    [[ $file == \#* ]] && continue
    FILES+=("$file") DESTS+=("$dest") BYTES+=("$bytes") SHAS+=("$sha")
done <"$MANIFEST"
[[ ${#FILES[@]} -eq $NEW ]] || die "$MANIFEST lists ${#FILES[@]} wheels, not $NEW"
TOTAL_BYTES=$(printf '%s\n' "${BYTES[@]}" | awk '{ s += $1 } END { print s }')
N_COMPILED=$(grep -c $'\tcompiled\t' "$MANIFEST" || true)
N_NEWVERSION=$(grep -c $'\tnew-version$' "$MANIFEST" || true)

# The destination directories, and the staged wheels of each (one `cp` per directory).
UDESTS=()
declare -A DEST_INDEX
for i in "${!FILES[@]}"; do
    dest=${DESTS[i]}
    if [[ -z ${DEST_INDEX[$dest]:-} ]]; then
        DEST_INDEX[$dest]=${#UDESTS[@]}
        UDESTS+=("$dest")
        declare -ga "DEST_FILES_${DEST_INDEX[$dest]}=()"
    fi
    declare -n list="DEST_FILES_${DEST_INDEX[$dest]}"
    list+=("${FILES[i]}")
    unset -n list
done

# The sample of the cp_wheels.sh approach: every (M/K)th wheel, so its size mix is the whole's.
SAMPLE_IDX=()
for ((k = 0; k < SAMPLE; k++)); do SAMPLE_IDX+=($((k * NEW / SAMPLE))); done
ALL_IDX=("${!FILES[@]}")

# ---------------------------------------------------------------- helpers
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b > 0) printf "%.2f", a / b; else print "-" }'; }
secs() { if [[ -z $1 ]]; then echo "-"; else printf '%.3f' "$1"; fi; }
mb() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1e6 }'; }

# TREE, RUN_STAGE, PLACED (absolute destination of each new wheel) and LISTING are set per
# tree size below.
RUN_STAGE=$WORK/staging

# prepare: a fresh staging directory and warm caches, nothing of the new wheels in the tree,
# dirty data flushed.
prepare() {
    rm -rf "$RUN_STAGE"
    cp -al "$PRISTINE" "$RUN_STAGE"
    cat "$PRISTINE"/*.whl >/dev/null
    find "$TREE" >/dev/null
    sync
}

# restore: removes what the run placed and checks that the tree is as generated again.
# cp-wheels' own top-level files (.wheelwright*: its lock, its list of unpublished wheels)
# are removed too; anything else new fails the benchmark (something landed where it should not).
restore() {
    rm -f -- "${PLACED[@]}"
    rm -rf "$RUN_STAGE"
    find "$TREE" -maxdepth 1 -name '.wheelwright*' -type f -delete
    # The baseline's chmod went through the hard links to the generated wheels.
    chmod 0644 -- "$PRISTINE"/*.whl
    if ! find "$TREE" -mindepth 1 -printf '%P\n' | LC_ALL=C sort | cmp -s - "$LISTING"; then
        find "$TREE" -mindepth 1 -printf '%P\n' | LC_ALL=C sort | diff "$LISTING" - | head -n 20 >&2 || true
        echo "bench: FAILED: the tree differs from the generated one after removing the new wheels (above)" >&2
        exit 1
    fi
}

# check_sizes IDX...: the wheels at those indices are in place with their sizes; prints
# the problems, returns 1 if any.
check_sizes() {
    local i k bad=0 paths=() expected=() actual=()
    for i in "$@"; do
        if [[ ! -f ${PLACED[i]} ]]; then
            echo "  ${DESTS[i]}/${FILES[i]}: missing" >&2
            bad=1
        fi
        paths+=("${PLACED[i]}") expected+=("${BYTES[i]}")
    done
    [[ $bad -eq 0 ]] || return 1
    mapfile -t actual < <(stat -c %s -- "${paths[@]}")
    for k in "${!paths[@]}"; do
        if [[ ${actual[k]:-} != "${expected[k]}" ]]; then
            echo "  ${paths[k]}: ${actual[k]:-?} bytes, expected ${expected[k]}" >&2
            bad=1
        fi
    done
    return $bad
}

# check_ours: every new wheel in its destination with identical bytes, N + M wheels in the
# tree, no temporary file left; fails the benchmark loudly otherwise.
check_ours() {
    local name=$1 problems=0 count
    if ! sha256sum --quiet --strict -c "$WORK/check.sha256" >"$WORK/check.log" 2>&1; then
        problems=1
        echo "bench: FAILED: $name: new wheels missing or not identical in their destination:" >&2
        head -n 20 "$WORK/check.log" >&2
        # Where did they go?
        local i shown=0
        for i in "${ALL_IDX[@]}"; do
            [[ -f ${PLACED[i]} ]] && continue
            find "$TREE" -name "${FILES[i]}" -printf "  found instead: %P\n" >&2
            ((++shown >= 5)) && break
        done
    fi
    count=$(find "$TREE" -name '*.whl' | wc -l)
    if [[ $count -ne $((SIZE + NEW)) ]]; then
        problems=1
        echo "bench: FAILED: $name: $count wheels in the tree, expected $SIZE + $NEW" >&2
    fi
    if [[ -n $(find "$TREE" -name '.wheelwright-*.tmp' -print -quit) ]]; then
        problems=1
        echo "bench: FAILED: $name: temporary files left in the tree:" >&2
        find "$TREE" -name '.wheelwright-*.tmp' | head -n 5 >&2
    fi
    if [[ $problems -ne 0 ]]; then
        echo "bench: its output: $WORK/ours.log (BENCH_KEEP=1 keeps it):" >&2
        tail -n 20 "$WORK/ours.log" >&2
        BENCH_KEEP=1
        exit 1
    fi
}

# timed FUNC ARGS...: runs FUNC; sets T_WALL (seconds) and T_RC.
timed() {
    local start end
    T_RC=0
    start=$EPOCHREALTIME
    "$@" || T_RC=$?
    end=$EPOCHREALTIME
    T_WALL=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.4f", e - s }')
}

# ---------------------------------------------------------------- the contenders
# Each runs in a subshell from the staging directory and reports failure by its status
# (errexit does not apply inside a function called with ||, so every step is checked).

plain_cp() {
    (
        cd "$RUN_STAGE" || exit 1
        local k
        for k in "${!UDESTS[@]}"; do
            local -n files="DEST_FILES_$k"
            cp -t "$TREE/${UDESTS[k]}" -- "${files[@]}" || exit 1
            unset -n files
        done
    )
}

cp_and_sync() {
    plain_cp || return 1
    local dirs=() dest
    for dest in "${UDESTS[@]}"; do dirs+=("$TREE/$dest"); done
    sync -- "${PLACED[@]}" "${dirs[@]}"
}

# cp_wheels.sh's per-wheel steps for a generic wheel, given its destination (see the header).
cp_wheels_sh() {
    (
        cd "$RUN_STAGE" || exit 1
        local i NAME PKGNAME ARCH_WHEELS
        for i in "$@"; do
            NAME=${FILES[i]}
            PKGNAME="${NAME%%-*}"
            ARCH_WHEELS="$(find "$TREE" -not -wholename "*/generic/*" -name "$PKGNAME-*.whl" -printf "%P\n")"
            if [[ -n $ARCH_WHEELS ]]; then
                # cp_wheels.sh would refuse the wheel: the data is not what this benchmark needs.
                echo "bench: arch-specific wheels of $PKGNAME in the tree: $ARCH_WHEELS" >&2
                exit 3
            fi
            echo chmod ug+rw,o+r "$NAME"
            chmod ug+rw,o+r "$NAME" || exit 1
            echo cp -vn "$NAME" "$TREE/${DESTS[i]}"
            cp -vn "$NAME" "$TREE/${DESTS[i]}" || exit 1
        done
    ) >"$WORK/cp_wheels.log"
}

ours() {
    # A fresh, empty record of verified wheels: every member inflated and hashed.
    local verified
    verified=$(mktemp -d "$WORK/verified.XXXXXX")
    WHEELWRIGHT_VERIFIED_CACHE=$verified \
        "$CPW" --from "$RUN_STAGE" --layout "$LAYOUT" "${OURS_ARGS[@]}" "$@" >"$WORK/ours.log" 2>&1
    local rc=$?
    rm -rf "$verified"
    return $rc
}

# ours_pre: the same with the record the untimed dry run of run_pre filled.
ours_pre() {
    WHEELWRIGHT_VERIFIED_CACHE=$WORK/verified-pre \
        "$CPW" --from "$RUN_STAGE" --layout "$LAYOUT" "${OURS_ARGS[@]}" "$@" >"$WORK/ours.log" 2>&1
}

# run_pre NAME ARGS...: like run_one for ours_pre, with an untimed `cp-wheels --dry-run` on the
# same staged files between the preparation and the timed run (a dry run, then the real run).
run_pre() {
    local name=$1
    shift
    prepare
    rm -rf "$WORK/verified-pre"
    WHEELWRIGHT_VERIFIED_CACHE=$WORK/verified-pre \
        "$CPW" --from "$RUN_STAGE" --layout "$LAYOUT" --dry-run >"$WORK/ours-dry.log" 2>&1 ||
        die "the dry run before '$name' failed: $WORK/ours-dry.log"
    sync
    timed ours_pre "$@"
    if [[ $T_RC -ne 0 ]]; then
        tail -n 20 "$WORK/ours.log" >&2
        echo "bench: FAILED: $name exited with status $T_RC on the tree of $SIZE" >&2
        exit 1
    fi
}

# run_one NAME FUNC ARGS...: one timed run of a contender from a prepared tree; dies if it
# fails. Leaves the placed files for the caller's check.
run_one() {
    local name=$1
    shift
    prepare
    timed "$@"
    if [[ $T_RC -ne 0 ]]; then
        local log=$WORK/ours.log
        [[ $1 == cp_wheels_sh ]] && log=$WORK/cp_wheels.log
        [[ -f $log ]] && tail -n 20 "$log" >&2
        echo "bench: FAILED: $name exited with status $T_RC on the tree of $SIZE" >&2
        exit 1
    fi
}

# ---------------------------------------------------------------- the runs
note "staging: $NEW wheels, $(mb "$TOTAL_BYTES") MB ($N_COMPILED compiled, $N_NEWVERSION new versions of projects the trees hold)"
note "tree sizes: ${SIZE_LIST[*]}; $RUNS runs each; caches warm (no drop_caches), sync before every run"
declare -A RESULT     # "<size>:<contender>" -> median seconds
declare -A BASE_MODE  # size -> "full" or "sample"
for SIZE in "${SIZE_LIST[@]}"; do
    TREE=$WORK/tree-$SIZE
    note "tree of $SIZE wheels: generating"
    # (It fails if a new wheel is already in the tree; its per-directory counts are not shown.)
    "$PYTHON" "$GEN" --seed "$SEED" --tree "$TREE" --tree-size "$SIZE" --manifest "$MANIFEST" 2>&1 |
        { grep -v '^gen_wheelhouse:   ' || true; } >&2
    LISTING=$WORK/listing-$SIZE
    find "$TREE" -mindepth 1 -printf '%P\n' | LC_ALL=C sort >"$LISTING"
    PLACED=()
    : >"$WORK/check.sha256"
    for i in "${ALL_IDX[@]}"; do
        PLACED+=("$TREE/${DESTS[i]}/${FILES[i]}")
        printf '%s  %s\n' "${SHAS[i]}" "${PLACED[i]}" >>"$WORK/check.sha256"
    done

    # The layout: the repository's, with `root` set to this tree.
    [[ $TREE != *[\"\\]* ]] || die "the tree path $TREE holds a quote or a backslash"
    LAYOUT=$WORK/layout-$SIZE.toml
    [[ $(grep -c '^root = "wheelhouse"$' "$REPO/wheelhouse-layout.toml") -eq 1 ]] ||
        die "wheelhouse-layout.toml has no single line root = \"wheelhouse\""
    while IFS= read -r line; do
        if [[ $line == 'root = "wheelhouse"' ]]; then
            printf 'root = "%s"\n' "$TREE"
        else
            printf '%s\n' "$line"
        fi
    done <"$REPO/wheelhouse-layout.toml" >"$LAYOUT"

    # The cp_wheels.sh approach: a pilot run on the sample says whether a full run fits the
    # budget.
    run_one "cp_wheels.sh approach (pilot, $SAMPLE wheels)" cp_wheels_sh "${SAMPLE_IDX[@]}"
    check_sizes "${SAMPLE_IDX[@]}" || die "the cp_wheels.sh approach left wrong files (above)"
    restore
    estimate=$(awk -v t="$T_WALL" -v m="$NEW" -v k="$SAMPLE" 'BEGIN { printf "%.1f", t * m / k }')
    if awk -v e="$estimate" -v b="$BUDGET" 'BEGIN { exit !(e > b) }'; then
        BASE_MODE[$SIZE]=sample
        BASE_IDX=("${SAMPLE_IDX[@]}")
        note "  cp_wheels.sh approach: $SAMPLE wheels in ${T_WALL}s, about ${estimate}s for $NEW (over the ${BUDGET}s budget): timing the sample and extrapolating"
    else
        BASE_MODE[$SIZE]=full
        BASE_IDX=("${ALL_IDX[@]}")
        note "  cp_wheels.sh approach: $SAMPLE wheels in ${T_WALL}s, about ${estimate}s for $NEW: timing full runs"
    fi

    declare -A TIMES=()
    for ((run = 1; run <= RUNS; run++)); do
        run_one "cp" plain_cp
        check_sizes "${ALL_IDX[@]}" || die "cp left wrong files (above)"
        restore
        TIMES[cp]+="$T_WALL "
        t_cp=$T_WALL

        run_one "cp + sync" cp_and_sync
        check_sizes "${ALL_IDX[@]}" || die "cp + sync left wrong files (above)"
        restore
        TIMES[cpsync]+="$T_WALL "
        t_cpsync=$T_WALL

        run_one "cp_wheels.sh approach" cp_wheels_sh "${BASE_IDX[@]}"
        check_sizes "${BASE_IDX[@]}" || die "the cp_wheels.sh approach left wrong files (above)"
        restore
        if [[ ${BASE_MODE[$SIZE]} == sample ]]; then
            T_WALL=$(awk -v t="$T_WALL" -v m="$NEW" -v k="$SAMPLE" 'BEGIN { printf "%.4f", t * m / k }')
        fi
        TIMES[base]+="$T_WALL "
        t_base=$T_WALL

        line="tree $SIZE, run $run/$RUNS: cp ${t_cp}s, cp + sync ${t_cpsync}s, cp_wheels.sh ${t_base}s"
        if [[ $OURS -eq 1 ]]; then
            run_one "ours" ours
            check_ours "ours"
            restore
            TIMES[ours]+="$T_WALL "
            line+=", ours ${T_WALL}s"

            run_one "ours --no-fsync" ours --no-fsync
            check_ours "ours --no-fsync"
            restore
            TIMES[nofsync]+="$T_WALL "
            line+=", ours --no-fsync ${T_WALL}s"

            run_pre "ours, verified before"
            check_ours "ours, verified before"
            restore
            TIMES[pre]+="$T_WALL "
            line+=", verified before: ours ${T_WALL}s"

            run_pre "ours --no-fsync, verified before" --no-fsync
            check_ours "ours --no-fsync, verified before"
            restore
            TIMES[prenofsync]+="$T_WALL "
            line+=", --no-fsync ${T_WALL}s"
        fi
        note "  $line"
    done
    for contender in "${!TIMES[@]}"; do
        # shellcheck disable=SC2086 # a list of numbers
        RESULT[$SIZE:$contender]=$(median ${TIMES[$contender]})
    done
    unset TIMES
    rm -rf "$TREE" "$TREE.templates"
done

# ---------------------------------------------------------------- report
LARGEST=${SIZE_LIST[-1]}
SMALLEST=${SIZE_LIST[0]}
echo
echo "data:     $NEW new wheels, $(mb "$TOTAL_BYTES") MB ($((NEW - N_COMPILED)) pure -> generic/, $N_COMPILED compiled -> gentoo2023/generic/; $N_NEWVERSION of them new versions of projects the generated trees hold), seed $SEED"
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine:  $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); $(df -PT "$WORK" | awk 'NR == 2 { print $2 }') under $CACHE"
# shellcheck disable=SC2185 # GNU find prints its version without a path
echo "versions: wheelwright $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?'), $("$PYTHON" --version), $(cp --version | head -n1), $(find --version | head -n1)"
echo "method:   median of $RUNS runs; caches warm (no drop_caches: no root assumed), sync before every run;"
echo "          the cp_wheels.sh approach is given each wheel's destination (wheel_architecture.sh not run)"
for size in "${SIZE_LIST[@]}"; do
    if [[ ${BASE_MODE[$size]} == sample ]]; then
        echo "          tree of $size: the cp_wheels.sh approach ran on $SAMPLE of the $NEW wheels (every $((NEW / SAMPLE))th), its time extrapolated linearly to $NEW"
    fi
done
[[ $OURS -eq 1 ]] || echo "          ours not run (--no-ours)"
echo
printf '| %11s | %8s | %9s | %13s | %8s | %15s | %14s | %24s |\n' "tree wheels" "cp" "cp + sync" "cp_wheels.sh" "ours" "ours --no-fsync" "ours, verified" "ours --no-fsync, verified"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' "------------:" "---------:" "----------:" "--------------:" "---------:" "----------------:" "---------------:" "-------------------------:"
for size in "${SIZE_LIST[@]}"; do
    base=$(secs "${RESULT[$size:base]}")
    [[ ${BASE_MODE[$size]} == sample ]] && base="~$base"
    printf '| %11s | %8s | %9s | %13s | %8s | %15s | %14s | %24s |\n' "$size" "$(secs "${RESULT[$size:cp]}")" \
        "$(secs "${RESULT[$size:cpsync]}")" "$base" "$(secs "${RESULT[$size:ours]:-}")" "$(secs "${RESULT[$size:nofsync]:-}")" \
        "$(secs "${RESULT[$size:pre]:-}")" "$(secs "${RESULT[$size:prenofsync]:-}")"
done
echo "(seconds, median; ~ extrapolated from a sample; \"verified\": the wheels verified before, by a dry run)"
echo
H=("tree wheels" "ours --no-fsync / cp" "ours / (cp + sync)" "ours / cp" "cp_wheels.sh / cp" "cp_wheels.sh ms per wheel" "cp_wheels.sh growth" "ours growth")
FMT='| %11s | %20s | %18s | %9s | %17s | %25s | %19s | %11s |\n'
# shellcheck disable=SC2059 # the format is a variable
printf "$FMT" "${H[@]}"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' "------------:" "---------------------:" "-------------------:" "----------:" "------------------:" "--------------------------:" "--------------------:" "------------:"
for size in "${SIZE_LIST[@]}"; do
    # shellcheck disable=SC2059
    printf "$FMT" "$size" \
        "$(ratio "${RESULT[$size:nofsync]:-}" "${RESULT[$size:cp]}")" \
        "$(ratio "${RESULT[$size:ours]:-}" "${RESULT[$size:cpsync]}")" \
        "$(ratio "${RESULT[$size:ours]:-}" "${RESULT[$size:cp]}")" \
        "$(ratio "${RESULT[$size:base]}" "${RESULT[$size:cp]}")" \
        "$(awk -v t="${RESULT[$size:base]}" -v m="$NEW" 'BEGIN { printf "%.1f", 1000 * t / m }')" \
        "$(ratio "${RESULT[$size:base]}" "${RESULT[$SMALLEST:base]}")" \
        "$(ratio "${RESULT[$size:ours]:-}" "${RESULT[$SMALLEST:ours]:-}")"
done
echo "(growth: time on this tree / time on the tree of $SMALLEST; ours: with fsync)"
echo
# Growth per 10,000 tree wheels, between the smallest and the largest tree.
if [[ $LARGEST -gt $SMALLEST ]]; then
    slope() { awk -v a="$1" -v b="$2" -v n=$((LARGEST - SMALLEST)) 'BEGIN { if (a == "" || b == "") print "-"; else printf "%+.3f s", (b - a) * 10000 / n }'; }
    echo "growth per 10,000 tree wheels (tree of $SMALLEST -> $LARGEST): cp $(slope "${RESULT[$SMALLEST:cp]}" "${RESULT[$LARGEST:cp]}")," \
        "cp_wheels.sh approach $(slope "${RESULT[$SMALLEST:base]}" "${RESULT[$LARGEST:base]}")," \
        "ours $(slope "${RESULT[$SMALLEST:ours]:-}" "${RESULT[$LARGEST:ours]:-}")," \
        "ours --no-fsync $(slope "${RESULT[$SMALLEST:nofsync]:-}" "${RESULT[$LARGEST:nofsync]:-}")"
fi
if [[ $OURS -eq 1 ]]; then
    met() { awk -v a="$1" -v b="$2" -v t="$TARGET" 'BEGIN { print (a <= t * b) ? "met" : "NOT met" }'; }
    r1=$(ratio "${RESULT[$LARGEST:nofsync]}" "${RESULT[$LARGEST:cp]}")
    r2=$(ratio "${RESULT[$LARGEST:ours]}" "${RESULT[$LARGEST:cpsync]}")
    echo "target (tree of $LARGEST): within ${TARGET}x of cp, like for like (ours --no-fsync vs cp): ${r1}x -> $(met "${RESULT[$LARGEST:nofsync]}" "${RESULT[$LARGEST:cp]}")"
    echo "target (tree of $LARGEST): within ${TARGET}x of cp, durable (ours, fsync, vs cp + sync): ${r2}x -> $(met "${RESULT[$LARGEST:ours]}" "${RESULT[$LARGEST:cpsync]}")"
    r3=$(ratio "${RESULT[$LARGEST:prenofsync]}" "${RESULT[$LARGEST:cp]}")
    r4=$(ratio "${RESULT[$LARGEST:pre]}" "${RESULT[$LARGEST:cpsync]}")
    echo "target (tree of $LARGEST), wheels verified before: --no-fsync vs cp ${r3}x -> $(met "${RESULT[$LARGEST:prenofsync]}" "${RESULT[$LARGEST:cp]}"); fsync vs cp + sync ${r4}x -> $(met "${RESULT[$LARGEST:pre]}" "${RESULT[$LARGEST:cpsync]}")"
    echo "check: after every run of ours, all $NEW wheels in their destination with identical bytes (sha256), $NEW more wheels in the tree, no temporary file left"
else
    echo "target: not judged (--no-ours)"
fi
