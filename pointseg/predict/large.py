"""One file larger than memory labelled as a coverage of its own tiles: split on disk, labelled big tile by big tile
with the coverage buffer, stitched back into one labelled copy in the input's point order.

1. `split_file` (pointseg.data.blocks) reads the file once, chunk by chunk, into blocks on disk under
   OUT/.large/<scene>/ (each point with its index in the file).
2. The big tiles (`plan_tiles`: squares of the patch tiling's tiles, anchored at the file's origin, as large as the
   memory budget allows) are labelled one at a time as the tiles of a coverage are (pointseg.predict.coverage): the
   tile's points plus every point within the buffer (one patch, or one patch x sqrt 2 with rotated test-time views) of
   its edges, placed in the file's origin and its test-time frame, so every patch that holds a tile's point is the
   uncut run's patch and its labels are the uncut run's; only the tile's own points are kept. Far outliers (a 0,0,0
   point in a georeferenced file: blocks.split_far) are left out of the tiling and labelled last, on their own, as
   the in-memory run labels them; the bulk's origin is then its own, as in the in-memory run.
3. Each big tile's labels, confidence, entropy (and probabilities) go into per-point columns on disk at the points'
   indices in the file (pointseg.io.columns); a tile finished is recorded in progress.json, so a run killed midway
   resumes at the next tile.
4. A second pass over the input writes the labelled copy chunk by chunk (pointseg.io.stream): LAS/LAZ with every
   dimension, VLR and EVLR of the input, PLY, or a new LAS file, exactly as the in-memory path writes it (the same
   fields and names per format through pointseg.io.dispatch.labelled_fields: scalar_* in PLY, described extra
   dimensions in LAS, original_class with --write-class classification, the CRS or --crs).
Computation is in metres (the file's units from its CRS or infer.units, as the in-memory path); each big tile carries
the file's colours, intensity (with the whole file's intensity scale) and return numbers, so any model's features work.
Then the work folder is removed. Memory: one big tile with its buffer, one chunk of the input, a window of a column.
"""

import json
import logging
import math
import time
from pathlib import Path

import laspy
import numpy as np
import torch

from pointseg.config import Config
from pointseg.constants import CLASS_PALETTE, NUM_CLASSES
from pointseg.data.blocks import BlockStore, TilePlan, block_side, estimate_points, memory_budget, plan_tiles, split_far, split_file
from pointseg.data.groups import say_far_points
from pointseg.io import ClassMap, Scene, atomic_write_text, scene_name
from pointseg.io.columns import PointColumns
from pointseg.io.dispatch import labelled_fields, output_wkt
from pointseg.io.fields import prediction_columns
from pointseg.io.labelled import ply_comments, say_what_ply_drops
from pointseg.io.units import Units
from pointseg.io.ownership import dir_kind, mark_dir, remove_tree
from pointseg.io.stream import FileSummary, labelled_writer, open_stream
from pointseg.errors import OutputExistsError
from pointseg.metrics import confusion_matrix
from pointseg.predict.coverage import coverage_buffer
from pointseg.predict.predictor import Predictor
from pointseg.predict.stitch import predict_scene

log = logging.getLogger(__name__)

WORK_DIR = ".large"  # OUT/.large/<scene>/: the blocks, the prediction columns, index.json, progress.json
KIND = "large-file"  # the kind of that folder (pointseg.io.ownership)
# Resident memory (tools/benchmark_large.py, the CPU demo model): the in-memory path holds about IN_MEMORY_BYTES per
# point of a file (issue 20 measured 450: the scene, its tiling, the votes, a LAS file's records and their labelled
# copy); the tiled path about 200 per point of a big tile with its buffer (1.29 GiB for 5.5 M points), TILE_BYTES with a
# margin for finer voxels; FIXED_BYTES: torch, spconv and the model with a patch in flight (the paper's model: 250 MiB).
IN_MEMORY_BYTES = 450
TILE_BYTES = 300
FIXED_BYTES = 512 << 20
FAR = [-1, -1]  # progress.json's name for the far outliers, labelled after the big tiles


def needs_tiling(path: str | Path, max_memory_gib: float) -> bool:
    """Whether labelling `path` in memory would take more than the budget (infer.max_memory)."""
    return FIXED_BYTES + estimate_points(path) * IN_MEMORY_BYTES > memory_budget(max_memory_gib)


def tile_buffer(cfg: Config) -> float:
    """The buffer of a big tile: the coverage buffer (one patch by default); with rotated test-time views a patch reaches
    sqrt 2 times further in the file's axes."""
    buffer = coverage_buffer(cfg)
    return math.ceil(buffer * math.sqrt(2)) if cfg.infer.tta > 1 else buffer


