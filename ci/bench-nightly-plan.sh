#!/usr/bin/env bash
# Benchmark: a no-op nightly plan (every cell up to date) over N generated recipes x 3 Pythons
# x 3 archs, for N in 100 1000 10000 (or the sizes given). Each recipe takes its source from
# git at a pinned rev, so that its cells are keyed without fetching; the state directory is
# filled from a first plan, as if every cell had been built. Prints the seconds per size.
#
#   ci/bench-nightly-plan.sh [N...]
#
# Real-set mode: a site's build_wheel.sh configs imported into recipes, the box of
# ci/site-in-a-box.sh as the site's stack, every recipe x 3 Pythons x 3 archs planned twice:
# cold (empty caches: every index page fetched, every stack entered) and warm (the same plan
# again, nothing changed). Prints both times and the plan's counts.
#
#   ci/bench-nightly-plan.sh --site CONFIG_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin wheelwright >/dev/null 2>&1
bin=$PWD/target/release/wheelwright
python=$(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.12.*/bin/python3 2>/dev/null | tail -1)
python=${python:-python3}

if [ "${1:-}" = "--site" ]; then
    config_dir=$(cd "${2:?give the config directory of the site}" && pwd)
    work=$(mktemp -d)
    [ -n "${KEEP_BENCH:-}" ] || trap 'rm -rf "$work"' EXIT; echo "work: $work" >&2
    # Cold means cold: the stacks kept across runs live under $XDG_CACHE_HOME.
    export XDG_CACHE_HOME=$work/user-cache
    # The import exits 1 when it refuses some configs: the others are recipes.
    "$bin" recipe import --from-wheels-builder "$config_dir" -o "$work/recipes" --stack gentoo2023:EBROOTGENTOO=/usr > /dev/null || [ -d "$work/recipes" ]
    ci/site-in-a-box.sh "$work/box" "$work/recipes" > /dev/null
    cat > "$work/nightly.toml" <<EOF
packages = []
all_recipes = true
recipes = "recipes"
[matrix]
pythons = ["3.11", "3.12", "3.13"]
archs = ["generic", "x86-64-v3", "x86-64-v4"]
[paths]
cache = "cache"
EOF
    printf "%-6s %10s  %s\n" plan "time (s)" "counts"
    for kind in cold warm; do
        start=$(date +%s.%N)
        "$bin" --layout "$work/box/layout.toml" nightly plan --config "$work/nightly.toml" --json > "$work/$kind.json" 2> "$work/$kind.err" || true
        end=$(date +%s.%N)
        "$python" - "$work/$kind.json" "$start" "$end" "$kind" <<'PY'
import collections, json, sys
try:
    plan = json.load(open(sys.argv[1]))
except ValueError:
    print(f"{sys.argv[4]:<6} the plan stopped: see {sys.argv[1].replace('.json', '.err')}")
    sys.exit(0)
cells = [cell for package in plan["packages"] for cell in package["cells"]]
causes = collections.Counter(package["cause"] for package in plan["unplannable"])
seconds = float(sys.argv[3]) - float(sys.argv[2])
print(f"{sys.argv[4]:<6} {seconds:>10.1f}  {len(plan['packages']) + len(plan['unplannable'])} recipes: "
      f"{len(plan['packages'])} planned ({len(cells)} cells), {len(plan['unplannable'])} unplannable ("
      + ", ".join(f"{n} {c}" for c, n in sorted(causes.items())) + ")")
PY
    done
    exit 0
fi
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000 10000)
work=$(mktemp -d)
[ -n "${KEEP_BENCH:-}" ] || trap 'rm -rf "$work"' EXIT; echo "work: $work" >&2

printf "%8s %8s %10s %10s\n" recipes cells "plan (s)" "per cell"
for n in "${sizes[@]}"; do
    site=$work/site-$n
    mkdir -p "$site/recipes"
    "$python" - "$site" "$n" <<'PY'
import os, sys
site, n = sys.argv[1], int(sys.argv[2])
rev = "0123456789abcdef0123456789abcdef01234567"
names = []
for i in range(n):
    name = f"pkg{i:05d}"
    names.append(f'"{name}==1.{i % 7}.0"')
    with open(os.path.join(site, "recipes", f"{name}.yaml"), "w") as f:
        f.write(f"package: {name}\nsource:\n  git: file:///nonexistent/{name}.git\n  rev: {rev}\n"
                "environment:\n  CFLAGS_EXTRA: \"{{ cflags }}\"\n")
with open(os.path.join(site, "nightly.toml"), "w") as f:
    f.write("packages = [" + ", ".join(names) + "]\nrecipes = \"recipes\"\n"
            "[matrix]\npythons = [\"3.11\", \"3.12\", \"3.13\"]\n"
            "archs = [\"generic\", \"x86-64-v3\", \"x86-64-v4\"]\n")
PY
    # A first plan gives every cell's key; the state is written as if each had been built.
    "$bin" nightly plan --config "$site/nightly.toml" --json > "$site/plan.json"
    "$python" - "$site" <<'PY'
import json, os, re, sys
site = sys.argv[1]
plan = json.load(open(os.path.join(site, "plan.json")))
for package in plan["packages"]:
    for cell in package["cells"]:
        cid = cell["id"]
        name = re.sub(r"[-_.]+", "-", cid["package"]).lower()
        path = os.path.join(site, "nightly", "state", "cells", name, cid["layer"],
                            f"py{cid['python']}-{cid['arch']}.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        json.dump({"version": package["version"], "key": cell["key"], "inputs": cell["inputs"],
                   "state": "built", "reason": None, "wheel": None, "run": "bench",
                   "finished": 0, "requires": []}, open(path, "w"))
PY
    start=$(date +%s.%N)
    "$bin" nightly plan --config "$site/nightly.toml" --json > "$site/noop.json"
    end=$(date +%s.%N)
    cells=$("$python" -c "import json,sys; p=json.load(open(sys.argv[1])); c=[x for q in p['packages'] for x in q['cells']]; assert all(x['state']=='up-to-date' for x in c), 'not all up to date'; print(len(c))" "$site/noop.json")
    "$python" -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); n=int(sys.argv[3]); print(f'{sys.argv[4]:>8} {n:>8} {s:>10.3f} {s/n*1e6:>8.0f}us')" "$start" "$end" "$cells" "$n"
done
