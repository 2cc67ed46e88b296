"""The one voxelizer: integer voxel coordinates hashed to one voxel per occupied cell, with the point->voxel map."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pointseg.errors import InputError


@dataclass
class Voxels:
    """A voxelization of N points into V occupied cells.

    coords (V, 3) int32, cell indices relative to `offset` (all >= 0);
    inverse (N,) int64, the voxel of each point (coords[inverse] are the points' cells);
    counts (V,) int64, points per voxel; offset (3,) int64, the cell index of coords == 0.
    """

    coords: np.ndarray
    inverse: np.ndarray
    counts: np.ndarray
    offset: np.ndarray

    def __len__(self) -> int:
        return len(self.coords)


def voxel_cells(xyz: np.ndarray, voxel_size: float) -> np.ndarray:
    """Integer cell of each point, floor(xyz / voxel_size): (N, 3) int64."""
    cells = np.empty((len(xyz), 3), np.int64)
    for a in range(3):  # column by column: 1-D ufuncs are several times faster on (N, 3) arrays
        cells[:, a] = np.floor(np.asarray(xyz[:, a], dtype=np.float64) / voxel_size)
    return cells


def pack_cells(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pack integer cells (N, 3) into one int64 key each, a perfect hash: (keys, offset (3,), bits (3,)).

    Each axis gets a bit field wide enough for its extent, so packing and unpacking are shifts and masks
    (several times faster than multiplying and dividing by the extents).
    """
    if len(cells) == 0:
        raise ValueError("voxelize: no points")
    offset = np.array([cells[:, a].min() for a in range(3)])  # 1-D reductions: faster than axis=0
    extent = np.array([cells[:, a].max() for a in range(3)]) - offset + 1
    bits = np.array([max(1, int(e - 1).bit_length()) for e in extent])
    if bits.sum() > 62:
        raise InputError(f"voxelize: grid of {extent.tolist()} cells too large to hash; use a larger voxel size or smaller patches")
    keys = (cells[:, 0] - offset[0]) << int(bits[1] + bits[2])
    keys |= (cells[:, 1] - offset[1]) << int(bits[2])
    keys |= cells[:, 2] - offset[2]
    return keys, offset, bits


def unpack_keys(keys: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Inverse of pack_cells (without the offset): keys (V,) -> cells (V, 3) int32."""
    coords = np.empty((len(keys), 3), dtype=np.int32)
    coords[:, 2] = keys & ((1 << int(bits[2])) - 1)
    coords[:, 1] = (keys >> int(bits[2])) & ((1 << int(bits[1])) - 1)
    coords[:, 0] = keys >> int(bits[1] + bits[2])
    return coords


def hash_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hash packed keys (N,): (inverse (N,) int64, unique keys (V,)) in order of first occurrence."""
    inverse, unique_keys = pd.factorize(keys, sort=False)
    return inverse.astype(np.int64, copy=False), unique_keys


def hash_voxels(cells: np.ndarray) -> Voxels:
    """One voxel per distinct integer cell (N, 3): pack to int64 keys, hash (pandas.factorize, O(N)).

    Voxels come in order of their first point, so the result is deterministic.
    """
    keys, offset, bits = pack_cells(cells)
    inverse, unique_keys = hash_keys(keys)
    counts = np.bincount(inverse, minlength=len(unique_keys))
    return Voxels(unpack_keys(unique_keys, bits), inverse, counts, offset)


def voxelize(xyz: np.ndarray, voxel_size: float) -> Voxels:
    """Voxelize xyz (N, 3) at `voxel_size`: one voxel per occupied cell floor(xyz / voxel_size)."""
    return hash_voxels(voxel_cells(xyz, voxel_size))
