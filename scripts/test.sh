#!/usr/bin/env bash
# The whole test suite: lint, types, unit, integration and end-to-end (builds images if
# absent, reuses them otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
ruff check cloudhp cloudhp_localcloud tests benchmarks
ruff format --check cloudhp cloudhp_localcloud tests benchmarks
mypy
lint-imports
cloudhp images build
python -m pytest -q -p no:cacheprovider tests
