#!/usr/bin/env bash
# The real-world acceptance suite (docs/realworld.md): builds every project of
# tests/test_realworld.py twice, bare and through linkpool, compares the two builds, and
# prints the results tables. Sets up what it needs itself (the test tools, Debian's cargo
# and rustc, the projects' build dependencies). Downloads are kept in .realworld-cache/
# (or $LINKPOOL_REALWORLD_CACHE): a second run is offline. The results go to results/
# there (or $LINKPOOL_REALWORLD_RESULTS).
#
#   bash scripts/realworld.sh [--recipe | --switch] [--gcc | --clang] [PYTEST ARGS...]
#
# --recipe (the default): linkpool is turned on the way each build system's page says.
# --switch: only `export COMPILER_PATH="$(linkpool setup shims)"` (docs/shims.md), no
#   per-build recipe, and linkpool's venv off PATH in every step of both builds. SCons
#   (serf) clears the environment, so the switch does not reach its links: its result says
#   "bypassed", and the test asserts that no link reached the pool.
# --gcc (the default) or --clang (Debian's clang 14): the compiler of every project (CC
#   and CXX, CMake's -DCMAKE_<LANG>_COMPILER, configure's and SCons's CC=). Cargo links
#   with `cc`, gcc, either way.
# pytest arguments pass, e.g. `bash scripts/realworld.sh -k serf`, or the quick projects
# the normal suite runs: `bash scripts/realworld.sh --switch --clang -m realworld_ci`.
set -euo pipefail
cd "$(dirname "$0")/.."
route=recipe
compiler=gcc
while [ $# -gt 0 ]; do
  case "$1" in
    --recipe|--switch) route="${1#--}" ;;
    --gcc|--clang) compiler="${1#--}" ;;
    *) break ;;
  esac
  shift
done
bash scripts/setup.sh --realworld
status=0
LINKPOOL_REALWORLD=all LINKPOOL_REALWORLD_ROUTE="$route" LINKPOOL_REALWORLD_CC="$compiler" \
  .venv/bin/python -m pytest tests/test_realworld.py -v -p no:cacheprovider "$@" || status=$?
table="${LINKPOOL_REALWORLD_RESULTS:-${LINKPOOL_REALWORLD_CACHE:-.realworld-cache}/results}/table.md"
if [ -f "$table" ]; then
  echo
  echo "realworld: the results (also in $table):"
  cat "$table"
fi
exit "$status"
