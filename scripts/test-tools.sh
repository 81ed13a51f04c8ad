#!/usr/bin/env bash
# Third-party tools some tests run against our output, made or installed once:
#   python      a virtual environment in .services/python with the clients of
#               scripts/python-requirements.txt (made again when they change); prints its python
#   prometheus  Debian's prometheus package (apt-get, when root); prints the prometheus binary
#   all         both (the default); prints nothing
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${SERVICES_DIR:-$ROOT/.services}"
what="${1:-all}"

python_env() {
  local venv="$STATE/python" req="$ROOT/scripts/python-requirements.txt"
  local stamp="$venv/.requirements"
  if [[ ! -x "$venv/bin/python" ]] || ! cmp -s "$req" "$stamp"; then
    echo "[tools] installing $(grep -cv '^#' "$req") Python requirements into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$STATE"
    "${PYTHON:-python3}" -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
    cp "$req" "$stamp"
  fi
  echo "$venv/bin/python"
}

prometheus_bin() {
  if ! command -v prometheus >/dev/null; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
      echo "[tools] installing Debian's prometheus package" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >&2 ||
        { echo "[tools] apt-get could not install prometheus" >&2; exit 1; }
    else
      echo "[tools] prometheus is not installed: run 'sudo apt-get install prometheus'" >&2
      exit 1
    fi
  fi
  command -v prometheus
}

case "$what" in
  python) python_env ;;
  prometheus) prometheus_bin ;;
  all) python_env >/dev/null && prometheus_bin >/dev/null ;;
  *) echo "usage: $0 [python|prometheus|all]" >&2; exit 2 ;;
esac
