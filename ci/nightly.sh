#!/usr/bin/env bash
# The nightly rebuild, as a site runs it from cron or a CI runner on a login node:
#
#   ci/nightly.sh                       # local executor, every core of this machine
#   WHEELWRIGHT_EXECUTOR=slurm ci/nightly.sh
#   ci/nightly.sh --publish             # extra arguments go to `wheelwright nightly run`
#
# Builds wheelwright (release) when needed, plans, builds what changed, writes the reports
# (runs/<run>/report.html, summary.md, result.json) and exits non-zero when a cell failed.
# Set WHEELWRIGHT_NIGHTLY (the config, default ci/nightly.toml) and WHEELWRIGHT_LAYOUT (the
# site's layout) as the site needs.
set -euo pipefail
cd "$(dirname "$0")/.."

config=${WHEELWRIGHT_NIGHTLY:-ci/nightly.toml}
executor=${WHEELWRIGHT_EXECUTOR:-local}
bin=${WHEELWRIGHT_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release --locked --bin wheelwright >&2
    bin=target/release/wheelwright
fi
# uv makes the build and test environments fast (pip is used without it).
if ! command -v uv >/dev/null && [ -f ci/install-test-tools.sh ]; then
    # shellcheck source=install-test-tools.sh
    source ci/install-test-tools.sh >&2
fi

"$bin" nightly plan --config "$config" >&2
status=0
"$bin" nightly run --config "$config" --executor "$executor" "$@" || status=$?
latest=$(ls -1d "$(dirname "$config")"/../nightly/runs/*/ 2>/dev/null | tail -1 || true)
if [ -n "$latest" ] && [ -f "$latest/summary.md" ]; then
    cat "$latest/summary.md"
    # CI systems that show a job summary (GitHub Actions) get the table there too.
    if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
        cat "$latest/summary.md" >> "$GITHUB_STEP_SUMMARY"
    fi
fi
exit "$status"
