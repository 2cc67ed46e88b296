"""A point cloud file larger than memory, split on disk in one streaming pass and read back one big tile at a time.

`split_file` reads the file chunk by chunk (pointseg.io.stream) and appends each point, with its index in the file,
to the block of an absolute square grid (side `side` metres) that holds it: WORK/blocks/b_<i>_<j>.npy, one structured
record per point (index int64, xyz float64, colour as stored, intensity, return numbers, label), in file order within a block;
WORK/index.json keeps the blocks' point counts and the file's FileSummary, and is reused while the file keeps its
size and mtime. The block files are recorded in their folder's ledger (pointseg.io.ownership) when the pass ends; a
pass killed midway leaves a `.blocks-PID@MACHINE` folder that the next one on that machine removes.

A big tile is a square of `per_side` x `per_side` tiles of the patch tiling (pointseg.data.tiling: gcd(patch, stride)
metres, anchored at the file's origin, as an uncut scene of the whole file is tiled), so every point's tile, and
therefore its big tile, is the uncut run's. Blocks and boxes are in the file's coordinates; the tiling is in metres
(the file's units from its CRS or the units setting: pointseg.io.units), as the in-memory path computes. `plan_tiles` sizes the big tiles for a number of points (the densest
block decides), and `BlockStore.read_box` gathers a box (a big tile and its buffer) from the blocks that meet it,
reading each block in parts: one big tile and its buffer are in memory at a time.
"""

import json
import logging
import math
import os
import shutil
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from pointseg.data.groups import group_cell, set_aside, spatial_groups
from pointseg.data.tiling import last_tiles, point_tiles, tile_units
from pointseg.data.voxelize import voxel_cells
from pointseg.io.atomic import atomic_write_text
from pointseg.io.class_map import ClassMap
from pointseg.io.las import _open_header
from pointseg.io.ownership import dir_kind, mark_dir, record, remove_tree
from pointseg.io.stream import CHUNK_POINTS, Chunk, FileSummary, open_stream
from pointseg.io.units import Units, metres_from
from pointseg.processes import gone, parse_tag, tag

log = logging.getLogger(__name__)

INDEX_VERSION = 3  # 2: return numbers, units and the intensity reference in the summary; 3: each block's bounds
BLOCKS_KIND = "blocks"  # the kind of folder split_file makes (pointseg.io.ownership)
ASSUMED_DENSITY = 10.0  # points per m^2 when a file's header gives no extent (text, PLY): sizes its blocks only
DEFAULT_MEMORY_FRACTION = 1 / 6  # infer.max_memory / data.max_memory 0: this share of the machine's memory


def machine_memory() -> int:
    """Bytes of physical memory of this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def memory_budget(gib: float) -> int:
    """The memory budget in bytes: `gib` GiB, or with 0 a sixth of the machine's memory."""
    return int(gib * 2**30) if gib > 0 else int(machine_memory() * DEFAULT_MEMORY_FRACTION)


def estimate_points(path: str | Path) -> int:
    """A scene file's point count without reading its points: the LAS/LAZ or PLY header's, or for text the file's size
    over the mean length of its first lines (0 for a file that cannot tell: its reader will say why)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".las", ".laz"):
            return int(_open_header(path).point_count)
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except Exception:  # a missing or unreadable file: reading it in memory names the problem
        return 0
    if suffix == ".ply":
        for line in head.split(b"end_header")[0].splitlines():
            words = line.split()
            if len(words) == 3 and words[:2] == [b"element", b"vertex"] and words[2].isdigit():
                return int(words[2])
        return 0
    lines = head.count(b"\n")
    return int(path.stat().st_size / (len(head) / lines)) if lines else 0


def record_dtype(chunk: Chunk) -> np.dtype:
    """The block record of a file whose chunks look like `chunk`: index, xyz, and colour, intensity, returns, label where
    it has them."""
    fields: list = [("index", "<i8"), ("xyz", "<f8", (3,))]
    if chunk.colour is not None:
        fields.append(("colour", chunk.colour.dtype.newbyteorder("<").str, (3,)))
    if chunk.intensity is not None:
        fields.append(("intensity", "<f4"))
    if chunk.returns is not None:
        fields.append(("returns", "u1", (2,)))
    if chunk.labels is not None:
        fields.append(("label", "<i2"))
    return np.dtype(fields)


def _npy_header(dtype: np.dtype, n: int, length: int) -> bytes:
    """A .npy (version 1.0) header of exactly `length` bytes for (n,) records of `dtype`."""
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n,)})
    body = length - 10
    if len(text) + 1 > body:
        raise ValueError("npy header too long")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", body) + (text.ljust(body - 1) + "\n").encode("latin1")


def _header_length(dtype: np.dtype) -> int:
    """Room for the header of any count (up to 20 digits), rounded up to numpy's 64-byte alignment."""
    return 64 * math.ceil((10 + len(repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (10**19,)})) + 1) / 64)


