"""The study runner: several configs on one data set. Prepare once per data config, train (or resume, or skip a
finished run), label the test scenes, collect the scores into a table. Used by tools/reproduce_table1.py and
tools/recipe_study.py; each step skips what is already done, so a cut run picks up where it stopped.

What is done is keyed by everything that decides it, never by a file's presence alone: prepared data by the data
config and the sha256 of every source scene (a changed --src is prepared again); a trained run by its config (all
but the budget, which may grow) and the identity of the prepared data in its checkpoint (another config or other
data: the old run is moved aside to NAME.previous-K and trained again); results by the config, the prepared data
and the checkpoint's sha256. Each rerun says why in a warning."""

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np


from pointseg.config import Checked, Config, Positive, config_to_dict, fingerprint, load_config, read_checked
from pointseg.constants import CLASS_NAMES
from pointseg.data.dataset import PatchDataset
from pointseg.data.manifest import load_manifest, prepared_identity
from pointseg.data.prepare import find_scenes, prepare_dataset
from pointseg.distributed import pick_device
from pointseg.errors import ConfigError
from pointseg.io.atomic import atomic_write_text
from pointseg.io.identity import file_sha256
from pointseg.models.checkpoint import load_checkpoint
from pointseg.metrics import confusion_matrix, scores
from pointseg.models.diagnostics import aspp_neighbour_report
from pointseg.predict.label import label_scenes
from pointseg.train.loop import train
from pointseg.train.run_dir import training_totals

log = logging.getLogger("pointseg.experiments")
# column heads for the 15 classes, in CLASS_NAMES order
SHORT_NAMES = ("ground", "bldg", "low veg", "med veg", "high veg", "vehicle", "truck", "aircraft", "military", "bike", "moto",
               "pole", "sign", "clutter", "fence")


@dataclass(frozen=True)
class StudyData(Checked):
    scenes: str = "1-10"  # synthetic scene numbers, e.g. "1-10"; 5 and 10 are test scenes by default
    size: Positive = 100.0  # their side in metres
    sensor: Literal["photogrammetry", "lidar"] = "photogrammetry"  # STPLS3D text scenes, or airborne LiDAR scans (LAZ)
    densities: list[Positive] = field(default_factory=lambda: [10.0])  # lidar: pulses per m^2 per strip, cycled over the scenes


def ensure_study_scenes(data: StudyData, src: Path, workers: int = 1) -> None:
    """The study's synthetic scenes in src, written where missing."""
    from pointseg.synthetic.files import ensure_scenes, parse_scene_numbers

    numbers = parse_scene_numbers(data.scenes)
    if data.sensor == "lidar":
        from pointseg.synthetic.las_scene import ensure_lidar_scenes

        ensure_lidar_scenes(src, numbers, data.size, data.densities, workers=workers)
    else:
        ensure_scenes(src, numbers, size=data.size, workers=workers)


@dataclass(frozen=True)
class StudyRow(Checked):
    name: str = ""
    overrides: list[str] = field(default_factory=list)  # dotted overrides on top of the base config
    checkpoint_of: str = ""  # re-label that row's model with this row's infer settings instead of training

    def check(self) -> None:
        if not self.name:
            raise ConfigError("name: every row needs a name")


@dataclass(frozen=True)
class Study(Checked):
    """A study YAML: the base config (relative to the study file), the synthetic data, and the rows."""

    base: str = ""
    data: StudyData = field(default_factory=StudyData)
    rows: list[StudyRow] = field(default_factory=list)

    def check(self) -> None:
        names = [r.name for r in self.rows]
        if not names:
            raise ConfigError("rows: empty; a study needs at least one row")
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(f"rows: names {twice} appear twice")
        unknown = sorted({r.checkpoint_of for r in self.rows if r.checkpoint_of} - set(names))
        if unknown:
            raise ConfigError(f"rows: checkpoint_of names no row: {unknown}")


def load_study(path: str | Path) -> tuple[Study, dict[str, Config]]:
    """A study and every row's config, all checked before any work starts."""
    study = read_checked(Study, path)
    base = Path(path).parent / study.base
    return study, {row.name: load_config(base, row.overrides) for row in study.rows}


@dataclass
class RunResult:
    """One trained model's numbers: test (pooled over the test scenes) and best validation scores."""

    name: str
    test: dict[str, Any]
    val_oa: float
    val_miou: float
    steps: int
    epochs: int
    train_seconds: float
    voxels_seen: int
    voxels_per_s: float
    aspp: dict[int, float] = field(default_factory=dict)
    infer_seconds: float = 0.0
    command: str = ""
    key: dict[str, Any] = field(default_factory=dict)  # what decided these numbers (result_key): reused only while it holds


