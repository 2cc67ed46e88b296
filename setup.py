"""pointseg: semantic segmentation of aerial photogrammetry point clouds (STPLS3D) with a sparse 3D U-Net.

The spconv and Open3D wheels come in flavours; pick them without editing code:
    POINTSEG_SPCONV=spconv-cu126 pip install -e .      # CUDA 12.6 (default: spconv-cu120 2.3.6)
    POINTSEG_SPCONV=spconv pip install -e .            # CPU-only spconv
    POINTSEG_SPCONV=none pip install -e .              # you installed spconv yourself
    POINTSEG_OPEN3D=open3d-cpu pip install -e .        # the lighter CPU wheel (default: open3d)
"""

import os

from setuptools import find_packages, setup

SPCONV_PINS = {"spconv-cu120": "spconv-cu120==2.3.6"}
spconv = os.environ.get("POINTSEG_SPCONV", "spconv-cu120")
open3d = os.environ.get("POINTSEG_OPEN3D", "open3d")

requires = [
    "torch>=2.1",
    # cumm-cu120 (spconv-cu120's core) crashes with numpy 2; pandas 3 and plyfile 1.1 need numpy 2.
    "numpy>=1.24,<2",
    "pandas>=2.0,<3",
    "plyfile>=0.9,<1.1",
    "pyarrow>=14,<22",  # pandas' fast CSV engine for STPLS3D text (21 tested with numpy 1.26; 26 needs numpy 2); without it the reader uses the C engine
    "laspy>=2.4,<3",  # LAS/LAZ; 2.4+ for EVLR reading options
    "lazrs>=0.5",  # laspy's LAZ backend (Rust, parallel decompression)
    "pyproj>=3.6,<3.8",  # CRSs: units of LAS/LAZ coordinates, --crs, reading and writing them through laspy (3.8: Python 3.12+ only)
    f"{open3d}>=0.17",
    "tqdm>=4.60",
    "pyyaml>=6.0",
    "matplotlib>=3.6",  # pictures, plots and report.html (pointseg.viz)
    "scipy>=1.10,<1.14",  # the SMRF ground filter (pointseg.baselines.smrf): morphology and interpolation; 1.13 is the last for numpy 1
]
if spconv != "none":
    requires.append(SPCONV_PINS.get(spconv, spconv))

setup(
    name="pointseg",
    version="0.1.0",
    description="Sparse 3D U-Net + ASPP semantic segmentation of aerial photogrammetry point clouds (STPLS3D)",
    packages=find_packages(include=["pointseg", "pointseg.*"]),
    # the shipped configs and class maps live in the package (configs/ at the top is a link to them)
    package_data={"pointseg": ["configs/*.yaml", "configs/*/*.yaml", "checkpoints/*.pt"]},
    python_requires=">=3.9,<3.12",
    install_requires=requires,
    # readers: the LASzip reference decoder, an independent reader of the LAS/LAZ outputs in tests/test_independent_readers.py
    extras_require={"test": ["pytest>=7", "laszip>=0.2"], "tensorboard": ["tensorboard"], "readers": ["laszip>=0.2"]},
)
