#!/usr/bin/env bash
# The migration measured: a site's build_wheel.sh configs imported into recipes, the whole set
# planned in a site in a box (ci/site-in-a-box.sh: Debian's libraries behind Lmod modules),
# then a fixed random sample of the plannable recipes built by the nightly (Python 3.12,
# generic, local executor) and, for the same packages and versions, by plain
# `pip wheel --no-deps` with no recipe. Prints the plan's counts by state and cause, then per
# package and in total what each side built, and the cause class of every failure.
#
#   ci/bench-site-night.sh CONFIG_DIR [--patches DIR] [--sample N] [--seed S] [--python 3.12]
#
#   CONFIG_DIR  the site's config directory (wheels_builder's config/); its patches are taken
#               from ../patches when that exists, or from --patches
#   --sample N  how many recipes to build (default 12); --seed S fixes the sample (default 1)
#   KEEP_BENCH=1 keeps the work directory (printed on stderr)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

config_dir=""
patches=""
sample=12
seed=1
python_version=3.12
while [ $# -gt 0 ]; do
    case "$1" in
        --patches) patches=$2; shift 2 ;;
        --sample) sample=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --python) python_version=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "bench-site-night: unknown option $1" >&2; exit 2 ;;
        *) config_dir=$1; shift ;;
    esac
done
if [ -z "$config_dir" ] || [ ! -d "$config_dir" ]; then
    echo "bench-site-night: give the site's config directory (wheels_builder's config/)" >&2
    exit 2
fi
config_dir=$(cd "$config_dir" && pwd)
if [ -z "$patches" ] && [ -d "$config_dir/../patches" ]; then
    patches=$(cd "$config_dir/../patches" && pwd)
fi

pyenv_root=${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")}
python=$(ls -d "$pyenv_root"/versions/"$python_version".*/bin/python3 2>/dev/null | sort -V | tail -1)
if [ -z "$python" ]; then
    echo "bench-site-night: no CPython $python_version under $pyenv_root/versions" >&2
    exit 2
fi
command -v uv >/dev/null || source ci/install-test-tools.sh

cargo build --release --bin wheelwright >/dev/null 2>&1
bin=$repo/target/release/wheelwright
work=$(mktemp -d)
[ -n "${KEEP_BENCH:-}" ] || trap 'rm -rf "$work"' EXIT
echo "work: $work" >&2

echo "== import"
# The box's Gentoo layer is Debian's /usr (its StdEnv sets EBROOTGENTOO=/usr): configs that
# write $EBROOTGENTOO into their commands get the box's root, as they get the site's there.
import_args=(recipe import --from-wheels-builder "$config_dir" -o "$work/recipes" --json
    --stack gentoo2023:EBROOTGENTOO=/usr)
[ -z "$patches" ] || import_args+=(--patches "$patches")
# The import exits 1 when it refuses some configs (it says which): the others are recipes.
"$bin" "${import_args[@]}" > "$work/import.json" || [ -s "$work/import.json" ]
"$python" - "$work/import.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
print(f"configs: {len(report['files'])}; recipes: {report['converted'] + report['converted_with_notes']} "
      f"({report['converted_with_notes']} with notes); refused: {report['refused']}")
PY

echo "== the box"
ci/site-in-a-box.sh "$work/box" "$work/recipes" > "$work/box.txt"
grep -E '^(real|missing|absent|aliases)' "$work/box.txt" || tail -5 "$work/box.txt"
layout=$work/box/layout.toml

echo "== the whole set planned in the box (Python $python_version, every arch)"
cat > "$work/all.toml" <<EOF
packages = []
all_recipes = true
recipes = "recipes"
[matrix]
pythons = ["$python_version"]
[paths]
cache = "cache"
EOF
start=$(date +%s.%N)
set +e
"$bin" --layout "$layout" nightly plan --config "$work/all.toml" --json > "$work/plan.json" 2> "$work/plan.err"
plan_status=$?
set -e
end=$(date +%s.%N)
if ! "$python" -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/plan.json" 2>/dev/null; then
    echo "the plan stopped (exit $plan_status):" >&2
    cat "$work/plan.err" >&2
    exit 1
fi
"$python" - "$work/plan.json" "$start" "$end" <<'PY'
import collections, json, sys
plan = json.load(open(sys.argv[1]))
seconds = float(sys.argv[3]) - float(sys.argv[2])
cells = [cell for package in plan["packages"] for cell in package["cells"]]
states = collections.Counter(cell["state"] for cell in cells)
causes = collections.Counter(package["cause"] for package in plan["unplannable"])
print(f"planned in {seconds:.1f} s: {len(plan['packages'])} packages ({len(cells)} cells: "
      + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) + "), "
      f"{len(plan['unplannable'])} cannot be planned ("
      + ", ".join(f"{n} {c}" for c, n in sorted(causes.items())) + ")")
