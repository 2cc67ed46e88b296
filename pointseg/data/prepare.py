"""From labelled scenes (STPLS3D .txt, .ply, .las/.laz) to a prepared directory: tiled, voxelized patches, a split, class weights, a manifest.

Layout of the output directory:
    manifest.json                   scenes, patches (bounds, sizes, split), class counts and weights, config
    scenes/<name>/xyz.npy           (N, 3) float32, local coordinates in metres ((original - origin) x units), in file order
                 /rgb.npy           (N, 3) uint8, only for scenes with colour (manifest scene "rgb": true)
                 /intensity.npy     (N,) float32 as stored, only for scenes with intensity ("intensity": true)
                 /returns.npy       (N, 2) uint8 return number and number of returns, only for scenes with them
                 /hag.npy           (N,) float32 metres above the SMRF ground, with data.hag
                 /labels.npy        (N,) int16, -100 ignored
                 /order.npy         (N,) int32, point indices sorted by tile
                 /tile_offsets.npy  (T+1,) int64, tile t holds order[tile_offsets[t]:tile_offsets[t+1]]
                 /point_voxel.npy   (N,) int32, in tile-sorted order: each point's voxel within its tile
                 /voxel_offsets.npy (T+1,) int64, voxels of tile t
                 /voxel_coords.npy  (V, 3) int32, integer voxel cells (floor(local / voxel_size))
                 /patch_offsets.npy (P+1,) int64 and patch_tiles.npy (K,) int64: the tiles of each patch
A patch's sparse tensor is the concatenation of its tiles' voxels (pointseg.data.tiling.assemble_patch).
"""

import json
import logging
import os
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pointseg.config import DataConfig, FeatureConfig
from pointseg.constants import NUM_CLASSES
from pointseg.data.features import scene_attributes
from pointseg.data.ground import height_above_ground
from pointseg.data.groups import group_cell, say_far_points, set_aside, spatial_groups
from pointseg.data.manifest import build_manifest, patch_entries
from pointseg.data.prepare_large import needs_tiling, prepare_large_scene
from pointseg.data.split import EXCLUDED, TRAIN, VAL, split_leak_free, split_random
from pointseg.data.tiling import tile_scene
from pointseg.errors import InputError, InputNotFoundError, OutputExistsError, PointCloudError
from pointseg.io import Scene, atomic_save_npy, atomic_write_text, read_scene, scene_name
from pointseg.io.identity import file_sha256
from pointseg.io.ownership import check_removable, dir_kind, foreign_files, mark_dir, remove_tree
from pointseg.io.predictions import is_labelled_output
from pointseg.io.run_lock import RunLock, lock_beside
from pointseg.processes import exit_with_parent, gone, parse_tag, tag

log = logging.getLogger(__name__)

SCENE_NUMBER = re.compile(r"^(\d+)_")


def scene_number(path: Path) -> int | None:
    """The N of `N_points_GTv3.txt`; None for files not named that way (e.g. LAS tiles)."""
    match = SCENE_NUMBER.match(path.name)
    return None if match is None else int(match.group(1))


def is_test_scene(path: Path, test_scenes: list[int | str]) -> bool:
    """data.test_scenes holds STPLS3D numbers (5 -> 5_points_GTv3.txt) and/or scene names (file name without suffix)."""
    names = {str(t) for t in test_scenes if isinstance(t, str)}
    numbers = {int(t) for t in test_scenes if not isinstance(t, str)}
    return scene_name(path) in names or scene_number(path) in numbers


@dataclass
class SceneJob:
    path: Path
    out_dir: Path
    data: DataConfig
    is_test: bool


def set_aside_outliers(scene: Scene, patch_size: float) -> tuple[Scene, int]:
    """The scene without its far outliers (pointseg.data.groups.set_aside: the smallest groups of points more than two
    patches from the rest, together at most 1% of the points), and how many were set aside (named in a warning).
    They would stretch the tile grid over the empty space between and coarsen the float32 coordinates of the bulk."""
    group, n_groups = spatial_groups(scene.xyz[:, :2] * scene.units.horizontal, group_cell(patch_size))  # metres
    aside = set_aside(group, n_groups)
    n = int(aside.sum())
    if not n:
        return scene, 0
    first = int(np.flatnonzero(aside)[0])
    say_far_points(scene.path, n, patch_size, first, scene.xyz[first], "set aside: not used for training")
    keep = ~aside
    pick = lambda a: None if a is None else a[keep]  # noqa: E731
    return Scene(scene.path, scene.xyz[keep], pick(scene.rgb), pick(scene.labels), pick(scene.instance), scene.n_out_of_range_labels,
                 pick(scene.intensity), units=scene.units, returns=pick(scene.returns)), n


