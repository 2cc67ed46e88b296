#!/usr/bin/env bash
# Creates .venv (Python 3.11) with the CPU build of torch and pointseg's dependencies, once.
# On a GPU server install a CUDA torch first and choose spconv's flavour (README: Installation).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
# Open3D's wheels link libusb-1.0 (Debian: libusb-1.0-0)
if ! ldconfig -p 2>/dev/null | grep -q libusb-1.0.so.0; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1; }) \
      || echo "install.sh: could not install libusb-1.0-0; open3d may fail to import" >&2
  else
    echo "install.sh: libusb-1.0 is missing; install it (Debian/Ubuntu: sudo apt-get install libusb-1.0-0)" >&2
  fi
fi
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import pointseg, spconv.pytorch, open3d, matplotlib, pytest, laspy, lazrs, pyarrow, pyproj, scipy, laszip" 2>/dev/null; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  # the CPU build first: an unpinned torch pulls a CUDA build of several GB
  .venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}" 2>&1 | grep -v "^WARNING: Location" || true
  POINTSEG_OPEN3D=${POINTSEG_OPEN3D:-open3d-cpu} .venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import pointseg, spconv.pytorch, open3d, matplotlib, pytest, laspy, lazrs, pyarrow, pyproj, scipy, laszip" || { echo "install.sh: the environment is incomplete (see the error above)" >&2; exit 1; }
fi
