#!/usr/bin/env bash
# Build the peers' virtualenvs for benchmarks/bench_monitor.py (never needed by labelwise):
#   benchmarks/peers/.venv/evidently  evidently 0.7.23 (pandas < 3)
#   benchmarks/peers/.venv/alibi      alibi-detect 0.13.0 (numpy 1.26)
# Each from its own requirements file of exact pins; .venv/ is gitignored. About 2 GB, a
# few minutes. Run: bash benchmarks/peers/setup.sh [PYTHON]   (default: python3, 3.11+)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="${1:-python3}"
for peer in evidently alibi; do
  venv="$here/.venv/$peer"
  if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --no-deps -r "$here/requirements-$peer.txt"
  "$venv/bin/python" -m pip check
done
echo "peers ready in $here/.venv: python benchmarks/bench_monitor.py runs them"
