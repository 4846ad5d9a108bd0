#!/usr/bin/env bash
# The whole test suite: lint, unit, integration and end-to-end (builds images if absent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
ruff check cloudhp tests benchmarks
ruff format --check cloudhp tests benchmarks
mypy
cloudhp images build
python3 -m pytest -q -p no:cacheprovider tests