def source_difference(src: Path, manifest: dict[str, Any], glob: str) -> str:
    """'' when the scene files in src are those a manifest was prepared from (by name and sha256), else what differs."""
    now = {p.name: p for p in find_scenes(src, glob)}
    then = {s["file"]: s["sha256"] for s in manifest["scenes"]}
    changed = sorted(n for n in set(now) & set(then) if file_sha256(now[n]) != then[n])
    parts = [f"{what}: {', '.join(names[:5])}" for what, names in (("new", sorted(set(now) - set(then))), ("gone", sorted(set(then) - set(now))),
                                                                     ("changed", changed)) if names]
    return "; ".join(parts)


def prepared_for(src: Path, root: Path, cfg: Config, workers: int = 1) -> Path:
    """The prepared directory for `cfg.data` under root (one per data config), prepared again when the scene files in
    src differ from those it was made from."""
    out = root / f"prepared_{fingerprint(cfg.data)}"
    if (out / "manifest.json").is_file():
        diff = source_difference(src, load_manifest(out), cfg.data.scene_glob)
        if not diff:
            return out
        log.warning("%s: the scenes in %s are not those it was prepared from (%s); preparing again", out, src, diff)
    log.info("preparing %s -> %s", src, out)
    prepare_dataset(src, out, cfg.data, workers=workers, overwrite=out.exists(), progress=False)
    return out


BUDGET = ("epochs", "time_budget_min")  # train.* settings a finished run may be given more of (it resumes)


