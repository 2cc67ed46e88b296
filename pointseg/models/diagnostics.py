"""Does the ASPP bridge see context? Active neighbours of bridge voxels per dilation."""

import itertools

import numpy as np

_OFFSETS = np.array([o for o in itertools.product((-1, 0, 1), repeat=3) if o != (0, 0, 0)], np.int64)


def bridge_coords(voxel_coords: np.ndarray, n_down: int) -> np.ndarray:
    """Voxels (V, 3) after n_down 2x2x2 stride-2 sparse convs: the distinct floor(coords / 2**n_down)."""
    return np.unique(np.asarray(voxel_coords, np.int64) >> n_down, axis=0)


def active_neighbours(coords: np.ndarray, dilation: int) -> np.ndarray:
    """(V,) how many of the 26 off-centre taps of a 3x3x3 kernel at `dilation` land on active voxels."""
    q = np.asarray(coords, np.int64) - coords.min(axis=0) + dilation  # every tap stays >= 0
    dims = q.max(axis=0) + dilation + 1

    def pack(c: np.ndarray) -> np.ndarray:
        return (c[:, 0] * dims[1] + c[:, 1]) * dims[2] + c[:, 2]

    keys = np.sort(pack(q))
    count = np.zeros(len(q), np.int64)
    for offset in _OFFSETS * dilation:
        k = pack(q + offset)
        pos = np.minimum(np.searchsorted(keys, k), len(keys) - 1)
        count += keys[pos] == k
    return count


def aspp_neighbour_report(voxel_coords: np.ndarray, n_down: int, dilations: list[int]) -> dict[int, float]:
    """Mean active neighbours (of 26) a bridge voxel sees, per dilation, for one patch's level-0 voxels."""
    c = bridge_coords(voxel_coords, n_down)
    return {d: float(active_neighbours(c, d).mean()) for d in dilations}
