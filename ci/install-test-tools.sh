# shellcheck shell=bash
# Installs the tools the slow, real-wheel tests need (`uv` and `wheel`) into a tools venv
# and puts them on PATH.
#
#   source ci/install-test-tools.sh    # then `uv` and `wheel` are on PATH in this shell
#   ci/install-test-tools.sh           # prints the `export PATH=...` line to eval instead
#
# Only `uv`, `uvx` and `wheel` are exposed (through symlinks in a directory of their own),
# so sourcing does not shadow `python3` or `pip` with the venv's.
#
# The venv is created with a pyenv CPython 3.12 (3.13, 3.11, 3.10 as fall-backs), found by
# full path under $PYENV_ROOT, `pyenv root` or ~/.pyenv: pyenv shims only run the global
# version. It lives in target/ci-tools, which the `/target` line of .gitignore already covers
# (and `cargo clean` removes; the next run reinstalls).
#
# Idempotent: when the venv already holds the requested versions nothing is downloaded.
#
# Environment:
#   WHEELWRIGHT_CI_TOOLS   the venv directory            [default: <repo>/target/ci-tools]
#   WHEELWRIGHT_UV_SPEC    the uv requirement to install  [default: uv==0.13.9]
#   WHEELWRIGHT_WHEEL_SPEC the wheel requirement          [default: wheel==0.48.0]

# Everything runs in a subshell with strict error handling, so that sourcing this file never
# changes the caller's shell options; only the PATH line comes back out.
_wheelwright_install_test_tools() (
    set -euo pipefail
    # Stdout carries only the directory to put on PATH; everything else goes to stderr.
    exec 3>&1 1>&2

    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
    tools=${WHEELWRIGHT_CI_TOOLS:-$repo/target/ci-tools}
    uv_spec=${WHEELWRIGHT_UV_SPEC:-uv==0.13.9}
    wheel_spec=${WHEELWRIGHT_WHEEL_SPEC:-wheel==0.48.0}
    exposed=$tools/exposed-bin
    stamp=$tools/.installed

    log() { echo "install-test-tools: $*" >&2; }

    pyenv_root=${PYENV_ROOT:-}
    if [[ -z $pyenv_root ]] && command -v pyenv >/dev/null 2>&1; then
        pyenv_root=$(pyenv root 2>/dev/null || true)
    fi
    pyenv_root=${pyenv_root:-$HOME/.pyenv}

    # The highest patch release of the first of 3.12, 3.13, 3.11, 3.10 found under pyenv.
    find_python() {
        local minor candidate best
        for minor in 12 13 11 10; do
            best=
            while IFS= read -r candidate; do
                [[ -x $candidate/bin/python3 ]] && best=$candidate/bin/python3
            done < <(compgen -G "$pyenv_root/versions/3.$minor.*" | grep -E "/3\.$minor\.[0-9]+$" | sort -V || true)
            if [[ -n $best ]]; then
                echo "$best"
                return 0
            fi
        done
        return 1
    }

    wanted="$uv_spec $wheel_spec"
    if [[ -f $stamp && $(cat "$stamp") == "$wanted" && -x $exposed/uv && -x $exposed/wheel ]] \
        && "$exposed/uv" --version >/dev/null 2>&1 && "$exposed/wheel" version >/dev/null 2>&1; then
        log "up to date in $tools ($wanted)"
    else
        python=$(find_python) || {
            log "error: no CPython 3.10-3.13 under $pyenv_root/versions (set PYENV_ROOT?)"
            exit 1
        }
        if [[ ! -x $tools/bin/python ]] || ! "$tools/bin/python" -c 'import sys' >/dev/null 2>&1; then
            log "creating the tools venv $tools with $python"
            rm -rf "$tools"
            "$python" -m venv "$tools"
        fi
        log "installing $wanted into $tools"
        "$tools/bin/python" -m pip install --quiet --disable-pip-version-check "$uv_spec" "$wheel_spec"
        mkdir -p "$exposed"
        for tool in uv uvx wheel; do
            ln -sfn "../bin/$tool" "$exposed/$tool"
        done
        "$exposed/uv" --version
        "$exposed/wheel" version
        echo "$wanted" >"$stamp"
    fi
    echo "$exposed" >&3
)

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
    # Sourced: install, then put the tools at the front of this shell's PATH (only once).
    if _wheelwright_tools_bin=$(_wheelwright_install_test_tools); then
        case ":$PATH:" in
            *":$_wheelwright_tools_bin:"*) ;;
            *) export PATH="$_wheelwright_tools_bin:$PATH" ;;
        esac
        unset _wheelwright_tools_bin
        unset -f _wheelwright_install_test_tools
    else
        unset _wheelwright_tools_bin
        unset -f _wheelwright_install_test_tools
        echo "install-test-tools: failed" >&2
        return 1
    fi
else
    # Executed: print the line to eval.
    _wheelwright_tools_bin=$(_wheelwright_install_test_tools) || exit 1
    printf 'export PATH=%q:"$PATH"\n' "$_wheelwright_tools_bin"
fi