def prepare_scene(job: SceneJob) -> dict[str, Any]:
    """Read, validate, tile and voxelize one scene; write its arrays; return its manifest entry."""
    start = time.perf_counter()
    path, cfg = job.path, job.data
    stride = cfg.test_stride if job.is_test else cfg.train_stride
    if needs_tiling(path, cfg.max_memory):  # larger than memory: tile by tile from disk, into the same arrays
        entry = prepare_large_scene(path, job.out_dir, cfg, stride)
        patches = entry.pop("patches")
        return {"name": scene_name(path), "number": scene_number(path), "file": path.name, **entry,
                "role": "test" if job.is_test else "trainval", "stride": stride, "patches": patches, "seconds": time.perf_counter() - start}
    with ThreadPoolExecutor(max_workers=1) as hasher:  # hashlib releases the GIL: hashing overlaps parsing
        digest = hasher.submit(file_sha256, path)
        scene = read_scene(path, cfg.class_map, cfg.units)
        digest = digest.result()
    scene.source = None  # a LAS file's full record is not needed here
    scene, n_aside = set_aside_outliers(scene, cfg.patch_size)
    if scene.labels is None:
        raise unlabelled_error(path, cfg.class_map)
    local = scene.local_xyz()  # metres
    tiled = tile_scene(local, cfg.voxel_size, cfg.patch_size, stride, cfg.min_points_per_patch, cfg.sparse_patch_policy)
    labels = scene.labels
    valid = labels >= 0
    n_tiles = len(tiled.tile_offsets) - 1
    tile_counts = np.bincount(tiled.point_tile[valid] * NUM_CLASSES + labels[valid], minlength=n_tiles * NUM_CLASSES)
    tile_counts = tile_counts.reshape(n_tiles, NUM_CLASSES)

    d = job.out_dir
    d.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(d / "xyz.npy", local.astype(np.float32))
    if scene.rgb is not None:
        atomic_save_npy(d / "rgb.npy", scene.rgb)
    if scene.intensity is not None:
        atomic_save_npy(d / "intensity.npy", scene.intensity.astype(np.float32))
    if scene.returns is not None:
        atomic_save_npy(d / "returns.npy", scene.returns.astype(np.uint8))
    if cfg.hag:
        atomic_save_npy(d / "hag.npy", height_above_ground(local, scene.returns))
    atomic_save_npy(d / "labels.npy", labels.astype(np.int16))
    atomic_save_npy(d / "order.npy", tiled.order.astype(np.int32))
    for name in ("tile_offsets", "point_voxel", "voxel_offsets", "voxel_coords", "patch_offsets", "patch_tiles"):
        atomic_save_npy(d / f"{name}.npy", getattr(tiled, name))

    patches = patch_entries(tiled, tile_counts)
    return {
        "name": scene_name(path),
        "number": scene_number(path),
        "file": path.name,
        "sha256": digest,
        "points": len(scene),
        "set_aside_points": n_aside,
        "ignored_points": int((~valid).sum()),
        "out_of_range_labels": scene.n_out_of_range_labels,
        "origin": scene.origin.tolist(),
        "units": [scene.units.horizontal, scene.units.vertical],
        "rgb": scene.rgb is not None,
        "intensity": scene.intensity is not None,
        "intensity_reference": scene_attributes(scene, INTENSITY_ONLY).intensity_reference,
        "returns": scene.returns is not None,
        "hag": cfg.hag,
        "role": "test" if job.is_test else "trainval",
        "stride": stride,
        "patches": patches,
        "seconds": time.perf_counter() - start,
    }


def unlabelled_error(path: Path, class_map: str) -> PointCloudError:
    """The error for a scene without labels, which prepare cannot use."""
    if path.suffix.lower() == ".txt":
        return PointCloudError(path, "no semantic labels (6 columns); prepare needs labelled scenes with 8 columns")
    if path.suffix.lower() == ".ply":
        return PointCloudError(path, "no label field (class, label, semantic, ...); prepare needs labelled scenes")
    return PointCloudError(path, f"no point's classification maps to a class through the class map '{class_map}'; "
                                 "prepare needs labelled scenes (or another data.class_map)")


