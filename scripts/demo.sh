#!/usr/bin/env bash
# Set up linkpool and run the demo: several builds' links share one small pool.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python examples/demo/demo.py "$@"
