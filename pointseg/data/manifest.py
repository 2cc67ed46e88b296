"""The manifest of a prepared directory (manifest.json): scenes, patches and their split, class counts and
weights, the data config, a format version. Written by pointseg.data.prepare, read by the datasets and tools."""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pointseg.config import DataConfig, config_to_dict
from pointseg.constants import CLASS_NAMES, IGNORE_LABEL, NUM_CLASSES
from pointseg.data.split import TRAIN
from pointseg.errors import InputError, InputNotFoundError
from pointseg.losses.class_weights import class_weights

if TYPE_CHECKING:
    from pointseg.data.tiling import TiledScene

FORMAT_VERSION = 1
WRITTEN_BY = "pointseg prepare"


def build_manifest(scenes: list[dict[str, Any]], cfg: DataConfig) -> dict[str, Any]:
    """The manifest: deterministic for the same inputs (timings go to the summary, not here)."""
    counts = np.zeros(NUM_CLASSES, np.int64)
    for s in scenes:
        for p in s["patches"]:
            if p["split"] == TRAIN:
                counts += np.asarray(p["class_counts"], np.int64)
    per_split: dict[str, int] = {}
    for s in scenes:
        for p in s["patches"]:
            per_split[p["split"]] = per_split.get(p["split"], 0) + 1
    return {
        "format_version": FORMAT_VERSION,
        "written_by": WRITTEN_BY,
        "data_config": config_to_dict(cfg),
        "class_names": list(CLASS_NAMES),
        "ignore_label": IGNORE_LABEL,
        "split": {"mode": cfg.split_mode, "seed": cfg.seed, "val_fraction": cfg.val_fraction, "patches": per_split},
        "train_class_counts": counts.tolist(),
        "class_weights": class_weights(counts).tolist(),
        "scenes": [{k: v for k, v in s.items() if k != "seconds"} for s in scenes],
    }


def patch_entries(tiled: "TiledScene", tile_counts: np.ndarray) -> list[dict[str, Any]]:
    """The manifest's entry of each kept patch of a tiled scene; tile_counts (T, 15): points of each class per tile."""
    voxel_per_tile = np.diff(tiled.voxel_offsets)
    patches = []
    for p in range(tiled.n_patches):
        tiles = tiled.tiles_of(p)
        counts = tile_counts[tiles].sum(axis=0)
        patches.append({
            "patch": p,
            "bounds": [round(v, 6) for v in tiled.patch_bounds(p)],
            "points": tiled.patch_size(p),
            "voxels": int(voxel_per_tile[tiles].sum()),
            "class_counts": counts.tolist(),
        })
    return patches


def prepared_identity(prepared: str | Path) -> dict[str, Any]:
    """What identifies a prepared set, kept in checkpoints: the sha256 of its manifest (which holds every scene's
    sha256, the data config and the split; prepare gives the same manifest for the same inputs), its scenes, and
    where it was (for the message only: a copy elsewhere is the same set)."""
    from pointseg.io.identity import file_sha256

    manifest = load_manifest(prepared)
    return {"manifest_sha256": file_sha256(Path(prepared) / "manifest.json"), "scenes": [s["name"] for s in manifest["scenes"]],
            "path": str(Path(prepared).resolve())}


def identity_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Why two prepared sets differ, in words: the scenes that are in one only, or else their content or split."""
    only_old = sorted(set(old.get("scenes", [])) - set(new["scenes"]))
    only_new = sorted(set(new["scenes"]) - set(old.get("scenes", [])))
    if only_old or only_new:
        return (f"scenes only in the run's data: {only_old or 'none'}; only in --data: {only_new or 'none'}")
    return "the same scene names, but other scene files, data settings or split (the manifests differ)"


def load_manifest(prepared: str | Path) -> dict[str, Any]:
    """Read a prepared directory's manifest, checking its format version."""
    path = Path(prepared) / "manifest.json"
    if not path.is_file():
        raise InputNotFoundError(f"{path}: not found; run tools/prepare_stpls3d.py first")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f" at line {err.lineno} column {err.colno}" if isinstance(err, json.JSONDecodeError) else ""
        raise InputError(f"{path}: not valid JSON{where}: the file is truncated or was edited; "
                         f"prepare the data again (tools/prepare_stpls3d.py --overwrite)") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        version = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise InputError(f"{path}: format version {version}, this pointseg reads {FORMAT_VERSION}; prepare again")
    return manifest