def find_scenes(src: Path, pattern: str, test_scenes: list[int | str] | None = None) -> list[Path]:
    """Scene files under `src` matching `pattern`, by scene number, then name.

    Warns about files in `src` that do not match (they are skipped) and about test scenes named by number
    in the config that are not there (names are checked by prepare_dataset)."""
    if not src.is_dir():
        raise InputNotFoundError(f"{src}: source directory not found")
    files = sorted((p for p in src.glob(pattern) if p.is_file()), key=lambda p: (scene_number(p) is None, scene_number(p) or 0, p.name))
    if not files:
        raise InputNotFoundError(f"{src}: no scene files matching '{pattern}' (data.scene_glob)")
    outputs = [p for p in files if is_labelled_output(p)]
    if outputs:  # e.g. infer --out was this folder: a labelled copy of a test scene must not become training data
        log.warning("%s: skipped %d labelled output(s) of pointseg (not training data): %s", src, len(outputs), _some([p.name for p in outputs]))
        files = [p for p in files if p not in set(outputs)]
        if not files:
            raise InputNotFoundError(f"{src}: only pointseg's labelled outputs match '{pattern}' (data.scene_glob); no scenes to prepare")
    broken = sorted(p.name for p in src.glob(pattern) if p.is_symlink() and not p.exists())
    if broken:
        log.warning("%s: skipped %d broken link(s) (missing target or a loop): %s", src, len(broken), _some(broken))
    matched = set(files) | set(outputs)
    skipped = sorted(p.name for p in src.iterdir() if p.is_file() and not p.name.startswith(".") and p not in matched)
    if skipped:
        log.warning("%s: skipped %d file(s) that do not match data.scene_glob '%s': %s", src, len(skipped), pattern, _some(skipped))
    missing = sorted({t for t in test_scenes or [] if not isinstance(t, str)} - {scene_number(p) for p in files})
    if missing:
        log.warning("%s: test scene(s) %s named in data.test_scenes not found; only the scenes found are prepared", src, missing)
    return files


def _some(names: list[str], n: int = 5) -> str:
    """'a, b, c' or 'a, b, c, d, e and 7 more'."""
    shown = ", ".join(names[:n])
    return shown if len(names) <= n else f"{shown} and {len(names) - n} more"


def assign_splits(scenes: list[dict[str, Any]], cfg: DataConfig) -> None:
    """Set each patch's split in place: test scenes -> test; the others' patches -> train/val/excluded."""
    trainval = [(s, p) for s in scenes if s["role"] == "trainval" for p in s["patches"]]
    if cfg.split_mode == "paper":
        splits = split_random(len(trainval), cfg.val_fraction, cfg.seed)
    else:  # leak_free (the config admits no other)
        bounds = np.array([p["bounds"] for _, p in trainval]).reshape(-1, 4)
        splits = split_leak_free([s["name"] for s, _ in trainval], bounds, cfg.val_block_size, cfg.val_fraction, cfg.seed)
    for (_, patch), split in zip(trainval, splits):
        patch["split"] = split
    for s in scenes:
        if s["role"] == "test":
            for p in s["patches"]:
                p["split"] = "test"
    if trainval:
        n_train, n_val = splits.count(TRAIN), splits.count(VAL)
        if n_val == 0 or n_train == 0:
            missing = "validation" if n_val == 0 else "training"
            raise InputError(
                f"the split leaves no {missing} patches ({n_train} train, {n_val} val, {splits.count(EXCLUDED)} excluded of "
                f"{len(trainval)} patches in {len({s['name'] for s, _ in trainval})} training scene(s)), so training would fail; "
                f"add training scenes, lower data.val_block_size (now {cfg.val_block_size} m) or use data.split_mode: paper"
            )


