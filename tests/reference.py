"""Independent reference computations for the tests: the model inputs of a patch, from first principles (numpy)."""

import numpy as np


def patch_inputs(local: np.ndarray, points: np.ndarray, bounds, voxel_size: float, half: float, rgb=None, intensity=None,
                 rgb_range: str = "unit", intensity_max: float = 65535.0) -> tuple[np.ndarray, np.ndarray]:
    """For the points `points` of one patch with `bounds` (xmin, ymin, xmax, ymax): (cells (n, 3) int64, each point's
    voxel cell counted from the patch's lowest cell; voxel features (n, C), the mean of its voxel's point features).
    Point features: xy from the patch centre and z above the patch's lowest point, / half; rgb / 255 (or * 2 - 1);
    log1p(I) / log1p(intensity_max) clipped at 1."""
    xyz = local[points].astype(np.float64)
    cells = np.floor(xyz / voxel_size).astype(np.int64)
    cells -= cells.min(axis=0)
    centre = np.array([(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, xyz[:, 2].min()])
    parts = [(xyz - centre) / half]
    if rgb is not None:
        colour = rgb[points] / 255.0
        parts.append(colour * 2 - 1 if rgb_range == "symmetric" else colour)
    if intensity is not None:
        parts.append(np.minimum(np.log1p(intensity[points]) / np.log1p(intensity_max), 1)[:, None])
    feats = np.concatenate(parts, axis=1)
    _, voxel, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    voxel = voxel.ravel()
    sums = np.zeros((len(counts), feats.shape[1]))
    np.add.at(sums, voxel, feats)
    return cells, (sums / counts[:, None])[voxel]


def tent(xy: np.ndarray, bounds, floor: float) -> np.ndarray:
    """(n,) the vote weight of points in a patch: the product of the x and y tents (1 at the centre, 0 at the edges), >= floor."""
    cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    hx, hy = (bounds[2] - bounds[0]) / 2, (bounds[3] - bounds[1]) / 2
    w = np.clip(1 - np.abs(xy[:, 0] - cx) / hx, 0, 1) * np.clip(1 - np.abs(xy[:, 1] - cy) / hy, 0, 1)
    return np.maximum(w, floor)
