"""Square patches on a regular grid over a scene, built from tiles so every patch's voxels come for free.

A scene is cut into square tiles of gcd(patch size, stride) (25 m for 50 m patches at 25 m or 50 m
stride). Tiles are aligned to the voxel grid, so no voxel straddles two tiles: each tile is voxelized
once, and a patch - a block of tiles - is the concatenation of its tiles' points and voxels. Patch
(i, j) covers tiles [i*s, i*s + k) x [j*s, j*s + k), with k tiles per patch side and s per stride,
counted from the grid's start.

The patch lattice is anchored at local coordinate 0 (the scene's origin): a scene whose points start
far from 0 (one tile of a coverage, given in the coverage's coordinates) gets a grid that starts at the
lattice line just below its points, so its patches are exactly those an uncut scene would have there.
"""

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pointseg.data.voxelize import hash_keys, pack_cells, unpack_keys, voxel_cells
from pointseg.errors import ConfigError, InputError

if TYPE_CHECKING:
    import torch

    from pointseg.data.patches import TileTables


@dataclass(frozen=True)
class PatchGrid:
    """Patch layout in tile units; `tile` metres per tile side.

    start (x, y): the tile index (from local 0) of the grid's first tile, a multiple of tiles_per_stride;
    tile ids and patch ids count from there.
    """

    tile: float
    tiles_per_patch: int
    tiles_per_stride: int
    shape: tuple[int, int]
    start: tuple[int, int] = (0, 0)

    @property
    def n_patches(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def tile_shape(self) -> tuple[int, int]:
        return tuple((n - 1) * self.tiles_per_stride + self.tiles_per_patch for n in self.shape)  # type: ignore[return-value]

    def patch_tiles(self, patch_id: int) -> np.ndarray:
        """Tile ids (row-major over tile_shape) of the nominal square of a patch."""
        i, j = divmod(int(patch_id), self.shape[1])
        ti = np.arange(i * self.tiles_per_stride, i * self.tiles_per_stride + self.tiles_per_patch)
        tj = np.arange(j * self.tiles_per_stride, j * self.tiles_per_stride + self.tiles_per_patch)
        return (ti[:, None] * self.tile_shape[1] + tj[None, :]).ravel()


def tile_units(size: float, stride: float, voxel_size: float) -> tuple[int, int, int]:
    """(voxels per tile, tiles per patch, tiles per stride); raises unless all are whole numbers."""
    if not (math.isfinite(size) and size > 0 and math.isfinite(voxel_size) and voxel_size > 0):
        raise InputError(f"patch size {size} m and voxel size {voxel_size} m: both must be positive")
    if not (math.isfinite(stride) and 0 < stride <= size):
        raise InputError(f"stride {stride} m: must be positive and at most the patch size {size} m (no gaps between patches)")
    size_v, stride_v = size / voxel_size, stride / voxel_size
    if abs(size_v - round(size_v)) > 1e-6 * size_v or abs(stride_v - round(stride_v)) > 1e-6 * stride_v:
        raise InputError(f"patch size {size} m and stride {stride} m must be whole multiples of the voxel size {voxel_size} m")
    size_v, stride_v = round(size_v), round(stride_v)
    if not 0 < stride_v <= size_v:
        raise InputError(f"patch size {size} m and stride {stride} m: need 0 < stride <= size (no gaps between patches)")
    tile_v = math.gcd(size_v, stride_v)
    return tile_v, size_v // tile_v, stride_v // tile_v


def make_grid(n_tiles: tuple[int, int], tiles_per_patch: int, tiles_per_stride: int, tile: float,
              start: tuple[int, int] = (0, 0)) -> PatchGrid:
    """The smallest patch grid whose patches cover n_tiles (x, y) tiles from tile `start`."""
    shape = tuple(1 + max(0, math.ceil((n - tiles_per_patch) / tiles_per_stride)) for n in n_tiles)
    return PatchGrid(tile, tiles_per_patch, tiles_per_stride, shape, start)  # type: ignore[arg-type]


@dataclass
class TiledScene:
    """A scene's points grouped by tile, each tile voxelized, and each patch as a list of tiles.

    order (N,) int64: point indices sorted by tile (tile t holds order[tile_offsets[t]:tile_offsets[t+1]]);
    point_voxel (N,) int32, in sorted order: the point's voxel within its tile;
    voxel_offsets (T+1,) and voxel_coords (V, 3) int32: each tile's voxels, global integer cells;
    patch_offsets (P+1,) and patch_tiles (K,) int64: the tiles of each kept patch;
    patch_ids (P,) int64: each kept patch's id in `grid` (merged patches keep the id of the receiving one);
    point_tile (N,) int64, in the original order: each point's tile.
    """

    grid: PatchGrid
    order: np.ndarray
    tile_offsets: np.ndarray
    point_voxel: np.ndarray
    voxel_offsets: np.ndarray
    voxel_coords: np.ndarray
    patch_offsets: np.ndarray
    patch_tiles: np.ndarray
    patch_ids: np.ndarray
    point_tile: np.ndarray

    @property
    def n_patches(self) -> int:
        return len(self.patch_ids)

    def tiles_of(self, patch: int) -> np.ndarray:
        return self.patch_tiles[self.patch_offsets[patch] : self.patch_offsets[patch + 1]]

    def patch_bounds(self, patch: int) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in local metres of the union of a kept patch's tiles."""
        ti, tj = np.divmod(self.tiles_of(patch), self.grid.tile_shape[1])
        ti, tj, t = ti + self.grid.start[0], tj + self.grid.start[1], self.grid.tile
        return (float(ti.min() * t), float(tj.min() * t), float((ti.max() + 1) * t), float((tj.max() + 1) * t))

    def patch_size(self, patch: int) -> int:
        """Number of points in kept patch `patch`."""
        t = self.tiles_of(patch)
        return int((self.tile_offsets[t + 1] - self.tile_offsets[t]).sum())

    def tables(self, device: "torch.device | str" = "cpu") -> "TileTables":
        """The tile tables for pointseg.data.patches.assemble, with the per-point arrays on `device`."""
        import torch

        from pointseg.data.patches import TileTables

        def put(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(device)

        return TileTables(self.tile_offsets, self.voxel_offsets, put(self.order), put(self.point_voxel), put(self.voxel_coords))

    def patch(self, patch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point indices (n,) int64, voxel coords (V, 3) int32 from 0, inverse (n,) int64) of a kept patch."""
        from pointseg.data.patches import assemble

        a = assemble(self.tables(), [self.tiles_of(patch)])
        return a.index.numpy(), a.coords[:, 1:].numpy(), a.inverse.numpy()


def tile_scene(
    local_xyz: np.ndarray,
    voxel_size: float,
    size: float,
    stride: float,
    min_points: int = 0,
    sparse_policy: str = "merge",
) -> TiledScene:
    """Tile and voxelize a scene given in local coordinates (N, 3), all >= 0 in x and y.

    Every point lands in at least one kept patch. Empty patches are skipped. Patches with fewer than
    `min_points` points are merged into their fullest neighbour (`merge`), or kept as they are (`keep`).
    """
    if sparse_policy not in ("merge", "keep"):
        raise ConfigError(f"sparse patch policy '{sparse_policy}': expected 'merge' or 'keep'")
    tile_v, per_patch, per_stride = tile_units(size, stride, voxel_size)
    cells = voxel_cells(local_xyz, voxel_size)
    if (cells[:, :2] < 0).any():
        raise ValueError("tile_scene: local coordinates must be >= 0 in x and y (subtract the scene origin)")
    # Tiles are half-open; a point exactly on the far edge of the extent joins the last tile rather
    # than opening a new row of patches (only that tile gets the extra voxel column, so voxels stay unique).
    tile_m = tile_v * voxel_size
    last = last_tiles([float(local_xyz[:, a].max()) for a in range(2)], tile_m)
    tx, ty = point_tiles(cells, tile_v, last)
    # The grid starts at the patch-lattice line at or below the first occupied tile (0 for a scene in its own origin).
    start = (int(tx.min()) // per_stride * per_stride, int(ty.min()) // per_stride * per_stride)
    tx, ty = tx - start[0], ty - start[1]
    grid = make_grid((int(tx.max()) + 1, int(ty.max()) + 1), per_patch, per_stride, tile_m, start)
    n_tiles = grid.tile_shape[0] * grid.tile_shape[1]
    tile_id = tx * grid.tile_shape[1] + ty
    # A stable radix sort when tile ids fit 16 bits (the usual case: 400 tiles for a 500 m scene).
    order = np.argsort(tile_id.astype(np.uint16) if n_tiles < 2**16 else tile_id, kind="stable")
    counts = np.bincount(tile_id, minlength=n_tiles)
    tile_offsets = np.zeros(n_tiles + 1, np.int64)
    np.cumsum(counts, out=tile_offsets[1:])
    keys, offset, bits = pack_cells(cells)
    sorted_keys = keys[order]

    # Hash each tile's keys on its own: small tables stay in cache (hashing all at once is 3x slower).
    point_voxel = np.empty(len(order), np.int32)
    voxel_counts = np.zeros(n_tiles, np.int64)
    key_parts = []
    for t in np.flatnonzero(counts):
        a, b = tile_offsets[t], tile_offsets[t + 1]
        inverse, unique_keys = hash_keys(sorted_keys[a:b])
        point_voxel[a:b] = inverse
        key_parts.append(unique_keys)
        voxel_counts[t] = len(unique_keys)
    voxel_offsets = np.zeros(n_tiles + 1, np.int64)
    np.cumsum(voxel_counts, out=voxel_offsets[1:])
    voxel_coords = unpack_keys(np.concatenate(key_parts), bits) + offset.astype(np.int32)

    patch_offsets, kept_tiles, patch_ids = patch_tables(grid, counts, min_points, sparse_policy)
    return TiledScene(grid, order, tile_offsets, point_voxel, voxel_offsets, voxel_coords, patch_offsets, kept_tiles, patch_ids, tile_id)


def last_tiles(max_local_xy: list[float], tile_m: float) -> list[int]:
    """The last tile index along x and y of a scene whose local coordinates reach max_local_xy (2 floats): tiles are
    half-open, but a point exactly on the far edge of the extent joins the last tile rather than opening a new row."""
    return [max(0, math.ceil(m / tile_m) - 1) for m in max_local_xy]


def point_tiles(cells: np.ndarray, tile_v: int, last: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Each point's tile (tx, ty) (N,) int64 from its voxel cells (N, 3) (from local 0, not from the grid's start)."""
    return np.minimum(cells[:, 0] // tile_v, last[0]), np.minimum(cells[:, 1] // tile_v, last[1])


def patch_tables(grid: PatchGrid, counts: np.ndarray, min_points: int = 0, sparse_policy: str = "merge") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(patch_offsets (P+1,), patch_tiles (K,), patch_ids (P,)) int64 of the kept patches of `grid`, from the points per
    tile counts (n_tiles,): empty patches skipped, sparse ones merged (sparse_policy 'merge') or kept."""
    patch_tiles = [grid.patch_tiles(p) for p in range(grid.n_patches)]
    sizes = np.array([counts[t].sum() for t in patch_tiles])
    patch_ids = np.flatnonzero(sizes > 0)
    if sparse_policy == "merge" and min_points > 0:
        patch_tiles, patch_ids = _merge_sparse(grid, patch_tiles, sizes, min_points)
    kept = [patch_tiles[p] for p in patch_ids]
    patch_offsets = np.zeros(len(kept) + 1, np.int64)
    np.cumsum([len(t) for t in kept], out=patch_offsets[1:])
    return patch_offsets, np.concatenate(kept).astype(np.int64), patch_ids.astype(np.int64)


def _merge_sparse(grid: PatchGrid, patch_tiles: list[np.ndarray], sizes: np.ndarray, min_points: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Merge each non-empty patch below min_points into the fullest of its 8 grid neighbours that is not sparse."""
    nx, ny = grid.shape
    sparse = (sizes > 0) & (sizes < min_points)
    full = sizes >= min_points
    if not full.any():  # nothing to merge into (a tiny scene): keep what there is
        return patch_tiles, np.flatnonzero(sizes > 0)
    tiles = [t.copy() for t in patch_tiles]
    for p in np.flatnonzero(sparse):
        i, j = divmod(int(p), ny)
        neighbours = [a * ny + b for a in range(max(0, i - 1), min(nx, i + 2)) for b in range(max(0, j - 1), min(ny, j + 2))]
        candidates = [q for q in neighbours if full[q]]
        if not candidates:
            # No full neighbour: take the fullest patch overall by grid distance, so no point is lost.
            dist = [abs(q // ny - i) + abs(q % ny - j) for q in np.flatnonzero(full)]
            candidates = [int(np.flatnonzero(full)[int(np.argmin(dist))])]
        target = max(candidates, key=lambda q: sizes[q])
        tiles[target] = np.union1d(tiles[target], patch_tiles[p])
    return tiles, np.flatnonzero(full)
