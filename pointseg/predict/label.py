"""Label scene files or a tiled coverage end to end (read -> stitch -> labelled PLY/LAS/LAZ -> record -> metrics),
on one rank or many."""

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm import tqdm

from pointseg.config import Config, apply_overrides, load_config
from pointseg.constants import CLASS_PALETTE
from pointseg.distributed import gather_or_raise, shard_largest_first
from pointseg.errors import ConfigError, InputNotFoundError, OutputNotWritable, UserError
from pointseg.io import SCENE_SUFFIXES, ClassMap, load_class_map, output_path, read_scene, scene_name, write_labelled
from pointseg.io.dispatch import read_units
from pointseg.io.atomic import clean_stale_temp_files
from pointseg.io.crs import crs_option
from pointseg.io.identity import file_sha256
from pointseg.io.units import METRES_PER_UNIT, Units, units_of_crs
from pointseg.io.ownership import LABELLED, record as record_as
from pointseg.io.predictions import is_labelled_output
from pointseg.io.run_lock import lock_folder
from pointseg.metrics import confusion_matrix
from pointseg.predict.coverage import coverage_buffer, coverage_frames, index_tiles, neighbours, tile_with_buffer
from pointseg.predict.large import label_large_file, needs_tiling
from pointseg.predict.metrics_files import write_metrics
from pointseg.predict.outputs import check_outputs, check_unique_names, labelling_outputs
from pointseg.predict.predictor import Predictor, load_predictor
from pointseg.predict.records import check_record_settings, finished_record, input_keys, write_record
from pointseg.predict.stitch import predict_scene

if TYPE_CHECKING:
    import pyproj

log = logging.getLogger(__name__)


def list_scenes(path: str | Path | list[Path]) -> list[Path]:
    """One scene file, a list of them, or every .txt/.ply/.las/.laz in a directory (sorted), leaving out pointseg's own
    labelled outputs and, with a warning naming them, links that lead nowhere (a missing target or a loop)."""
    if isinstance(path, list):
        return [p for item in path for p in list_scenes(item)]
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputNotFoundError(f"{path}: no such file or directory")
    found = sorted(p for p in path.iterdir() if p.suffix.lower() in SCENE_SUFFIXES)
    broken = [p for p in found if not p.exists()]  # exists() follows links: False for a dangling link or a loop
    if broken:
        log.warning("%s: skipped %d broken link(s) (missing target or a loop): %s", path, len(broken), ", ".join(p.name for p in broken))
    files = [p for p in found if p.is_file() and not is_labelled_output(p)]
    if not files:
        raise InputNotFoundError(f"{path}: no .txt, .ply, .las or .laz scenes")
    return files


def class_map_name(cfg: Config) -> str:
    """The class map of a labelling run: infer.class_map, else the checkpoint's data.class_map."""
    return cfg.infer.class_map or cfg.data.class_map


def run_settings(cfg: Config, ckpt: Path) -> dict[str, Any]:
    """What decides a labelled file's content besides its input: recorded beside each output, compared by --skip-existing."""
    settings = {"checkpoint_sha256": file_sha256(ckpt), "stride": cfg.infer.stride, "colorize": cfg.infer.colorize,
                "format": cfg.infer.output_format, "write_class": cfg.infer.write_class, "probabilities": cfg.infer.probabilities,
                "class_map": class_map_name(cfg), "tta": cfg.infer.tta, "units": cfg.infer.units}
    if cfg.infer.coverage:
        settings["buffer"] = coverage_buffer(cfg)
    if cfg.infer.crs:
        settings["crs"] = cfg.infer.crs
    return settings


def input_units(cfg: Config, crs) -> "str | Units":
    """The units setting for inputs without a CRS: infer.units, or the units of --crs when one is given (a named unit that
    contradicts it is refused)."""
    if crs is None:
        return cfg.infer.units
    from_option = units_of_crs(crs)
    if cfg.infer.units != "auto" and abs(METRES_PER_UNIT[cfg.infer.units] - from_option.horizontal) > 1e-9:
        raise ConfigError(f"--units {cfg.infer.units} and --crs {crs.name} ({from_option.describe()}) disagree; give one of them")
    return from_option


def log_units(records: dict[str, dict[str, Any]]) -> None:
    """Say once in which units the run read its files' coordinates (all computation is in metres)."""
    by_units: dict[str, list[str]] = {}
    for name, record in records.items():
        by_units.setdefault(record.get("units", "metres"), []).append(name)
    for units, names in by_units.items():
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        log.info("coordinates of %d file(s) (%s) read in %s; computed in metres, written as they were", len(names), shown, units)


