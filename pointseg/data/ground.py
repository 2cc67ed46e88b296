"""Height above ground of every point: the SMRF ground surface (pointseg.baselines.smrf, square windows: fast on whole
tiles) under each point, from the last and only returns where the file has return numbers."""

import numpy as np

from pointseg.baselines.smrf import last_or_only, smrf


def height_above_ground(local_xyz: np.ndarray, returns: np.ndarray | None = None, cell: float = 1.0) -> np.ndarray:
    """(N,) float32 metres above the ground surface of points local_xyz (N, 3) in metres; returns (N, 2) return number
    and number of returns, or None."""
    if len(local_xyz) == 0:
        return np.zeros(0, np.float32)
    candidates = None if returns is None else last_or_only(returns[:, 0], returns[:, 1])
    ground = smrf(local_xyz, cell=cell, candidates=candidates, footprint="square")
    return ground.height(np.asarray(local_xyz[:, 2], np.float64)).astype(np.float32)