class BlockWriter:
    """Appends chunks' points to the block files of an absolute square grid of side `side` metres in `folder`."""

    def __init__(self, folder: Path, side: float):
        self.folder, self.side = folder, float(side)
        self.dtype: np.dtype | None = None
        self.counts: dict[tuple[int, int], int] = {}
        self.bounds: dict[tuple[int, int], np.ndarray] = {}  # (2, 3) mins, maxs of each block's points
        self.header_length = 0

    def path(self, key: tuple[int, int]) -> Path:
        return self.folder / f"b_{key[0]}_{key[1]}.npy"

    def add(self, chunk: Chunk) -> None:
        if self.dtype is None:
            self.dtype = record_dtype(chunk)
            self.header_length = _header_length(self.dtype)
        rec = np.empty(len(chunk), self.dtype)
        rec["index"] = np.arange(chunk.start, chunk.start + len(chunk))
        rec["xyz"] = chunk.xyz
        for name, values in (("colour", chunk.colour), ("intensity", chunk.intensity), ("returns", chunk.returns), ("label", chunk.labels)):
            if name in self.dtype.names:
                rec[name] = values
        kx, ky = (np.floor(chunk.xyz[:, a] / self.side).astype(np.int64) for a in range(2))
        x0, y0 = int(kx.min()), int(ky.min())
        key = (kx - x0) * (int(ky.max()) - y0 + 1) + (ky - y0)  # one int per block of the chunk, from 0
        order = np.argsort(key.astype(np.uint16) if key.max() < 2**16 else key, kind="stable")  # by block, file order within
        key, rec = key[order], rec[order]
        cuts = np.r_[0, np.flatnonzero(np.diff(key)) + 1, len(key)]
        for a, b in zip(cuts[:-1], cuts[1:]):  # a loop over blocks
            block = (int(kx[order[a]]), int(ky[order[a]]))
            new = block not in self.counts
            xyz = rec["xyz"][a:b]
            here = np.stack([xyz.min(axis=0), xyz.max(axis=0)])
            self.bounds[block] = here if new else np.stack([np.minimum(self.bounds[block][0], here[0]), np.maximum(self.bounds[block][1], here[1])])
            with open(self.path(block), "wb" if new else "ab") as f:
                if new:
                    f.write(b"\0" * self.header_length)
                rec[a:b].tofile(f)
            self.counts[block] = self.counts.get(block, 0) + int(b - a)

    def close(self) -> None:
        """Write each block's .npy header (its final count) and record the files as pointseg's."""
        for key, n in self.counts.items():
            with open(self.path(key), "r+b") as f:
                f.write(_npy_header(self.dtype, n, self.header_length))
        record(*(self.path(k) for k in self.counts))