def label_scenes(ckpt: str | Path, inputs: str | Path | list[Path], out: str | Path, device: torch.device,
                 overrides: list[str] | tuple[str, ...] = (), settings: dict[str, Any] | None = None, *, skip_existing: bool = False,
                 strict: bool = False, pictures: bool = False, progress: bool = True, rank: int = 0, world: int = 1) -> dict[str, Any]:
    """Write <scene>_pred.<ply|las|laz> and <scene>_pred.json for each input; where ground truth exists,
    metrics.json/.csv. Returns a summary (rank 0's table; the counts of the whole set).

    How to label comes from the checkpoint's config with dotted `overrides` and `settings` (nested values, e.g.
    from command-line flags) on top, both limited to infer.* and viz.*: stride, batch sizes, test-time views,
    output format, write_class, probabilities, colorize, class map, coverage and its buffer. Settings are
    checked before any scene is read.
    infer.coverage: the inputs are adjacent tiles of one cloud, each labelled with a buffer of its neighbours'
    points (pointseg.predict.coverage). skip_existing: scenes whose complete output exists (from the same
    checkpoint and settings) are not labelled again. rank/world (torchrun): the scenes are shared among the
    ranks, largest first; each rank writes its own outputs and rank 0 the metrics of the whole set; all ranks
    must call this together.
    A scene that is bad input is skipped with one logged line and listed in the summary's `failed`
    ({file: message}); the others are labelled and scored. With `strict` the first bad scene stops the run.
    pictures: rank 0 also draws maps, plots and report.html (pointseg.viz.run).
    """
    ckpt = Path(ckpt)
    # bad values stop before the checkpoint is read; what depends on the model's own data settings (a stride no larger
    # than its patch) is checked against its config below, so the default's 50 m patch must not refuse a 100 m model's stride
    apply_overrides(load_config(None, ["data.patch_size=100000"]), overrides, allowed=("infer", "viz"), settings=settings)
    predict, cfg = load_predictor(ckpt, device)
    cfg = apply_overrides(cfg, overrides, allowed=("infer", "viz"), settings=settings)
    classes = load_class_map(class_map_name(cfg))
    files = list_scenes(inputs)
    crs = crs_option(cfg.infer.crs, files)  # refused for an input that carries another CRS, before any work
    units = input_units(cfg, crs)
    out = Path(out)
    record_settings = run_settings(cfg, ckpt)
    fmt = cfg.infer.output_format
    lock, error = None, None
    if rank == 0:  # every refusal before any scene is read; the other ranks wait for the verdict
        try:
            check_unique_names(files)
            lock = lock_folder(out)
            check_outputs(labelling_outputs(out, files, fmt, cfg.infer.coverage, pictures))
            if skip_existing:
                check_record_settings(out, [scene_name(f) for f in files], record_settings)
            clean_stale_temp_files(out)
        except Exception as err:
            error = err
    try:
        gather_or_raise(None, error, rank)
        return _label(files, out, predict, cfg, classes, units, crs, record_settings, device, skip_existing, strict, pictures, progress, rank,
                      world, ckpt)
    finally:
        if lock is not None:
            lock.release()


def units_record(units: Units) -> dict[str, Any]:
    """What a record keeps of the units its input was read in: the words for people, the factors for readers
    (pointseg.io.predictions.recorded_units)."""
    return {"units": units.describe(), "metres_per_unit": [units.horizontal, units.vertical]}


