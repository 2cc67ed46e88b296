"""Tiled coverages labelled as one cloud: each tile with a buffer of its neighbours' points, on one patch lattice.

A coverage is a folder of adjacent tiles (LAS/LAZ tiles of a national grid, or scene files cut from one
cloud). Each tile is labelled from its own points plus its neighbours' points within `buffer` metres of
its bounds; only its own points' labels are kept. Every tile is placed in the coverage's origin (its
minimum corner floored to whole metres: the origin an uncut scene of the whole coverage would have), so
patch grids, voxels and point features are those of the uncut run (pointseg.data.tiling anchors the patch
lattice at the origin). With a buffer of one patch, every patch holding a tile's points is complete and the
tiled labels equal the uncut run's; patches holding only buffer points are skipped.

Bounds come from `header_bounds` where the format has a header (LAS/LAZ), else from an index pass that reads
each file once and keeps its margin - its points within `buffer` of its xy bounds - so a tile's buffer is
gathered from its neighbours' margins instead of their whole files. The index lives in OUT/.coverage/
(index.json, margins/*.npz) and is reused while the files keep their size and mtime. Memory: one tile, its
buffer and one neighbour's margin at a time.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointseg.config import Config
from pointseg.distributed import gather_or_raise, shard_largest_first
from pointseg.errors import PointCloudError
from pointseg.io import ClassMap, Scene, atomic_path, atomic_write_text, read_las_bounds, read_scene, scene_name
from pointseg.io.las import LAS_SUFFIXES
from pointseg.io.scene import metric_floor
from pointseg.io.units import METRES, Units

log = logging.getLogger(__name__)

INDEX_VERSION = 1
INDEX_DIR = ".coverage"
POINT_FIELDS = ("rgb", "intensity", "returns")  # per-point arrays of a Scene besides xyz that a buffer carries (None when absent)


@dataclass
class TileInfo:
    """One tile of a coverage: bounds (6,) float64 (xmin, ymin, zmin, xmax, ymax, zmax), its point count, its
    margin file (.npz of xyz (M, 3) float64 and the POINT_FIELDS the file has: its points within the buffer of
    its xy bounds), or None when neighbours read the file itself (formats indexed from their header), and its CRS."""

    path: Path
    bounds: np.ndarray
    points: int
    margin: Path | None
    crs: str | None = None

    @property
    def name(self) -> str:
        return scene_name(self.path)


def header_bounds(path: Path) -> tuple[np.ndarray, int, str | None] | None:
    """(bounds (6,), point count, CRS text or None) from a file's header without reading its points (LAS/LAZ);
    None for formats without one (txt, PLY), which are indexed by reading them."""
    if path.suffix.lower() not in LAS_SUFFIXES:
        return None
    b = read_las_bounds(path)
    return np.concatenate([b.mins, b.maxs]), int(b.n_points), b.crs


def xy_box(bounds: np.ndarray, buffer: float) -> np.ndarray:
    """(4,) xmin, ymin, xmax, ymax of a tile's bounds grown by `buffer` metres."""
    return np.array([bounds[0] - buffer, bounds[1] - buffer, bounds[3] + buffer, bounds[4] + buffer])