@dataclass
class BlockStore:
    """A file split into blocks: folder, side (the file's units), record dtype, header length, points per block, each
    block's bounds ((2, 3) mins, maxs), the summary of the points in these blocks (`subset`: the whole file's, with the
    points, mins and maxs of the blocks kept)."""

    folder: Path
    side: float
    dtype: np.dtype
    header_length: int
    counts: dict[tuple[int, int], int]
    bounds: dict[tuple[int, int], np.ndarray]
    summary: FileSummary
    _keys: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._keys = np.array(sorted(self.counts), np.int64).reshape(-1, 2)

    def path(self, key: tuple[int, int]) -> Path:
        return self.folder / f"b_{key[0]}_{key[1]}.npy"

    def blocks_meeting(self, box: np.ndarray) -> list[tuple[int, int]]:
        """The blocks whose square meets the xy box (4,) xmin, ymin, xmax, ymax (absolute metres)."""
        lo = self._keys * self.side
        meet = (lo[:, 0] <= box[2]) & (lo[:, 0] + self.side >= box[0]) & (lo[:, 1] <= box[3]) & (lo[:, 1] + self.side >= box[1])
        return [tuple(k) for k in self._keys[meet].tolist()]

    def read_box(self, box: np.ndarray, chunk: int = CHUNK_POINTS) -> np.ndarray:
        """The records (M,) of the points whose x, y lie in the closed box (4,), block by block, each read in parts of
        `chunk` records; within a block in file order."""
        parts = [np.zeros(0, self.dtype)]
        for key in self.blocks_meeting(box):  # a loop over blocks
            n = self.counts[key]
            with open(self.path(key), "rb") as f:
                f.seek(self.header_length)
                for first in range(0, n, chunk):
                    rec = np.fromfile(f, self.dtype, min(chunk, n - first))
                    x, y = rec["xyz"][:, 0], rec["xyz"][:, 1]
                    parts.append(rec[(x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])])
        return np.concatenate(parts)

    def densest(self) -> float:
        """Points per m^2 of the densest block."""
        return max(self.counts.values()) / self.side**2 if self.counts else 0.0

    def read_all(self) -> np.ndarray:
        """The records (M,) of every point in the store's blocks, in file order (for a few points: far outliers)."""
        rec = self.read_box(np.array([-np.inf, -np.inf, np.inf, np.inf]))
        return rec[np.argsort(rec["index"], kind="stable")]

    def subset(self, keys: list[tuple[int, int]]) -> "BlockStore":
        """The store of the blocks `keys` (each with points): the same files, a summary of their points."""
        bounds = np.stack([self.bounds[k] for k in keys])
        summary = replace(self.summary, points=sum(self.counts[k] for k in keys), mins=bounds[:, 0].min(axis=0), maxs=bounds[:, 1].max(axis=0))
        return BlockStore(self.folder, self.side, self.dtype, self.header_length, {k: self.counts[k] for k in keys},
                          {k: self.bounds[k] for k in keys}, summary)


def split_far(store: BlockStore, patch_size: float) -> tuple[BlockStore, BlockStore | None]:
    """(the bulk, the far outliers or None): the blocks of the smallest groups far from the rest that together hold at
    most 1% of the points (pointseg.data.groups.set_aside, as the in-memory paths find them, at the blocks' scale).

    Blocks are grouped by their centres in squares of two groups' cells plus a block's side, so two points in blocks of
    different groups are always more than two cells apart: never in one group of the in-memory grouping. A file's 0,0,0
    point then neither stretches the tiling over the space between nor sets the origin of the bulk's float32 coordinates."""
    keys = sorted(store.counts)
    if len(keys) < 2:
        return store, None
    h = store.summary.units.horizontal
    side_m = store.side * h
    centres = (np.asarray(keys, np.float64) + 0.5) * side_m  # metres
    group, n_groups = spatial_groups(centres, 2 * group_cell(patch_size) + side_m)
    counts = np.array([store.counts[k] for k in keys], np.int64)
    far = set_aside(group, n_groups, weights=counts)
    if not far.any():
        return store, None
    return store.subset([k for k, f in zip(keys, far) if not f]), store.subset([k for k, f in zip(keys, far) if f])