def label_large_file(path: Path, labelled: Path, out: Path, predict: Predictor, cfg: Config, device: torch.device,
                     classes: ClassMap, progress: bool = False, settings: dict | None = None, units: "str | Units" = "auto",
                     crs=None) -> tuple[int, np.ndarray | None, Units]:
    """Label `path` tile by tile from disk into `labelled` (its format by suffix; pointseg.io.dispatch's fields). Returns
    (points, confusion matrix (15, 15) or None without ground truth, the file's units). settings: what decides the labels
    (a run resumes only the tiles of a run with the same settings); units: the setting for a file without a CRS
    (infer.units, or a Units from --crs); crs: a pyproj CRS for an output whose input has none (--crs)."""
    t0 = time.perf_counter()
    work = _work_dir(out, path)
    budget = memory_budget(cfg.infer.max_memory)
    points_per_tile = max(1, (budget - FIXED_BYTES) // TILE_BYTES)
    try:
        store = split_file(path, work, classes, block_side(path, points_per_tile), progress, units=units)
    except BaseException:  # a bad file (or an interrupted pass): nothing of it is worth keeping
        _discard(work)
        raise
    summary = store.summary  # the whole file's
    n_blocks = len(store.counts)
    store, far = split_far(store, cfg.data.patch_size)
    buffer = tile_buffer(cfg)
    plan = plan_tiles(store, cfg.data.voxel_size, cfg.data.patch_size, cfg.infer.stride, points_per_tile, buffer)
    log.info("%s: %d points split into %d blocks in %.0f s; labelling %d big tiles of %g m", path.name, summary.points, n_blocks,
             time.perf_counter() - t0, len(plan.tiles), plan.per_side * plan.tile_m)
    columns, done = _columns(work, summary.points, cfg.infer.probabilities, plan, settings or {})
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64) if summary.labels else None
    if confusion is not None and done:
        confusion += np.asarray(json.loads((work / "progress.json").read_text())["confusion"], np.int64)
    for k, tile in enumerate([*plan.tiles, None] if far is not None else plan.tiles):  # a loop over big tiles, then the far points
        if (FAR if tile is None else list(tile)) in done:
            continue
        part = label_tile(store, plan, tile, buffer, predict, cfg, device, progress) if tile is not None else label_far(far, predict, cfg, device)
        if part is None:
            continue
        rows, pred, truth = part
        values = {"labels": pred.labels, "confidence": pred.confidence, "entropy": pred.entropy}
        if pred.probabilities is not None:
            values["probabilities"] = pred.probabilities
        columns.write(rows, values)
        columns.record()
        if confusion is not None and truth is not None:
            confusion += confusion_matrix(truth, pred.labels)
        done.append(FAR if tile is None else list(tile))
        _save_progress(work, plan, settings or {}, summary.points, done, confusion)
        if progress and tile is not None:
            log.info("%s: big tile %d/%d labelled (%d points), %.0f s", path.name, k + 1, len(plan.tiles), len(rows), time.perf_counter() - t0)
    write_labelled_copy(path, labelled, summary, columns, cfg, classes, crs)
    remove_tree(work, KIND)
    _remove_if_empty(work.parent)
    return summary.points, confusion, summary.units


def label_tile(store: BlockStore, plan: TilePlan, tile: tuple[int, int], buffer: float, predict: Predictor, cfg: Config,
               device: torch.device, progress: bool = False):
    """Label one big tile with its buffer: (rows (M,) int64 ascending: its points' indices in the file, ScenePrediction of
    those points in that order, their labels (M,) or None), or None for a tile without points."""
    rec = store.read_box(plan.box(tile, buffer))
    s = store.summary
    if not len(rec):
        return None
    # in file order, as the uncut scene: a voxel's points are then summed in the same order (a voxel may straddle two
    # blocks when the file's units are not metres, and float sums depend on their order)
    rec = rec[np.argsort(rec["index"], kind="stable")]
    local = plan.local(rec["xyz"]).astype(np.float32)  # metres, as the uncut run's tiling sees them
    targets = plan.members(tile, *plan.tile_of(local))
    del local
    if not targets.any():
        return None
    scene = _records_scene(rec, s)
    scene.origin = plan.origin.copy()
    frame = float(np.ceil(plan.local(s.maxs[None])[0, :2].max()))  # metres: the uncut scene's frame of the test-time views
    pred = predict_scene(scene, predict, cfg, progress, device, cfg.infer.probabilities, targets, frame=frame)
    rows = rec["index"][targets]
    order = np.argsort(rows)
    truth = rec["label"][targets][order].astype(np.int64) if s.labels and "label" in rec.dtype.names else None
    pred = type(pred)(*(None if a is None else a[order] for a in pred))
    return rows[order], pred, truth


def label_far(far: BlockStore, predict: Predictor, cfg: Config, device: torch.device):
    """Label the far outliers on their own (each part as if alone, as the in-memory run labels them): (rows (K,) int64
    ascending, ScenePrediction, labels (K,) or None), as label_tile returns them."""
    rec = far.read_all()
    s = far.summary
    say_far_points(s.path, len(rec), cfg.data.patch_size, int(rec["index"][0]), rec["xyz"][0], "are labelled on their own, without a grid over the space between")
    pred = predict_scene(_records_scene(rec, s), predict, cfg, False, device, cfg.infer.probabilities)
    truth = rec["label"].astype(np.int64) if s.labels and "label" in rec.dtype.names else None
    return rec["index"], pred, truth


