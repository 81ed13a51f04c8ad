#!/usr/bin/env bash
# A Python virtual environment with the third-party clients some tests produce with (see
# scripts/python-requirements.txt), in .services/python. Made once; made again when the
# requirements change. Prints the environment's python executable.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${SERVICES_DIR:-$ROOT/.services}"
VENV="$STATE/python"
REQ="$ROOT/scripts/python-requirements.txt"
PYTHON="${PYTHON:-python3}"
stamp="$VENV/.requirements"
if [[ ! -x "$VENV/bin/python" ]] || ! cmp -s "$REQ" "$stamp"; then
  echo "[python] installing $(grep -cv '^#' "$REQ") requirements into $VENV" >&2
  rm -rf "$VENV"
  mkdir -p "$STATE"
  "$PYTHON" -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ" >&2
  cp "$REQ" "$stamp"
fi
echo "$VENV/bin/python"