def _file_key(path: Path) -> dict:
    st = path.stat()
    return {"file": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _summary_json(s: FileSummary) -> dict:
    return {"points": s.points, "mins": s.mins.tolist(), "maxs": s.maxs.tolist(), "colour_rule": s.colour_rule, "intensity": s.intensity,
            "labels": s.labels, "out_of_range_labels": s.out_of_range_labels, "crs": s.crs, "returns": s.returns,
            "units": [s.units.horizontal, s.units.vertical, s.units.source], "intensity_reference": s.intensity_reference}


def _units_key(units: "str | Units") -> "str | list":
    """The units setting as index.json keeps it (a pass with another setting is not reused)."""
    return units if isinstance(units, str) else [units.horizontal, units.vertical, units.source]


def _load_store(path: Path, work: Path, side: float, class_map: ClassMap | None, units: "str | Units" = "auto") -> BlockStore | None:
    """The store of an earlier pass over the same file with the same settings, or None."""
    try:
        index = json.loads((work / "index.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    wanted = {"version": INDEX_VERSION, **_file_key(path), "side": side, "class_map": None if class_map is None else class_map.name,
              "units": _units_key(units)}
    if any(index.get(k) != v for k, v in wanted.items()) or not (work / "blocks").is_dir():
        return None
    s = index["summary"]
    header = _open_header(path) if path.suffix.lower() in (".las", ".laz") else None
    summary = FileSummary(path, s["points"], np.asarray(s["mins"]), np.asarray(s["maxs"]), s["colour_rule"], s["intensity"], s["labels"],
                          s["out_of_range_labels"], s["crs"], header, s["returns"], Units(*s["units"]), s["intensity_reference"])
    dtype = np.lib.format.descr_to_dtype([tuple(f) if len(f) == 2 else (f[0], f[1], tuple(f[2])) for f in index["dtype"]])
    counts = {(b[0], b[1]): b[2] for b in index["blocks"]}
    bounds = {(b[0], b[1]): np.asarray(b[3:], np.float64).reshape(2, 3) for b in index["blocks"]}
    store = BlockStore(work / "blocks", side, dtype, index["header_length"], counts, bounds, summary)
    if any(not store.path(k).is_file() for k in counts):
        return None
    return store


def clean_block_leftovers(work: Path) -> None:
    """Remove the `.blocks-PID@MACHINE` folders of passes killed midway (their process, on this machine, is gone; another
    machine's pass sharing the folder is left alone, as pointseg.io.atomic leaves its temporary files)."""
    for p in sorted(work.glob(".blocks-*")):
        owner = parse_tag(p.name.split("-", 1)[1])
        if owner is not None and gone(*owner) and p.is_dir() and dir_kind(p) == BLOCKS_KIND:
            shutil.rmtree(p)
            log.warning("%s: removed %s, left by a killed run (process %d)", work, p.name, owner[0])


def split_file(path: str | Path, work: str | Path, class_map: ClassMap | None, side: float, progress: bool = False,
               chunk: int = CHUNK_POINTS, units: "str | Units" = "auto") -> BlockStore:
    """Split a scene file into blocks of `side` file units in work/blocks in one streaming pass, or reuse the blocks of an
    earlier pass (same file, size, mtime, side, class map and units setting). Raises the file's problems (PointCloudError)
    as the in-memory reader would, after the pass; then nothing is kept. units: the setting for a file without a CRS."""
    path, work = Path(path), Path(work)
    work.mkdir(parents=True, exist_ok=True)
    clean_block_leftovers(work)
    store = _load_store(path, work, side, class_map, units)
    if store is not None:
        log.info("%s: reusing the blocks of an earlier pass in %s", path.name, work)
        return store
    if (work / "blocks").exists():
        remove_tree(work / "blocks", BLOCKS_KIND)
    partial = work / f".blocks-{tag()}"
    mark_dir(partial, BLOCKS_KIND)
    try:
        stream = open_stream(path, class_map, units)
        writer = BlockWriter(partial, side)
        for n, c in enumerate(stream.chunks(chunk)):
            if progress and n % 16 == 0:
                log.info("%s: split %d M points into blocks", path.name, c.start // 10**6)
            if not stream.failed:
                writer.add(c)
        summary = stream.summary()  # raises the file's first problem
        writer.close()
        os.replace(partial, work / "blocks")
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    index = {"version": INDEX_VERSION, **_file_key(path), "side": side, "class_map": None if class_map is None else class_map.name,
             "units": _units_key(units), "dtype": np.lib.format.dtype_to_descr(writer.dtype), "header_length": writer.header_length,
             "blocks": [[i, j, n, *writer.bounds[(i, j)].ravel().tolist()] for (i, j), n in sorted(writer.counts.items())],
             "summary": _summary_json(summary)}
    atomic_write_text(work / "index.json", json.dumps(index))
    return BlockStore(work / "blocks", side, writer.dtype, writer.header_length, writer.counts, writer.bounds, summary)


def block_side(path: Path, points_per_tile: int) -> float:
    """Blocks of about a sixteenth of a big tile's points (so a big tile reads little beyond itself), from the density of
    the LAS/LAZ header's extent, else ASSUMED_DENSITY; whole metres between 25 m and 2 km."""
    density = ASSUMED_DENSITY
    if path.suffix.lower() in (".las", ".laz"):
        h = _open_header(path)
        area = float(np.prod(np.maximum(np.asarray(h.maxs[:2]) - np.asarray(h.mins[:2]), 1.0)))
        density = max(h.point_count / area, 1e-6)
    return float(np.clip(round(math.sqrt(points_per_tile / 16 / density)), 25, 2000))


@dataclass
class TilePlan:
    """Big tiles of `per_side` x `per_side` tiles of the patch tiling (tile_v voxels, tile_m metres each), anchored at
    `origin` (the file's units); `last` (2,): the last tile along x and y of the whole file (tile_scene's clamp); `tiles`:
    the big tiles (a, b) that meet blocks with points; `units`: the file's (the tiling is in metres)."""

    origin: np.ndarray
    tile_v: int
    tile_m: float
    voxel_size: float
    per_side: int
    last: list[int]
    tiles: list[tuple[int, int]]
    units: Units = field(default_factory=Units)

    def box(self, tile: tuple[int, int], buffer: float) -> np.ndarray:
        """(4,) absolute xmin, ymin, xmax, ymax (the file's units) of a big tile grown by `buffer` metres and 1 m more
        (rounding slack)."""
        a, b = tile
        side = self.per_side * self.tile_m
        h = self.units.horizontal
        lo = self.origin[:2] + (np.array([a * side, b * side]) - buffer - 1.0) / h
        return np.r_[lo, lo + (side + 2 * buffer + 2.0) / h]

    def local(self, xyz: np.ndarray) -> np.ndarray:
        """(N, 3) float64 metres of points xyz (N, 3) (the file's units) from `origin`: Scene.local_xyz before its float32
        step."""
        return metres_from(xyz, self.origin, self.units)

    def tile_of(self, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each point's tile (tx, ty) of the patch tiling, from its local coordinates in metres (N, 3) (float32, as
        inference and prepare see them): tile_scene's own computation for the whole file."""
        return point_tiles(voxel_cells(local, self.voxel_size), self.tile_v, self.last)

    def members(self, tile: tuple[int, int], tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
        """(N,) bool: the points (by their tiles tx, ty) that belong to big tile `tile`."""
        a, b = tile
        k = self.per_side
        return (tx >= a * k) & (tx < (a + 1) * k) & (ty >= b * k) & (ty < (b + 1) * k)


def plan_tiles(store: BlockStore, voxel_size: float, patch_size: float, stride: float, max_points: int, buffer: float = 0.0,
               float32: bool = True) -> TilePlan:
    """Big tiles as few as fit `max_points` points with their buffer at the density of the densest block, all of one size
    (the fewest tiles, then the smallest side), at least one tile of the patch tiling (then a warning if even that is over). float32: the local coordinates inference uses (prepare
    uses float64), which decide the clamp of the last tile exactly as for the uncut scene."""
    s = store.summary
    origin = s.origin
    tile_v, _, _ = tile_units(patch_size, stride, voxel_size)
    tile_m = tile_v * voxel_size
    top = (s.maxs[:2] - origin[:2]) * s.units.horizontal  # metres, as Scene.local_xyz computes them
    last = last_tiles([float(np.float32(t)) if float32 else float(t) for t in top], tile_m)
    density = store.densest() / s.units.horizontal**2  # points per m^2
    fit = (math.sqrt(max_points / density) - 2 * buffer) / tile_m if density > 0 else math.inf
    span = max(last) + 1  # tiles along the longer side
    per_side = math.ceil(span / math.ceil(span / min(max(1, math.floor(fit)), span)))  # as many big tiles, of even size
    if fit < 1:
        log.warning("%s: even a big tile of one %g m tile with its %g m buffer holds about %d points at the densest block's %.0f "
                    "points per m^2, more than the memory budget's %d; memory may exceed the budget", s.path.name, tile_m, buffer,
                    int(density * (tile_m + 2 * buffer) ** 2), density, max_points)
    plan = TilePlan(origin, tile_v, tile_m, voxel_size, per_side, last, [], s.units)
    plan.tiles = _tiles_meeting_blocks(store, plan)
    return plan


def _tiles_meeting_blocks(store: BlockStore, plan: TilePlan) -> list[tuple[int, int]]:
    """The big tiles (a, b), sorted, whose box (1 m of slack) meets a block with points: found from the blocks, so a
    file with a far outlier does not make a grid of big tiles over the empty space between."""
    n = [plan.last[0] // plan.per_side + 1, plan.last[1] // plan.per_side + 1]
    side_m = plan.per_side * plan.tile_m
    h = plan.units.horizontal
    found: set[tuple[int, int]] = set()
    for key in store.counts:  # a loop over blocks
        corner = np.asarray(key, np.float64) * store.side
        lo = np.floor(((corner - plan.origin[:2]) * h - 1.0) / side_m).astype(np.int64)
        hi = np.floor(((corner + store.side - plan.origin[:2]) * h + 1.0) / side_m).astype(np.int64)
        for a in range(max(0, int(lo[0])), min(n[0] - 1, int(hi[0])) + 1):
            for b in range(max(0, int(lo[1])), min(n[1] - 1, int(hi[1])) + 1):
                found.add((a, b))
    return sorted(found)