def in_box(xyz: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(N,) bool: points whose x, y lie in the closed box (xmin, ymin, xmax, ymax)."""
    x, y = xyz[:, 0], xyz[:, 1]
    return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


def margin_mask(xyz: np.ndarray, bounds: np.ndarray, buffer: float) -> np.ndarray:
    """(N,) bool: points within `buffer` (inclusive) of the xy edges of `bounds`."""
    x, y = xyz[:, 0], xyz[:, 1]
    return (x <= bounds[0] + buffer) | (x >= bounds[3] - buffer) | (y <= bounds[1] + buffer) | (y >= bounds[4] - buffer)


def margin_suffices(box: np.ndarray, bounds: np.ndarray, buffer: float) -> bool:
    """Whether a tile's margin holds all its points inside `box`: the box misses the open inner square of the
    tile (its bounds shrunk by the buffer). True for every neighbour of a tile that does not overlap it."""
    return bool(box[2] <= bounds[0] + buffer or box[0] >= bounds[3] - buffer or box[3] <= bounds[1] + buffer or box[1] >= bounds[4] - buffer)


def neighbours(tiles: list[TileInfo], i: int, buffer: float) -> list[int]:
    """Tiles other than i whose xy bounds meet tile i's bounds grown by `buffer`."""
    if not tiles:
        return []
    box = xy_box(tiles[i].bounds, buffer)
    b = np.stack([t.bounds for t in tiles])
    meet = (b[:, 0] <= box[2]) & (b[:, 3] >= box[0]) & (b[:, 1] <= box[3]) & (b[:, 4] >= box[1])
    meet[i] = False
    return np.flatnonzero(meet).tolist()


def coverage_origin(tiles: list[TileInfo], units: Units = METRES) -> np.ndarray:
    """(3,) the coverage's minimum corner floored to whole metres (in the files' units): Scene.origin of the uncut cloud."""
    return metric_floor(np.stack([t.bounds[:3] for t in tiles]).min(axis=0), units)


def coverage_frame(tiles: list[TileInfo], origin: np.ndarray) -> float:
    """The side of the square, from the coverage's origin, that holds every tile (in the files' units): the frame of the
    test-time views, the same for all tiles so that the patch lattice still matches across tiles."""
    return float((np.stack([t.bounds[3:5] for t in tiles]).max(axis=0) - origin[:2]).max())


def coverage_groups(tiles: list[TileInfo], reach: float) -> np.ndarray:
    """(T,) int: the group of each tile, tiles joined when their xy bounds come within `reach` (the files' units) of each other
    (directly or through other tiles); group 0 holds the first tile. Tiles of one group are labelled as one cloud."""
    group = np.arange(len(tiles))
    for i in range(len(tiles)):  # a loop over tiles: union by the smallest label
        for j in neighbours(tiles, i, reach):
            a, b = group[i], group[j]
            if a != b:
                group[group == max(a, b)] = min(a, b)
    return np.unique(group, return_inverse=True)[1]


def coverage_frames(tiles: list[TileInfo], reach: float, units: Units = METRES) -> tuple[np.ndarray, np.ndarray]:
    """(origins (T, 3) in the files' units, frames (T,) in metres) of each tile: those of its group (coverage_groups), as
    coverage_origin and coverage_frame of the group's tiles; `reach` in the files' units. A tile far from every other (a
    tile in local coordinates beside georeferenced ones, a tile of another site) is a cloud of its own: labelled as if
    alone, and named in a warning."""
    group = coverage_groups(tiles, reach)
    origins, frames = np.zeros((len(tiles), 3)), np.zeros(len(tiles))
    for g in range(int(group.max()) + 1 if len(tiles) else 0):  # a loop over groups
        members = [t for t, k in zip(tiles, group) if k == g]
        origin = coverage_origin(members, units)
        origins[group == g], frames[group == g] = origin, coverage_frame(members, origin) * units.horizontal
    if len(tiles) and group.max() > 0:
        sizes = np.bincount(group)
        alone = [t.path.name for t, k in zip(tiles, group) if k != int(np.argmax(sizes))]
        log.warning("the tiles form %d separate clouds (no tile within %g m of another cloud's); each is labelled as a cloud of its "
                    "own; apart from the largest: %s (are they in the same coordinates?)", group.max() + 1, reach * units.horizontal,
                    ", ".join(alone[:5]) + (f" and {len(alone) - 5} more" if len(alone) > 5 else ""))
    return origins, frames


def _file_key(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def margin_name(path: Path) -> Path:
    """A tile's margin file, relative to OUT/.coverage/."""
    return Path("margins") / f"{path.name}.npz"


def index_files(out: Path, files: list[Path]) -> list[Path]:
    """Every file the index pass may write: OUT/.coverage/index.json and one margin per tile."""
    cache = out / INDEX_DIR
    return [cache / "index.json", *(cache / margin_name(f) for f in files)]


def index_one(path: Path, cache: Path, buffer: float) -> dict:
    """The index entry of one file: its bounds, point count, and (for formats without a header) its margin,
    written to cache/margins/<name>.npz."""
    entry = {"file": path.name, **_file_key(path)}
    header = header_bounds(path)
    if header is not None:
        bounds, count, crs = header
        return {**entry, "bounds": bounds.tolist(), "points": count, "margin": None, "buffer": buffer, "crs": crs}
    scene = read_scene(path, None)
    bounds = np.concatenate([scene.xyz.min(axis=0), scene.xyz.max(axis=0)])
    keep = margin_mask(scene.xyz, bounds, buffer)
    arrays = {"xyz": scene.xyz[keep]}
    arrays.update({f: getattr(scene, f)[keep] for f in POINT_FIELDS if getattr(scene, f, None) is not None})
    margin = margin_name(path)
    with atomic_path(cache / margin) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return {**entry, "bounds": bounds.tolist(), "points": len(scene), "margin": str(margin), "buffer": buffer, "crs": None}


def _load_index(cache: Path) -> dict[str, dict]:
    path = cache / "index.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        log.warning("%s: unreadable coverage index, rebuilding it", path)
        return {}
    return data.get("tiles", {}) if data.get("version") == INDEX_VERSION else {}


def _still_valid(entry: dict | None, path: Path, cache: Path, buffer: float) -> bool:
    if entry is None or {k: entry.get(k) for k in ("size", "mtime_ns")} != _file_key(path):
        return False
    return entry["margin"] is None or (entry["buffer"] == buffer and (cache / entry["margin"]).is_file())


def index_tiles(files: list[Path], out: Path, buffer: float, rank: int = 0, world: int = 1, progress: bool = False) -> list[TileInfo]:
    """Bounds (and margins) of every file, from OUT/.coverage/index.json where still valid, else indexed now.

    With several ranks the files to index are shared among them (largest file first) and every rank gets the
    whole index; rank 0 writes index.json. All ranks must call this together.
    """
    cache = out / INDEX_DIR
    cached = _load_index(cache)
    stale = [f for f in files if not _still_valid(cached.get(f.name), f, cache, buffer)]
    mine = [stale[k] for k in shard_largest_first([f.stat().st_size for f in stale], world, rank)]
    entries: dict[str, dict] = {}
    error = None
    for n, path in enumerate(mine):
        if progress:
            log.info("indexing %s (%d/%d)", path.name, n + 1, len(mine))
        try:
            entries[path.name] = index_one(path, cache, buffer)
        except Exception as err:  # handed to every rank below, so none waits for ever
            error = err
            break
    for part in gather_or_raise(entries, error, rank):
        cached.update(part)
    index = {f.name: cached[f.name] for f in files}
    if rank == 0 and stale:
        atomic_write_text(cache / "index.json", json.dumps({"version": INDEX_VERSION, "tiles": index}, indent=1))
    tiles = [TileInfo(f, np.asarray(index[f.name]["bounds"], np.float64), int(index[f.name]["points"]),
                      None if index[f.name]["margin"] is None else cache / index[f.name]["margin"], index[f.name].get("crs"))
             for f in files]
    check_tiles(tiles)
    return tiles


def check_tiles(tiles: list[TileInfo]) -> None:
    """Raise for a tile without points or when the tiles' CRSs differ (where their headers name one); warn when two tiles overlap over more
    than a tenth of the smaller one: a folder of independent scenes is not a coverage, and labelling it as one
    mixes their points."""
    empty = next((t for t in tiles if t.points == 0), None)
    if empty is not None:
        raise PointCloudError(empty.path, "empty tile: its header counts no points; remove it from the coverage folder")
    named = [t for t in tiles if t.crs is not None]
    other = next((t for t in named if t.crs != named[0].crs), None)
    if other is not None:
        raise PointCloudError(other.path, f"its CRS differs from {named[0].path.name}'s; the tiles of a coverage must share one "
                                          f"CRS (reproject them first, e.g. with PDAL)")
    b = np.stack([t.bounds for t in tiles])
    area = np.maximum(b[:, 3] - b[:, 0], 0) * np.maximum(b[:, 4] - b[:, 1], 0)
    for i in range(len(tiles)):  # a loop over tiles
        w = np.minimum(b[i, 3], b[:, 3]) - np.maximum(b[i, 0], b[:, 0])
        h = np.minimum(b[i, 4], b[:, 4]) - np.maximum(b[i, 1], b[:, 1])
        overlap = np.clip(w, 0, None) * np.clip(h, 0, None)
        overlap[i] = 0
        big = np.flatnonzero(overlap > 0.1 * np.minimum(area[i], area))
        if len(big):
            log.warning("%s: overlaps %s by more than 10%%; are these tiles of one coverage?", tiles[i].path, tiles[int(big[0])].path.name)


def buffer_points(tiles: list[TileInfo], i: int, buffer: float) -> dict[str, np.ndarray | None]:
    """The neighbours' points within `buffer` of tile i's xy bounds: {"xyz": (M, 3) float64, "rgb": (M, 3) uint8
    or None, "intensity": (M,) or None}; a field is None when a neighbour lacks it."""
    box = xy_box(tiles[i].bounds, buffer)
    parts: dict[str, list] = {"xyz": [np.zeros((0, 3), np.float64)], **{f: [] for f in POINT_FIELDS}}
    for j in neighbours(tiles, i, buffer):  # a loop over tiles
        t = tiles[j]
        if t.margin is not None and margin_suffices(box, t.bounds, buffer):
            with np.load(t.margin) as m:
                arrays = {k: m[k] for k in m.files}
        else:  # a header-indexed format, or a neighbour overlapping this tile: read it whole
            s = read_scene(t.path, None)
            arrays = {"xyz": s.xyz, **{f: getattr(s, f, None) for f in POINT_FIELDS}}
        keep = in_box(arrays["xyz"], box)
        parts["xyz"].append(arrays["xyz"][keep])
        for f in POINT_FIELDS:
            parts[f].append(None if arrays.get(f) is None else arrays[f][keep])
    out: dict[str, np.ndarray | None] = {"xyz": np.concatenate(parts["xyz"])}
    for f in POINT_FIELDS:
        out[f] = None if any(p is None for p in parts[f]) else (np.concatenate(parts[f]) if parts[f] else None)
    return out


def tile_with_buffer(tiles: list[TileInfo], i: int, buffer: float, origin: np.ndarray,
                     class_map: ClassMap | str | None = None, units: Units = METRES, units_setting: str = "auto") -> tuple[Scene, Scene, np.ndarray]:
    """(the tile's own scene, own + buffer points placed in `origin`, targets (N,) bool: which are its own).
    `buffer` and `origin` are in the files' units; `units` are the coverage's (every tile must have them)."""
    own = read_scene(tiles[i].path, class_map, units_setting)
    if (own.units.horizontal, own.units.vertical) != (units.horizontal, units.vertical):
        raise PointCloudError(own.path, f"its coordinates are in {own.units.describe()}, the coverage's first tile's in {units.describe()}; "
                                        f"the tiles of a coverage must share one CRS and its units")
    if (own.xyz.min(axis=0) < origin).any():
        raise PointCloudError(own.path, "has points outside its bounds in the coverage index (OUT/.coverage/index.json); delete that folder and run again")
    extra = buffer_points(tiles, i, buffer) if buffer > 0 else {"xyz": np.zeros((0, 3)), **{f: None for f in POINT_FIELDS}}
    fields = {}
    for f in POINT_FIELDS:
        mine = getattr(own, f, None)
        if mine is not None and len(extra["xyz"]) and extra[f] is None:
            raise PointCloudError(own.path, f"has {f} but a neighbouring tile has none; the tiles of a coverage must carry the same fields")
        fields[f] = None if mine is None else (np.concatenate([mine, extra[f]]) if len(extra["xyz"]) else mine)
    both = Scene(own.path, np.concatenate([own.xyz, extra["xyz"]]), fields["rgb"], intensity=fields["intensity"], units=own.units,
                 returns=fields["returns"])
    both.origin = np.asarray(origin, np.float64).copy()
    targets = np.zeros(len(both), bool)
    targets[: len(own)] = True
    return own, both, targets


def coverage_buffer(cfg: Config) -> float:
    """The buffer in metres: infer.coverage_buffer, or one patch (data.patch_size) when it is -1."""
    return cfg.data.patch_size if cfg.infer.coverage_buffer < 0 else cfg.infer.coverage_buffer
