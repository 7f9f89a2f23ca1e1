#!/usr/bin/env bash
# Install everything xbarsim needs (ngspice from apt if missing, a virtualenv with the package and
# all its extras) and then run one job:
#   bash bootstrap.sh demo [ARGS]   -> xbarsim demo (the Kim 2024 circuit end to end)
#   bash bootstrap.sh test [ARGS]   -> the whole test suite (pytest)
#   bash bootstrap.sh lint          -> ruff check, ruff format --check and mypy (what CI runs first)
#   bash bootstrap.sh xbarsim ARGS  -> any xbarsim command
# Re-running is cheap: pip is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${XBARSIM_VENV:-.venv}
PY=${PYTHON:-python3}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  echo "bootstrap: apt-get install $*" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v ngspice >/dev/null 2>&1 || missing+=(ngspice)
if ! { ldconfig -p 2>/dev/null | grep -q 'libngspice\.so'; }; then missing+=(libngspice0); fi
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PY" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    apt_install python3-venv
    "$PY" -m venv "$VENV"
  fi
fi
stamp="$VENV/.xbarsim-installed"
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[test]"
  # Compile the native solver's numba kernels once now (cached on disk) rather than in a first solve.
  "$VENV/bin/python" -c "from xbarsim.native.kernels import warm_up; print(f'bootstrap: numba kernels ready in {warm_up():.0f} s')" >&2
  echo "$want" > "$stamp"
fi

job=${1:-demo}
[ $# -gt 0 ] && shift
case "$job" in
  demo) exec "$VENV/bin/xbarsim" demo "$@" ;;
  test) exec "$VENV/bin/python" -m pytest "$@" ;;
  lint)
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    exec "$VENV/bin/mypy" "$@" ;;
  xbarsim) exec "$VENV/bin/xbarsim" "$@" ;;
  *) echo "bootstrap: unknown job '$job' (use demo, test, lint or xbarsim)" >&2; exit 2 ;;
esac
