"""Prepare a scene file larger than memory tile by tile from disk, into the arrays the in-memory prepare writes.

The file is split into blocks in one streaming pass (pointseg.data.blocks) under the partial output's hidden
`.large/<scene>/`; then each big tile (a square of the patch tiling's tiles, anchored at the file's origin) is read,
its tiles are voxelized as tile_scene voxelizes them (each tile alone, its points in file order), and its rows go to the
scene's arrays on disk: the per-point arrays (xyz, rgb, intensity, labels) at the points' indices in the file, the
tile-sorted ones (order, point_voxel) and the voxels once every tile's size is known. Tile and patch tables come from
the tiles' point counts alone (pointseg.data.tiling.patch_tables, sparse patches merged as usual), so every patch is
whole and the prepared scene is the one the in-memory prepare makes (tests/test_large.py compares every array).
Coordinates are in metres (the file's units from its CRS or data.units), returns and intensity carried as the in-memory
prepare carries them; with data.hag each big tile's heights above ground come from the big tile and a buffer of one
patch around it (the in-memory prepare's ground is the whole scene's: they agree but for the SMRF's edge effects).
Far outliers are set aside as the in-memory prepare sets them aside, found at the blocks' scale (blocks.split_far): the
bulk's arrays hold its points in file order, from the bulk's origin.
Memory: one big tile, one window of an array.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from pointseg.config import DataConfig
from pointseg.constants import NUM_CLASSES
from pointseg.data.ground import height_above_ground
from pointseg.data.groups import say_far_points
from pointseg.data.manifest import patch_entries
from pointseg.data.blocks import BlockStore, TilePlan, block_side, estimate_points, memory_budget, plan_tiles, split_far, split_file
from pointseg.data.tiling import PatchGrid, TiledScene, make_grid, patch_tables, tile_units
from pointseg.data.voxelize import hash_keys, pack_cells, unpack_keys, voxel_cells
from pointseg.io import atomic_save_npy, load_class_map, scene_name
from pointseg.io.columns import PointColumns
from pointseg.io.identity import file_sha256
from pointseg.io.ownership import mark_dir, remove_tree
from pointseg.io.stream import FileSummary

log = logging.getLogger(__name__)

WORK_DIR = ".large"  # PARTIAL/.large/<scene>/: the blocks and the big tiles' sorted rows, removed when the scene is done
KIND = "large-prepare"
# Resident memory (tools/benchmark_large.py): the in-memory prepare holds about IN_MEMORY_BYTES per point of a scene
# (issue 20 measured 434 at 0.02 m voxels); the tiled one about 200 per point of a big tile at 0.5 m voxels (1.54 GiB
# for 7.0 M points), TILE_BYTES with a margin for finer voxels; FIXED_BYTES: the process before any scene.
IN_MEMORY_BYTES = 450
TILE_BYTES = 450
FIXED_BYTES = 256 << 20


def needs_tiling(path: str | Path, max_memory_gib: float) -> bool:
    """Whether preparing `path` in memory would take more than the budget (data.max_memory)."""
    return FIXED_BYTES + estimate_points(path) * IN_MEMORY_BYTES > memory_budget(max_memory_gib)


def prepare_large_scene(path: Path, out_dir: Path, cfg: DataConfig, stride: float) -> dict[str, Any]:
    """Write the prepared arrays of `path` to out_dir tile by tile; return its manifest entry from "sha256" to "patches"
    (pointseg.data.prepare.prepare_scene adds the rest)."""
    from pointseg.data.prepare import unlabelled_error  # prepare imports this module
    work = out_dir.parent.parent / WORK_DIR / scene_name(path)
    mark_dir(work, KIND)
    points_per_tile = max(1, (memory_budget(cfg.max_memory) - FIXED_BYTES) // TILE_BYTES)
    class_map = load_class_map(cfg.class_map) if path.suffix.lower() in (".las", ".laz") else None
    with ThreadPoolExecutor(max_workers=1) as hasher:  # hashing overlaps the pass
        digest = hasher.submit(file_sha256, path)
        store = split_file(path, work, class_map, block_side(path, points_per_tile), units=cfg.units)
        digest = digest.result()
    if not store.summary.labels:
        raise unlabelled_error(path, cfg.class_map)
    store, aside = _set_aside_far(store, cfg.patch_size)
    s = store.summary
    buffer = cfg.patch_size if cfg.hag else 0.0  # the ground under a big tile's edge needs the points beyond it
    plan = plan_tiles(store, cfg.voxel_size, cfg.patch_size, stride, points_per_tile, buffer)  # float32 metres: Scene.local_xyz
    grid, start = _scene_grid(plan, s, cfg, stride)
    n_tiles = grid.tile_shape[0] * grid.tile_shape[1]
    columns = _point_columns(s, cfg.hag)
    per_point = PointColumns(out_dir, s.points, columns)
    counts = np.zeros(n_tiles, np.int64)
    voxel_counts = np.zeros(n_tiles, np.int64)
    tile_counts = np.zeros((n_tiles, NUM_CLASSES), np.int64)
    parts = []
    for k, tile in enumerate(plan.tiles):  # a loop over big tiles
        rec = store.read_box(plan.box(tile, buffer))
        local = plan.local(rec["xyz"]).astype(np.float32)  # as Scene.local_xyz
        tx, ty = plan.tile_of(local)
        keep = plan.members(tile, tx, ty)
        if not keep.any():
            continue
        hag = height_above_ground(local, rec["returns"] if s.returns else None)[keep] if cfg.hag else None
        rec, local, tx, ty = rec[keep], local[keep], tx[keep], ty[keep]
        tile_id = (tx - start[0]) * grid.tile_shape[1] + (ty - start[1])
        by_index = np.argsort(rec["index"])
        order = by_index[np.argsort(tile_id[by_index], kind="stable")]  # by tile, file order within a tile: tile_scene's order
        rec, local, tile_id = rec[order], local[order], tile_id[order]
        hag = None if hag is None else hag[order]
        labels = rec["label"]
        rows = rec["index"] - np.searchsorted(aside, rec["index"])  # the bulk's points in file order
        by_row = np.argsort(rows)
        values = {"xyz": local[by_row], "labels": labels[by_row], "rgb": s.rgb(rec["colour"][by_row]) if "rgb" in columns else None,
                  "intensity": rec["intensity"][by_row] if "intensity" in columns else None,
                  "returns": rec["returns"][by_row] if "returns" in columns else None, "hag": None if hag is None else hag[by_row]}
        per_point.write(rows[by_row], {name: v for name, v in values.items() if v is not None})
        valid = labels >= 0
        tile_counts += np.bincount(tile_id[valid] * NUM_CLASSES + labels[valid], minlength=n_tiles * NUM_CLASSES).reshape(n_tiles, NUM_CLASSES)
        point_voxel, voxel_parts, voxels_of = _voxelize_tiles(voxel_cells(local, cfg.voxel_size), tile_id)
        tiles_here, here = np.unique(tile_id, return_counts=True)
        counts[tiles_here] += here
        voxel_counts[tiles_here] += voxels_of
        part = work / f"tile_{k}.npz"
        np.savez(part, tiles=tiles_here, order=rows.astype(np.int32), point_voxel=point_voxel, voxels=np.concatenate(voxel_parts), voxels_of=voxels_of)
        parts.append(part)
        log.info("%s: big tile %d/%d prepared (%d points)", path.name, k + 1, len(plan.tiles), len(rows))
    per_point.record()

    tile_offsets, voxel_offsets = _write_tile_sorted(out_dir, parts, counts, voxel_counts)
    patch_offsets, patch_tiles, patch_ids = patch_tables(grid, counts, cfg.min_points_per_patch, cfg.sparse_patch_policy)
    tables = {"tile_offsets": tile_offsets, "voxel_offsets": voxel_offsets, "patch_offsets": patch_offsets, "patch_tiles": patch_tiles}
    for name, array in tables.items():
        atomic_save_npy(out_dir / f"{name}.npy", array)
    tiled = TiledScene(grid, None, tile_offsets, None, voxel_offsets, None, patch_offsets, patch_tiles, patch_ids, None)
    remove_tree(work, KIND)
    _remove_if_empty(work.parent)
    return {
        "sha256": digest,
        "points": s.points,
        "set_aside_points": len(aside),
        "ignored_points": int(s.points - tile_counts.sum()),
        "out_of_range_labels": s.out_of_range_labels,
        "origin": s.origin.tolist(),
        "units": [s.units.horizontal, s.units.vertical],
        "rgb": s.colour_rule is not None,
        "intensity": s.intensity,
        "intensity_reference": s.intensity_reference,
        "returns": s.returns,
        "hag": cfg.hag,
        "patches": patch_entries(tiled, tile_counts),
    }


def _scene_grid(plan: TilePlan, s: FileSummary, cfg: DataConfig, stride: float) -> tuple[PatchGrid, tuple[int, int]]:
    """The whole scene's patch grid and its first tile (tx, ty), as tile_scene makes them: from the tiles of its lowest
    and highest points (tiles grow with x, y)."""
    _, per_patch, per_stride = tile_units(cfg.patch_size, stride, cfg.voxel_size)
    tx, ty = plan.tile_of(plan.local(np.stack([s.mins, s.maxs])).astype(np.float32))
    start = (int(tx[0]) // per_stride * per_stride, int(ty[0]) // per_stride * per_stride)
    return make_grid((int(tx[1]) - start[0] + 1, int(ty[1]) - start[1] + 1), per_patch, per_stride, plan.tile_m, start), start


def _point_columns(s: FileSummary, hag: bool) -> dict[str, tuple[type, tuple]]:
    """The per-point arrays of a prepared scene (name: (dtype, shape of one point's value)), as the in-memory prepare
    writes them for a file like `s`."""
    columns = {"xyz": (np.float32, (3,)), "labels": (np.int16, ())}
    if s.colour_rule is not None:
        columns["rgb"] = (np.uint8, (3,))
    if s.intensity:
        columns["intensity"] = (np.float32, ())
    if s.returns:
        columns["returns"] = (np.uint8, (2,))
    if hag:
        columns["hag"] = (np.float32, ())
    return columns


def _write_tile_sorted(out_dir: Path, parts: list[Path], counts: np.ndarray, voxel_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tile-sorted arrays (order, point_voxel, voxel_coords) from each big tile's part file (removed once copied),
    given the points and voxels of every tile (T,); returns tile_offsets and voxel_offsets (T + 1,)."""
    tile_offsets, voxel_offsets = np.zeros(len(counts) + 1, np.int64), np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=tile_offsets[1:])
    np.cumsum(voxel_counts, out=voxel_offsets[1:])
    sorted_cols = PointColumns(out_dir, int(tile_offsets[-1]), {"order": (np.int32, ()), "point_voxel": (np.int32, ())})
    voxel_cols = PointColumns(out_dir, int(voxel_offsets[-1]), {"voxel_coords": (np.int32, (3,))})
    for part in parts:  # each big tile's rows into their places in the tile-sorted arrays
        with np.load(part) as p:
            tiles = p["tiles"]  # a tile lies in one big tile: all its points are here
            sorted_cols.write(_positions(tile_offsets[tiles], counts[tiles]), {"order": p["order"], "point_voxel": p["point_voxel"]})
            voxel_cols.write(_positions(voxel_offsets[tiles], p["voxels_of"]), {"voxel_coords": p["voxels"]})
        part.unlink()
    sorted_cols.record()
    voxel_cols.record()
    return tile_offsets, voxel_offsets


def _set_aside_far(store: BlockStore, patch_size: float) -> tuple[BlockStore, np.ndarray]:
    """(the bulk's store, the set-aside points' indices in the file (K,) int64 ascending), with the in-memory prepare's
    warning (pointseg.data.prepare.set_aside_outliers)."""
    bulk, far = split_far(store, patch_size)
    if far is None:
        return store, np.zeros(0, np.int64)
    rec = far.read_all()
    say_far_points(store.summary.path, len(rec), patch_size, int(rec["index"][0]), rec["xyz"][0], "set aside: not used for training")
    return bulk, rec["index"]


def _voxelize_tiles(cells: np.ndarray, tile_id: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Voxelize each tile's points alone, as tile_scene does: cells (n, 3) and tile_id (n,) sorted by tile. Returns
    point_voxel (n,) int32 (each point's voxel within its tile), the voxels' cells of each tile ((V_t, 3) int32), and
    the voxels per tile (T_here,)."""
    keys, offset, bits = pack_cells(cells)
    cuts = np.r_[0, np.flatnonzero(np.diff(tile_id)) + 1, len(tile_id)]
    point_voxel = np.empty(len(keys), np.int32)
    parts, n_voxels = [], []
    for a, b in zip(cuts[:-1], cuts[1:]):  # a loop over tiles
        inverse, unique_keys = hash_keys(keys[a:b])
        point_voxel[a:b] = inverse
        parts.append(unpack_keys(unique_keys, bits) + offset.astype(np.int32))
        n_voxels.append(len(unique_keys))
    return point_voxel, parts, np.asarray(n_voxels, np.int64)


def _positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(sum(lengths),) int64: starts[i] + 0 .. lengths[i] - 1 for each i, concatenated."""
    total = int(lengths.sum())
    seg = np.repeat(np.arange(len(lengths)), lengths)
    return starts[seg] + np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
