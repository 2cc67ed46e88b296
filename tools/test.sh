#!/usr/bin/env bash
# The test suite (CPU, two to three minutes), in the environment tools/install.sh makes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
OMP_NUM_THREADS=1 POINTSEG_REQUIRE_OPEN3D=1 PYTHONWARNINGS=ignore .venv/bin/python -m pytest -q tests "$@"