def training_key(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    """What decides a trained model besides its data: the config without the budget and the infer/viz settings."""
    key = {k: v for k, v in cfg_dict.items() if k not in ("infer", "viz")}
    key["train"] = {k: v for k, v in key["train"].items() if k not in BUDGET}
    return key


def stale_run(ckpt: dict[str, Any], cfg: Config, prepared: Path) -> str:
    """'' when a checkpoint's run may be continued or kept for `cfg` on `prepared`, else why not."""
    data = ckpt.get("data")
    if data is None:
        return "its checkpoint does not say which prepared data it was trained on (an older pointseg)"
    if data.get("manifest_sha256") != prepared_identity(prepared)["manifest_sha256"]:
        return f"it was trained on other prepared data (its manifest differs from {prepared / 'manifest.json'})"
    old, new = training_key(ckpt["config"]), training_key(config_to_dict(cfg))
    diff = [f"{section}.{k}: {old.get(section, {}).get(k)!r} then, {v!r} now" for section in new for k, v in new[section].items()
            if old.get(section, {}).get(k) != v]
    return f"its config differs ({'; '.join(diff[:4])})" if diff else ""


def train_or_resume(cfg: Config, prepared: Path, work_dir: Path, device: str) -> dict[str, Any]:
    """Train into work_dir; resume a cut run; skip a finished one; move a run of another config or other data aside
    (WORK.previous-K) and train again. Returns the last checkpoint's record."""
    last = work_dir / "last.pt"
    if last.is_file():
        ckpt = load_checkpoint(last)
        why = stale_run(ckpt, cfg, prepared)
        if why:
            log.warning("%s: %s; training again (the old run is moved aside)", work_dir, why)
            return train(cfg, prepared, work_dir, restart=True, device=device, progress=False)
        same_budget = all(ckpt["config"]["train"].get(k) == getattr(cfg.train, k) for k in BUDGET)
        if ckpt.get("finished") and same_budget:
            log.info("%s: finished before, skipped", work_dir)
            return ckpt["record"]
        return train(cfg, prepared, work_dir, resume=True, device=device, progress=False)  # cut, or given a larger budget
    if (work_dir / "config.json").is_file():  # cut before its first checkpoint: nothing to resume
        log.warning("%s: a run cut before its first checkpoint; training again (the old run is moved aside)", work_dir)
        return train(cfg, prepared, work_dir, restart=True, device=device, progress=False)
    return train(cfg, prepared, work_dir, device=device, progress=False)


def result_key(cfg: Config, prepared: Path, ckpt: Path) -> dict[str, Any]:
    """What decides a row's numbers: the whole config (infer settings included), the prepared data, the checkpoint."""
    return {"config": config_to_dict(cfg), "data": prepared_identity(prepared)["manifest_sha256"], "checkpoint_sha256": file_sha256(ckpt)}


def aspp_diagnostic(cfg: Config, prepared: Path) -> dict[int, float]:
    """Mean active neighbours (of 26) of a bridge voxel per dilation, on the first validation patch."""
    if not cfg.model.aspp:
        return {}
    sample = PatchDataset(prepared, "val", cfg)[0]
    return aspp_neighbour_report(sample.voxel_coords, len(cfg.model.channels) - 1, cfg.model.aspp_dilations)


def run_model(name: str, cfg: Config, src: Path, root: Path, device: str, workers: int = 1, command: str = "",
              checkpoint_of: str | None = None) -> RunResult:
    """Prepare (once), train or resume, label the test scenes with best.pt; results.json in root/name.
    With `checkpoint_of`, no training: that run's model labels the test scenes with this cfg's infer settings."""
    work = root / name
    work.mkdir(parents=True, exist_ok=True)
    result_path = work / "results.json"
    prepared = prepared_for(src, root, cfg, workers)
    trained = root / (checkpoint_of or name)
    if checkpoint_of is None:
        train_or_resume(cfg, prepared, work, device)
    ckpt = trained / "best.pt" if (trained / "best.pt").is_file() else trained / "last.pt"
    key = result_key(cfg, prepared, ckpt)
    if result_path.is_file():
        saved = json.loads(result_path.read_text())
        if saved.get("key") == json.loads(json.dumps(key)):  # the same config, data and checkpoint: the same numbers
            return RunResult(**{**saved, "aspp": {int(k): v for k, v in saved["aspp"].items()}})
        log.warning("%s: made with another config, other data or another checkpoint; labelling the test scenes again", result_path)
    manifest = load_manifest(prepared)
    tests = [src / s["file"] for s in manifest["scenes"] if s["role"] == "test"]
    t0 = time.perf_counter()
    label_scenes(ckpt, tests, work / "test_predictions", pick_device(device), settings={"infer": {"tta": cfg.infer.tta}}, progress=False)
    infer_s = time.perf_counter() - t0
    metrics = json.loads((work / "test_predictions" / "metrics.json").read_text())["all"]
    best = load_checkpoint(ckpt)
    epochs, seconds, voxels = training_totals(trained)
    result = RunResult(name, metrics, best["record"].get("val_oa", float("nan")), best["record"].get("val_miou", float("nan")),
                       load_checkpoint(trained / "last.pt")["step"], epochs, seconds, voxels, voxels / max(seconds, 1e-9), aspp_diagnostic(cfg, prepared), infer_s, command,
                       key)
    atomic_write_text(work / "config_used.json", json.dumps(config_to_dict(cfg), indent=1))
    atomic_write_text(result_path, json.dumps(result.__dict__, indent=1))
    return result


def write_table(path: Path, table: str) -> None:
    """Write a results table atomically; never over a file of that name that pointseg did not write (pointseg.io.ownership)."""
    atomic_write_text(path, f"{table}\n")


def markdown_table(results: list[RunResult], reference: dict[str, tuple[float, float]] | None = None) -> str:
    """One row per run: test OA, mIoU, per-class IoU (percent), val mIoU, steps, minutes, voxels/s, and the mean
    active neighbours (of 26) a bridge voxel sees at each ASPP dilation."""
    short = list(SHORT_NAMES)
    head = ["run", "test OA", "test mIoU"] + (["paper OA / mIoU"] if reference else []) + short + ["val mIoU", "steps", "train min", "voxels/s", "ASPP neighbours"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        iou = [r.test["iou"][c] for c in CLASS_NAMES]
        cells = [r.name, f"{100 * r.test['oa']:.1f}", f"{100 * r.test['miou']:.1f}"]
        if reference:
            ref = reference.get(r.name)
            cells.append(f"{ref[0]:.2f} / {ref[1]:.2f}" if ref else "")
        cells += ["" if v is None else f"{100 * v:.0f}" for v in iou]
        cells += [f"{100 * r.val_miou:.1f}", str(r.steps), f"{r.train_seconds / 60:.1f}", f"{r.voxels_per_s:.3g}",
                  " / ".join(f"{v:.1f}" for v in r.aspp.values()) + f" (d {'/'.join(map(str, r.aspp))})" if r.aspp else "-"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def border_distance(local_xy: np.ndarray, size: float) -> np.ndarray:
    """(N,) distance in metres of local points (N, 2) (from the scene's origin, where the patch lattice starts) to the
    nearest line of a lattice of `size` m patches: how close each point lies to a border of non-overlapping patches."""
    offset = np.mod(local_xy, size)
    return np.minimum(offset, size - offset).min(axis=1)


def border_scores(truth: np.ndarray, pred: np.ndarray, distance: np.ndarray, near: float = 5.0) -> dict[str, float]:
    """OA of all points, of those within `near` m of a patch border and of the others; mIoU of all (labels -100 left out)."""
    keep = truth >= 0
    right = (truth == pred) & keep
    close = distance < near

    def oa(mask: np.ndarray) -> float:
        n = np.count_nonzero(mask & keep)
        return float(np.count_nonzero(right & mask) / n) if n else float("nan")

    return {"oa": oa(np.ones_like(keep)), "oa_near_border": oa(close), "oa_inside": oa(~close),
            "miou": scores(confusion_matrix(truth, pred)).miou, "share_near_border": float(close[keep].mean())}
