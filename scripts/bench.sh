#!/usr/bin/env bash
# Set up linkpool with its test tools and matplotlib, then run one benchmark:
#   bash scripts/bench.sh policy [ARGS]   link policies side by side (benchmarks/policy_bench.py)
#   bash scripts/bench.sh pool [ARGS]     the slot pool (benchmarks/pool_bench.py)
#   bash scripts/bench.sh engine [ARGS]   the link engine (benchmarks/engine_bench.py)
#   bash scripts/bench.sh launcher [ARGS] starting linkpool (benchmarks/launcher_bench.py)
#   bash scripts/bench.sh overhead [ARGS] what a link through linkpool adds (benchmarks/overhead_bench.py)
# Bytecode caching is turned back on: a benchmark measures linkpool as it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-policy}"
shift || true
case "$which" in
  policy|pool|engine|launcher|overhead) ;;
  *) echo "usage: bash scripts/bench.sh {policy|pool|engine|launcher|overhead} [ARGS]" >&2; exit 2 ;;
esac
bash scripts/setup.sh --bench
exec env -u PYTHONDONTWRITEBYTECODE .venv/bin/python "benchmarks/${which}_bench.py" "$@"
