#!/usr/bin/env bash
# Set up linkpool with its test tools and run the whole test suite (pytest arguments pass).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