def _records_scene(rec: np.ndarray, s: FileSummary) -> Scene:
    """A Scene of block records (M,) in file order, with the file's colour rule, intensity scale and units."""
    rgb = s.rgb(rec["colour"]) if "colour" in rec.dtype.names else None
    intensity = rec["intensity"] if s.intensity else None
    returns = rec["returns"] if s.returns else None
    return Scene(s.path, rec["xyz"], rgb, intensity=intensity, units=s.units, returns=returns, intensity_reference=s.intensity_reference)


def write_labelled_copy(path: Path, labelled: Path, summary: FileSummary, columns: PointColumns, cfg: Config, classes: ClassMap,
                        crs=None) -> None:
    """The labelled copy of `path`, chunk by chunk in the input's point order, from the prediction columns: the file
    pointseg.io.dispatch.write_labelled writes for the same predictions (fields, names, descriptions, comments, CRS)."""
    from pointseg.io.labelled import not_in_ply

    stream = open_stream(path, None, summary.units)
    probabilities = "probabilities" in columns.columns
    ply = labelled.suffix.lower() == ".ply"
    empty = np.zeros(0)
    source = laspy.ScaleAwarePointRecord.zeros(0, header=summary.header) if summary.header is not None else None
    intensity = np.zeros(0, np.float32) if summary.intensity and source is None else None
    columns0 = prediction_columns(empty, empty, empty, np.zeros((0, NUM_CLASSES)) if probabilities else None)
    fields, _, names = labelled_fields(labelled, columns0, source, intensity, cfg.infer.write_class, classes)
    colorize = cfg.infer.colorize and ply
    has_rgb = colorize or summary.colour_rule is not None
    wkt = output_wkt(summary.header, crs) if ply else None
    dropped: dict[str, None] = {}  # LAS dimensions with a non-zero value that a PLY does not hold, in the input's order
    with labelled_writer(labelled, summary, {n: v.dtype for n, v in fields.items()}, has_rgb, ply_comments(names, wkt), crs) as writer:
        for chunk in stream.chunks():
            c = columns.read(chunk.start, chunk.start + len(chunk))
            predicted = prediction_columns(c["labels"], c["confidence"], c["entropy"], c.get("probabilities"))
            fields, codes, _ = labelled_fields(labelled, predicted, chunk.record, chunk.intensity if summary.intensity else None,
                                               cfg.infer.write_class, classes)
            if ply and chunk.record is not None:
                dropped.update(dict.fromkeys(not_in_ply(chunk.record, set(names))))
            rgb = CLASS_PALETTE[c["labels"]] if colorize else summary.rgb(chunk.colour)
            writer.write(chunk, fields, codes, rgb)
    if ply and summary.header is not None:
        order = list(summary.header.point_format.dimension_names)
        say_what_ply_drops(labelled, path, sorted(dropped, key=order.index), wkt)


def _work_dir(out: Path, path: Path) -> Path:
    """OUT/.large/<scene>: made and marked as pointseg's, or refused when something else has that name."""
    work = out / WORK_DIR / scene_name(path)
    if work.exists() and dir_kind(work) != KIND:
        raise OutputExistsError(f"{work}: exists and is not a work folder pointseg made; move it away")
    if not work.exists():
        mark_dir(work, KIND)
    return work


def _columns(work: Path, n: int, probabilities: bool, plan: TilePlan, settings: dict) -> tuple[PointColumns, list]:
    """The prediction columns and the big tiles already in them: those of an earlier run with the same plan and
    settings (progress.json), else new ones."""
    spec = {"labels": (np.uint8, ()), "confidence": (np.float32, ()), "entropy": (np.float32, ())}
    if probabilities:
        spec["probabilities"] = (np.float32, (NUM_CLASSES,))
    done: list = []
    try:
        saved = json.loads((work / "progress.json").read_text())
        if saved.get("plan") == _plan_key(plan) and saved.get("settings") == settings and saved.get("points") == n:
            done = saved["done"]
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        pass
    if done:
        try:
            columns = PointColumns(work / "pred", n, spec, create=False)
            log.info("%s: resuming after %d labelled big tiles", work, len(done))
            return columns, done
        except ValueError:
            done = []
    if (work / "progress.json").exists():
        (work / "progress.json").unlink()
    columns = PointColumns(work / "pred", n, spec, create=True)
    columns.record()
    return columns, []


def _plan_key(plan: TilePlan) -> dict:
    return {"origin": plan.origin.tolist(), "tile_m": plan.tile_m, "per_side": plan.per_side, "last": plan.last}


def _save_progress(work: Path, plan: TilePlan, settings: dict, points: int, done: list, confusion: np.ndarray | None) -> None:
    atomic_write_text(work / "progress.json", json.dumps({"plan": _plan_key(plan), "settings": settings, "points": points, "done": done,
                                                          "confusion": None if confusion is None else confusion.tolist()}))


def _discard(work: Path) -> None:
    """Remove the work folder if it holds only pointseg's own files (else leave it, named by the next run)."""
    try:
        remove_tree(work, KIND)
    except OutputExistsError:
        return
    _remove_if_empty(work.parent)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


__all__ = ["label_large_file", "needs_tiling"]