PY

echo "== a sample of $sample plannable recipes (seed $seed), built by the nightly and by pip"
"$python" - "$work/plan.json" "$sample" "$seed" > "$work/sample.txt" <<'PY'
import json, random, sys
plan = json.load(open(sys.argv[1]))
# Packages with a version to build and no need inside the set (the sample is built alone).
candidates = sorted(
    (package["name"], package["version"])
    for package in plan["packages"]
    if package["version"] and not package["build_needs"] and not package["test_needs"]
    and all(cell["state"] == "build" for cell in package["cells"])
)
random.Random(int(sys.argv[3])).shuffle(candidates)
for name, version in sorted(candidates[: int(sys.argv[2])]):
    print(name, version)
PY
cat "$work/sample.txt"
{
    printf 'packages = ['
    sep=""
    while read -r name version; do printf '%s"%s==%s"' "$sep" "$name" "$version"; sep=", "; done < "$work/sample.txt"
    # A recipe's own source (GitHub, ...) that this machine cannot reach: the index's sdist of
    # the same version, marked `(sdist)` below.
    printf ']\nrecipes = "recipes"\nsdist_fallback = true\n[matrix]\npythons = ["%s"]\narchs = ["generic"]\n' "$python_version"
    printf '[resources]\ntime = "45m"\nmemory = "8G"\n[paths]\ncache = "cache"\n'
} > "$work/sample.toml"

start=$(date +%s)
set +e
"$bin" --layout "$layout" -q nightly run --config "$work/sample.toml" --json > "$work/night.json" 2> "$work/night.err"
set -e
night_seconds=$(( $(date +%s) - start ))

# The same packages and versions with plain pip: no recipe, no modules, build isolation.
mkdir -p "$work/pip"
"$python" -m venv "$work/pip/venv"
"$work/pip/venv/bin/python" -m pip install -q --upgrade pip >/dev/null
start=$(date +%s)
while read -r name version; do
    log=$work/pip/$name.log
    # The package from its sdist; its build requirements as pip takes them (wheels).
    if timeout 45m "$work/pip/venv/bin/python" -m pip wheel --no-deps --no-binary "$name" \
        -w "$work/pip/wheels" "$name==$version" > "$log" 2>&1; then
        echo "$name ok" >> "$work/pip/results.txt"
    else
        echo "$name failed" >> "$work/pip/results.txt"
    fi
done < "$work/sample.txt"
pip_seconds=$(( $(date +%s) - start ))

"$python" - "$work" "$night_seconds" "$pip_seconds" <<'PY'
import json, os, sys
work, night_seconds, pip_seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sample = [line.split() for line in open(os.path.join(work, "sample.txt")) if line.strip()]
try:
    night = json.load(open(os.path.join(work, "night.json")))
    results = {}
    fallback = set()
    for task in night["state"]["tasks"]:
        result = task["status"].get("result", {})
        results[task["id"]["package"].lower()] = result
        if any("sdist_fallback" in reason for reason in task.get("reasons", [])):
            fallback.add(task["id"]["package"].lower())
    for result in night["state"].get("unplannable", []):
        results[result["package"].lower()] = result
except (OSError, ValueError, KeyError):
    print("the nightly run left no result:", open(os.path.join(work, "night.err")).read()[-2000:])
    results, fallback = {}, set()
pip = dict(line.split() for line in open(os.path.join(work, "pip", "results.txt")) if line.strip())
print(f"{'package':<28} {'version':<14} {'wheelwright':<28} pip")
built = {"wheelwright": 0, "pip": 0}
causes = {}
for name, version in sample:
    result = results.get(name.lower(), {})
    state = result.get("state", "no result")
    cause = result.get("cause")
    if state == "built":
        built["wheelwright"] += 1
    else:
        causes[cause or "unknown"] = causes.get(cause or "unknown", 0) + 1
    if pip.get(name) == "ok":
        built["pip"] += 1
    shown = state + (f" [{cause}]" if cause else "") + (" (sdist)" if name.lower() in fallback else "")
    print(f"{name:<28} {version:<14} {shown:<28} {pip.get(name, '?')}")
    if state != "built":
        reason = (result.get("reason") or "").splitlines()
        print(f"    {reason[0][:150] if reason else ''}")
n = len(sample)
print(f"built: wheelwright {built['wheelwright']} of {n} in {night_seconds} s; pip wheel {built['pip']} of {n} in {pip_seconds} s")
if fallback:
    print(f"built from the index's sdist (sdist_fallback: the recipe's source unreachable): {', '.join(sorted(fallback))}")
print("wheelwright's failures by cause: " + (", ".join(f"{c} {k}" for k, c in sorted(causes.items())) or "none"))
PY
