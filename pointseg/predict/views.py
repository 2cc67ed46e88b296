"""Test-time augmentation: the views of a scene (rotations about z, mirrored) whose votes are summed."""

import numpy as np


def tta_views(n: int) -> list[tuple[float, bool]]:
    """The n test-time views as (angle about z in radians, mirrored in x): angles 360/n degrees apart,
    every other view mirrored; view 0 is the scene as it is. n >= 1 (checked by the config: infer.tta)."""
    return [(2 * np.pi * k / n, k % 2 == 1) for k in range(n)]


def view_of(local: np.ndarray, angle: float, mirror: bool, frame: float) -> np.ndarray:
    """local (N, 3) float32 mirrored in x (when `mirror`), then rotated by `angle` about z around the centre
    of the square [0, frame]^2, then shifted by a whole number of `frame`s so every point of that square stays
    at x, y >= 0 (what tile_scene expects). z is unchanged. The same frame for every tile of a coverage gives
    every tile the same view of the cloud, so the patch lattice still matches across tiles."""
    if angle == 0 and not mirror:
        return local
    half = frame / 2
    xy = local[:, :2].astype(np.float64) - half
    if mirror:
        xy[:, 0] = -xy[:, 0]
    c, s = np.cos(angle), np.sin(angle)
    shift = half + frame * np.ceil((np.sqrt(2) - 1) / 2 + 1e-9)  # a rotated square reaches sqrt(2)/2 frames from its centre
    out = np.empty_like(local)
    out[:, 0] = c * xy[:, 0] - s * xy[:, 1] + shift
    out[:, 1] = s * xy[:, 0] + c * xy[:, 1] + shift
    out[:, 2] = local[:, 2]
    return out