def _label(files: list[Path], out: Path, predict: Predictor, cfg: Config, classes: ClassMap, units: "str | Units", crs: "pyproj.CRS | None",
           record_settings: dict[str, Any],
           device: torch.device, skip_existing: bool, strict: bool, pictures: bool, progress: bool, rank: int, world: int,
           ckpt: Path) -> dict[str, Any]:
    """label_scenes after its checks: the labelling itself, on this rank's share of the scenes."""
    fmt = cfg.infer.output_format
    if cfg.infer.coverage:
        coverage_units = read_units(files[0], units)  # the coverage works in its files' units; metres only for computation
        buffer = coverage_buffer(cfg) / coverage_units.horizontal
        tiles = index_tiles(files, out, buffer, rank, world, progress and rank == 0)
        origins, frames = coverage_frames(tiles, max(buffer, cfg.data.patch_size / coverage_units.horizontal), coverage_units)
        sizes = [t.points for t in tiles]
    else:
        sizes = [f.stat().st_size for f in files]
    bars = progress and rank == 0  # progress bars on rank 0 only
    records: dict[str, dict] = {}
    failed: dict[str, str] = {}
    error: Exception | None = None
    for i in tqdm(shard_largest_first(sizes, world, rank), desc="tiles" if cfg.infer.coverage else "scenes", unit="file", disable=not bars):
        name, labelled = scene_name(files[i]), output_path(out, files[i], fmt)
        context = [tiles[j].path for j in neighbours(tiles, i, buffer)] if cfg.infer.coverage and buffer > 0 else []
        try:
            record = finished_record(out, name, labelled, record_settings, files[i], context) if skip_existing else None
            if record is not None:
                records[name] = {**record, "skipped": True}
                continue
            t0 = time.perf_counter()
            inputs = input_keys(files[i], context)  # before reading: a file changed meanwhile is labelled again next time
            if not cfg.infer.coverage and needs_tiling(files[i], cfg.infer.max_memory):  # larger than memory: tile by tile from disk
                n_points, matrix, file_units = label_large_file(files[i], labelled, out, predict, cfg, device, classes, bars, record_settings,
                                                                units, crs)
                record_as(labelled, role=LABELLED)  # a labelled copy: never a scene to label or train on
                record = {"points": n_points, "confusion": None if matrix is None else matrix.tolist(), "seconds": time.perf_counter() - t0,
                          "settings": record_settings, "inputs": inputs, **units_record(file_units)}
                write_record(out, name, record)
                records[name] = {**record, "skipped": False}
                continue
            if cfg.infer.coverage:
                scene, both, targets = tile_with_buffer(tiles, i, buffer, origins[i], classes, coverage_units, units)
                pred = predict_scene(both, predict, cfg, bars, device, cfg.infer.probabilities, targets, frame=frames[i])
                del both
            else:
                scene = read_scene(files[i], classes, units)
                pred = predict_scene(scene, predict, cfg, bars, device, cfg.infer.probabilities)
            write_labelled(labelled, scene, pred.labels, pred.confidence, pred.entropy, pred.probabilities, cfg.infer.write_class, classes,
                           CLASS_PALETTE[pred.labels] if cfg.infer.colorize else None, crs=crs)
            record_as(labelled, role=LABELLED)  # a labelled copy: never a scene to label or train on
            confusion = None if scene.labels is None else confusion_matrix(scene.labels, pred.labels).tolist()
            record = {"points": len(scene), "confusion": confusion, "seconds": time.perf_counter() - t0, "settings": record_settings,
                      "inputs": inputs, **units_record(scene.units)}
            write_record(out, name, record)
            records[name] = {**record, "skipped": False}
        except UserError as err:
            if strict or cfg.infer.coverage or isinstance(err, OutputNotWritable):  # a coverage needs every tile; a full disk stops all
                error = err
                break
            log.error("skipped %s (--strict stops at the first bad scene)", err)
            failed[str(files[i])] = str(err)
        except Exception as err:  # handed to every rank below, so none waits for ever in the gather
            error = err
            break
    gathered = gather_or_raise((records, failed), error, rank)
    merged = {k: v for part, _ in gathered for k, v in part.items()}
    failed = {k: v for _, part in gathered for k, v in part.items()}
    confusions = {n: np.asarray(merged[n]["confusion"]) for n in map(scene_name, files) if n in merged and merged[n]["confusion"] is not None}
    file_points = {n: int(merged[n]["points"]) for n in confusions}
    table = write_metrics(out, confusions, file_points) if confusions and rank == 0 else ""
    report = None
    if rank == 0:
        log_units(merged)
    if pictures and rank == 0:
        from pointseg.viz.run import write_run_pictures

        done = {scene_name(f): (output_path(out, f, fmt), f) for f in files if scene_name(f) in merged}
        for f in [f for f in files if scene_name(f) in done and needs_tiling(f, cfg.infer.max_memory)]:  # pictures read a file whole
            log.warning("%s: larger than infer.max_memory: no pictures of it (tools/render.py draws them where memory allows)", f.name)
            del done[scene_name(f)]
        report = write_run_pictures(out, done, cfg.viz, ckpt, cfg, device, {n: r["seconds"] for n, r in merged.items()},
                                    class_map=classes)
    return {"scenes": sum(not r["skipped"] for r in merged.values()), "skipped": sum(r["skipped"] for r in merged.values()),
            "seconds": {n: r["seconds"] for n, r in merged.items()}, "table": table, "failed": failed,
            "outputs": [output_path(out, f, fmt) for f in files if scene_name(f) in merged],
            "metrics": [out / "metrics.json", out / "metrics.csv"] if table else [], "report": report}