def prepare_dataset(src: str | Path, out: str | Path, cfg: DataConfig, workers: int = 1, overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Prepare every scene under `src` into `out`; returns a summary. The whole directory appears atomically.

    Never touches what prepare did not write: `out` must be new, empty, or a prepared directory (replaced
    only with `overwrite`); an `out` that is, lies inside, or contains `src` is refused. Leftovers of a
    killed prepare of the same `out` are removed first (or a half-replaced output restored)."""
    src, out = Path(src), Path(out)
    if not out.name:  # '.', '/', 'a/..': name the directory itself
        out = out.resolve()
    check_out_against_src(src, out)
    check_output_dir(out, overwrite)  # before anything is made beside it
    with RunLock(lock_beside(out), out):
        return _prepare_locked(src, out, cfg, workers, overwrite, progress)


def _prepare_locked(src: Path, out: Path, cfg: DataConfig, workers: int, overwrite: bool, progress: bool) -> dict[str, Any]:
    clean_prepare_leftovers(out)
    check_output_dir(out, overwrite)
    files = find_scenes(src, cfg.scene_glob, cfg.test_scenes)
    start = time.perf_counter()
    partial = out.with_name(f".{out.name}.partial-{tag()}")
    names = [scene_name(f) for f in files]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"{src}: several files give the same scene name {twice[:5]} (e.g. a.las and a.laz); keep one of each")
    missing = sorted({t for t in cfg.test_scenes if isinstance(t, str)} - set(names))
    if missing:
        log.warning("data.test_scenes names %s match no scene file in %s", missing, src)
    jobs = [SceneJob(f, partial / "scenes" / scene_name(f), cfg, is_test_scene(f, cfg.test_scenes)) for f in files]
    mark_dir(partial, KIND)
    try:
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers, initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
                scenes = list(tqdm(pool.map(prepare_scene, jobs), total=len(jobs), desc="prepare", unit="scene", disable=not progress))
        else:
            scenes = [prepare_scene(j) for j in tqdm(jobs, desc="prepare", unit="scene", disable=not progress)]
        assign_splits(scenes, cfg)
        manifest = build_manifest(scenes, cfg)
        atomic_write_text(partial / "manifest.json", json.dumps(manifest, indent=1))
        check_output_dir(out, overwrite)  # again: the user may have put something there meanwhile
        if out.exists() and any(out.iterdir()):
            old = out.with_name(f".{out.name}.old-{tag()}")
            os.replace(out, old)
            os.replace(partial, out)
            remove_tree(old, KIND)
        else:
            os.replace(partial, out)  # onto a missing or empty directory
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return {
        "scenes": len(scenes),
        "points": sum(s["points"] for s in scenes),
        "patches": manifest["split"]["patches"],
        "seconds": time.perf_counter() - start,
        "scene_seconds": {s["name"]: round(s["seconds"], 3) for s in scenes},
        "class_weights": manifest["class_weights"],
    }


def check_out_against_src(src: Path, out: Path) -> None:
    """Refuse an output directory that is the source, lies inside it, or contains it."""
    s, o = src.resolve(), out.resolve()
    if o == s:
        raise InputError(f"--out {out} is the source directory --src {src}; choose a new directory for the prepared data")
    if s in o.parents:
        raise InputError(f"--out {out} lies inside the source directory --src {src}; choose a directory outside it")
    if o in s.parents:
        raise InputError(f"--out {out} contains the source directory --src {src}; replacing it would delete the scenes; choose another --out")


INTENSITY_ONLY = FeatureConfig(xyz=False, rgb=False, intensity=True)
KIND = "prepared"  # the kind of folder prepare makes (pointseg.io.ownership)


def check_output_dir(out: Path, overwrite: bool) -> None:
    """`out` may be missing, an empty directory, or (with overwrite) a folder prepare made that holds only its own files."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
        return
    check_removable(out, KIND)
    if not overwrite:
        raise OutputExistsError(f"{out}: output exists (prepared data); pass --overwrite to replace it")


def clean_prepare_leftovers(out: Path) -> None:
    """What a killed prepare of `out` on this machine left beside it: `.OUT.partial-PID@MACHINE` (removed) and
    `.OUT.old-PID@MACHINE` (the previous output, mid-replacement: restored when `out` is missing, else removed).
    Folders of live processes and of other machines are left alone; so are those named without a machine (an older
    pointseg), named in a warning."""
    parent = out.parent
    if not parent.is_dir():
        return
    for kind in ("partial", "old"):
        prefix = f".{out.name}.{kind}-"
        for p in sorted(parent.glob(f"{prefix}*")):
            owner = parse_tag(p.name[len(prefix):])
            if owner is None and p.is_dir() and p.name[len(prefix):].isdigit():
                log.warning("%s: left in place: %s carries no machine name (an older pointseg); remove it if no prepare is running", out, p.name)
            if owner is None or not gone(*owner) or not p.is_dir():
                continue
            if dir_kind(p) != KIND or (kind == "old" and foreign_files(p)):
                continue  # not prepare's (a partial folder is prepare's work in progress, marked when it was made)
            if kind == "old" and not out.exists():
                os.replace(p, out)
                log.warning("%s: restored from %s, left by a prepare killed while replacing it", out, p.name)
            else:
                shutil.rmtree(p)
                log.warning("%s: removed %s, left by a killed prepare (process %s)", parent, p.name, owner[0])


__all__ = ["EXCLUDED", "TRAIN", "VAL", "prepare_dataset", "prepare_scene"]
