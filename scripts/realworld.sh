#!/usr/bin/env bash
# The real-world acceptance suite (docs/realworld.md): builds every project of
# tests/test_realworld.py twice, bare and through linkpool, compares the two builds, and
# prints the results table. Sets up what it needs itself (the test tools, Debian's cargo
# and rustc, the projects' build dependencies). Downloads are kept in .realworld-cache/
# (or $LINKPOOL_REALWORLD_CACHE): a second run is offline. pytest arguments pass, e.g.
# `bash scripts/realworld.sh -k serf`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --realworld
status=0
LINKPOOL_REALWORLD=all .venv/bin/python -m pytest tests/test_realworld.py -v \
  -p no:cacheprovider "$@" || status=$?
table="${LINKPOOL_REALWORLD_CACHE:-.realworld-cache}/results/table.md"
if [ -f "$table" ]; then
  echo
  echo "realworld: the results (also in $table):"
  cat "$table"
fi
exit "$status"
