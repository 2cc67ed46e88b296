"""The classical pipeline a LiDAR engineer would otherwise run: SMRF ground points (PDAL's defaults, last and only
returns), and a height rule for objects: not ground and more than 2 m above the SMRF ground surface."""

import numpy as np

from pointseg.baselines.smrf import last_or_only, smrf

OBJECT_HEIGHT = 2.0  # metres above ground


def classical_labels(xyz: np.ndarray, returns: np.ndarray | None = None, object_height: float = OBJECT_HEIGHT) -> tuple[np.ndarray, np.ndarray]:
    """(ground (N,) bool, object (N,) bool) of points xyz (N, 3) in metres; returns (N, 2) or None."""
    candidates = None if returns is None else last_or_only(returns[:, 0], returns[:, 1])
    g = smrf(xyz, candidates=candidates, footprint="disk")
    return g.ground, ~g.ground & (g.height(xyz[:, 2]) > object_height)
