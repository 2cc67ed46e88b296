"""Models against the classical pipeline on real ASPRS-classified scans (pointseg.data.real_scans): ground,
vegetation (ASPRS 3+4+5), building and object (vegetation + building) IoU of each model, beside SMRF's ground and
the height rule's objects (pointseg.baselines.classical), on the same points: every point but the scan's noise codes.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import laspy
import numpy as np
import torch

from pointseg.baselines.classical import classical_labels
from pointseg.data.real_scans import RealScan
from pointseg.io import read_scene
from pointseg.io.atomic import atomic_path, atomic_write_text
from pointseg.metrics import class_groups, group_scores
from pointseg.models.checkpoint import checkpoint_config, load_checkpoint
from pointseg.predict.label import label_scenes

log = logging.getLogger(__name__)
GROUP_ORDER = ("ground", "vegetation", "building", "object")


@dataclass
class ScanResult:
    """One scan's scores: {method: {group: IoU}} for the baseline ("SMRF + height rule") and each model; points scored."""

    scan: str
    points: int
    scored: int
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def scored_points(las: laspy.LasData, scan: RealScan) -> tuple[np.ndarray, np.ndarray]:
    """(ASPRS codes (N,), keep (N,) bool) of a scan read with laspy: the points that count, i.e. not noise and not withheld."""
    codes = np.asarray(las.classification).astype(np.int64)
    keep = ~np.isin(codes, scan.noise)
    if "withheld" in set(las.point_format.dimension_names):
        keep &= ~np.asarray(las.withheld, bool)
    return codes, keep


def write_scored_copy(las: laspy.LasData, path: Path, keep: np.ndarray, folder: Path) -> Path:
    """folder/<name of path>: the scan with only its scored points (keep (N,) bool), so that a model sees the points the
    baseline sees: without the noise a LiDAR engineer's pipeline leaves out (PDAL's `ignore`), which would drag its
    ground estimate down."""
    copy = folder / path.name
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(copy) as tmp:
        laspy.LasData(las.header, las.points[keep]).write(str(tmp), do_compress=path.suffix.lower() == ".laz")
    return copy


def baseline_scores(path: Path, keep: np.ndarray, codes: np.ndarray) -> dict[str, float]:
    """SMRF ground and height-rule objects on the scan's scored points keep (N,) bool (the scan without its noise, as
    PDAL's `ignore` leaves it), in the scan's own frame; codes (M,): their ASPRS classification."""
    scene = read_scene(path, None)
    returns = None if scene.returns is None else scene.returns[keep]
    ground, objects = classical_labels(scene.local_xyz()[keep].astype(np.float64), returns)
    return group_scores(codes, {"ground": ground, "object": objects})


def model_scores(ckpt: Path, scored: Path, codes: np.ndarray, out: Path, device: torch.device) -> dict[str, float]:
    """Label the scored copy with a model, as tools/infer.py does, and score its pred_class; codes (M,): the copy's
    ASPRS classification."""
    summary = label_scenes(ckpt, scored, out, device, ["infer.class_map=asprs"], strict=True, progress=False)
    pred = np.asarray(laspy.read(str(summary["outputs"][0]))["pred_class"]).astype(np.int64)
    return group_scores(codes, class_groups(pred))


def needs_colour(ckpt: Path) -> bool:
    """Whether a checkpoint's model takes colour (features.rgb)."""
    return checkpoint_config(load_checkpoint(ckpt), ckpt).features.rgb


def evaluate_scans(scans: list[tuple[RealScan, Path]], models: dict[str, Path], out: Path, device: torch.device) -> list[ScanResult]:
    """Every scored scan labelled by every model and by the classical pipeline, all on the scan's scored points (a copy
    in out/inputs); results.json and table.md in out."""
    import time

    results = []
    colour = {name: needs_colour(ckpt) for name, ckpt in models.items()}  # each checkpoint read once here
    for scan, path in scans:  # a loop over scans
        las = laspy.read(str(path))
        codes, keep = scored_points(las, scan)
        scored = write_scored_copy(las, path, keep, out / "inputs")
        del las
        codes = codes[keep]
        result = ScanResult(scan.name, len(keep), int(keep.sum()))
        t = time.perf_counter()
        result.scores["SMRF + height rule"] = baseline_scores(path, keep, codes)
        result.seconds["SMRF + height rule"] = time.perf_counter() - t
        for name, ckpt in models.items():
            if colour[name] and not scan.colour:
                continue  # a model that needs colour, on a scan without it
            t = time.perf_counter()
            result.scores[name] = model_scores(ckpt, scored, codes, out / name, device)
            result.seconds[name] = time.perf_counter() - t
        results.append(result)
    atomic_write_text(out / "results.json", json.dumps([r.__dict__ for r in results], indent=1))
    atomic_write_text(out / "table.md", markdown(results) + "\n")
    return results


def markdown(results: list[ScanResult]) -> str:
    """One row per scan and method: IoU (%) of ground, vegetation, building, object."""
    rows = ["| scan | points scored | method | " + " | ".join(f"{g} IoU" for g in GROUP_ORDER) + " |", "|---|---|---|" + "---|" * len(GROUP_ORDER)]
    for r in results:
        for method, s in r.scores.items():
            cells = ["-" if g not in s or np.isnan(s[g]) else f"{100 * s[g]:.1f}" for g in GROUP_ORDER]
            rows.append(f"| {r.scan} | {r.scored:,} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
