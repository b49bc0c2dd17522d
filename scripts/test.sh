#!/usr/bin/env bash
# Set up linkpool with its test tools and run the whole test suite (pytest arguments pass).
# .venv holds a copy of the checkout (a plain install: it builds the C front door), so
# setup.sh installs it again first, every time: the suite tests the checkout as it is now.
# (tests/test_packaging.py fails when the copy is older than the checkout.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
