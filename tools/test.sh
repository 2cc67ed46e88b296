#!/usr/bin/env bash
# The test suite (CPU, about a minute), in the environment tools/install.sh makes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
PYTHONWARNINGS=ignore .venv/bin/python -m pytest -q tests "$@"
