"""Patches as the concatenation of their tiles' points and voxels: the one assembly, in torch (CPU or GPU).

A tiled scene (pointseg.data.tiling) sorts its points by tile and voxelizes each tile once; a patch is a block
of tiles, so its points and voxels are slices of those tables, concatenated. Training reads the tables from a
prepared directory (memory-mapped, CPU); inference keeps them on the device and builds whole batches there, so
on a GPU the host does no per-point work between forward passes.
"""

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class TileTables:
    """A tiled scene's tables. Per tile (small, host numpy): tile_offsets (T+1,) int64, tile t holds sorted
    positions tile_offsets[t]:tile_offsets[t+1]; voxel_offsets (T+1,) int64, its voxels. Per point or voxel
    (torch, on the device that assembles): order (N,) the point index at each sorted position; point_voxel (N,)
    int32 the voxel of each sorted position within its tile; voxel_coords (V, 3) int32 integer voxel cells."""

    tile_offsets: np.ndarray
    voxel_offsets: np.ndarray
    order: torch.Tensor
    point_voxel: torch.Tensor
    voxel_coords: torch.Tensor


@dataclass
class Assembled:
    """Patches b = 0..B-1 concatenated: index (n,) int64 scene point of each point; patch (n,) int64 its patch;
    inverse (n,) int64 its voxel among all voxels; coords (V, 4) int32 (patch, x, y, z), cells counted from each
    patch's lowest cell; points_per_patch: B counts."""

    index: torch.Tensor
    patch: torch.Tensor
    inverse: torch.Tensor
    coords: torch.Tensor
    points_per_patch: list[int]


def _segments(lengths: torch.Tensor, total: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For concatenated segments of `lengths`: (segment of each element, position within its segment)."""
    seg = torch.repeat_interleave(torch.arange(len(lengths), device=lengths.device), lengths, output_size=total)
    starts = torch.cumsum(lengths, 0) - lengths
    return seg, torch.arange(total, device=lengths.device) - starts[seg]


def assemble(tables: TileTables, patch_tiles: list[np.ndarray]) -> Assembled:
    """The points and voxels of the patches whose tiles are `patch_tiles` (one (k,) int64 array per patch), in
    the order of the patches and, within a patch, of its tiles; empty tiles are skipped."""
    to, vo, device = tables.tile_offsets, tables.voxel_offsets, tables.order.device
    tiles = [t[to[t + 1] > to[t]] for t in patch_tiles]
    tile = np.concatenate(tiles).astype(np.int64) if tiles else np.zeros(0, np.int64)
    seg_patch = np.repeat(np.arange(len(tiles)), [len(t) for t in tiles])
    p_len, v_len = to[tile + 1] - to[tile], vo[tile + 1] - vo[tile]
    n_points, n_voxels, n_patches = int(p_len.sum()), int(v_len.sum()), len(patch_tiles)
    points_per_patch = np.bincount(seg_patch, weights=p_len, minlength=n_patches).astype(np.int64).tolist()
    host = np.stack([to[tile], p_len, vo[tile], v_len, np.cumsum(v_len) - v_len, seg_patch]).astype(np.int64)
    p_start, p_len_d, v_start, v_len_d, v_base, seg_patch_d = torch.from_numpy(host).to(device, non_blocking=True)

    seg, within = _segments(p_len_d, n_points)
    positions = p_start[seg] + within
    index = tables.order[positions].long()
    inverse = tables.point_voxel[positions].long() + v_base[seg]

    vseg, vwithin = _segments(v_len_d, n_voxels)
    voxel_patch = seg_patch_d[vseg]
    cells = tables.voxel_coords[v_start[vseg] + vwithin]
    low = torch.full((n_patches, 3), torch.iinfo(torch.int32).max, dtype=torch.int32, device=device)
    low = low.scatter_reduce(0, voxel_patch[:, None].expand(-1, 3), cells, "amin")
    coords = torch.cat([voxel_patch[:, None].int(), cells - low[voxel_patch]], dim=1)
    return Assembled(index, seg_patch_d[seg], inverse, coords, points_per_patch)
