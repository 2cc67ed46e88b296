"""Pictures, plots and report.html of a whole run (tools/infer.py --pictures, tools/evaluate.py --pictures).

Everything is made from the files the run wrote (<scene>_pred.*) and the input scenes, so labelling
and re-scoring share this one entry point: write_run_pictures.
"""

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from pointseg.config import Config, VizConfig, config_to_dict
from pointseg.io import read_scene
from pointseg.metrics import POOLED, confusion_matrix, scores
from pointseg.io.predictions import find_prediction
from pointseg.io.class_map import ClassMap
from pointseg.viz.cloud import read_labelled, run_class_map
from pointseg.io.ownership import check_replaceable
from pointseg.viz.files import save_figure
from pointseg.viz.names import PICTURE_DIR, REPORT, TRAINING_CURVES, confusion_picture, iou_picture, run_pictures
from pointseg.viz.pictures import scene_pictures
from pointseg.train.run_dir import read_metrics_log
from pointseg.viz.plots import confusion_figure, curves_figure, iou_figure
from pointseg.viz.report import SceneSection, build_report, write_report

log = logging.getLogger("pointseg.viz")



def write_run_pictures(out_dir: str | Path, scenes: dict[str, tuple[Path | None, Path | None]], cfg: VizConfig,
                       checkpoint: str | Path | None = None, config: Config | None = None, device: Any = None,
                       seconds: dict[str, float] | None = None, extra: dict[str, Any] | None = None,
                       class_map: ClassMap | str | None = None) -> Path:
    """For each scene {name: (prediction file or None to look it up in out_dir, input scene or None)}:
    pictures under out_dir/pictures/; where the input (or the prediction file: a labelled LAS/LAZ copy) has ground
    truth, confusion_<scene>.png, and over all scenes confusion_all.png and iou_all.png beside metrics.json; then
    out_dir/report.html. Returns its path. class_map: LAS/LAZ codes -> classes (None: the run's, else asprs)."""
    out_dir = Path(out_dir)
    check_replaceable(*run_pictures(out_dir, list(scenes)))  # refuse before the work, not after it (the tools check earlier still)
    started = time.perf_counter()
    sections, confusions, file_points = [], {}, {}
    for name, (pred_path, source) in scenes.items():  # a loop over scenes
        pred_path = Path(pred_path) if pred_path is not None else find_prediction(out_dir, name)
        truth = read_scene(source, class_map or run_class_map(pred_path)) if source is not None else None
        truth = truth if truth is not None and truth.labels is not None else None
        cloud = read_labelled(pred_path, truth, class_map)
        file_points[name] = len(cloud)
        pictures = scene_pictures(cloud, out_dir / PICTURE_DIR, cfg)
        files = {"prediction": str(pred_path)} | ({"ground truth": str(source)} if truth is not None else
                                                  {"ground truth": f"the input's classification it carries ({pred_path.name})"}
                                                  if cloud.truth is not None else {})
        section = SceneSection(name, files, None, _report_pictures(pictures))
        if cloud.truth is not None and cloud.pred is not None:
            conf = confusion_matrix(cloud.truth, cloud.pred)
            confusions[name] = conf
            section.scores = scores(conf)
            section.pictures["confusion matrix"] = save_figure(confusion_picture(out_dir, name), confusion_figure(conf, name))
        sections.append(section)
        del cloud
    plots = {}
    pooled = None
    rows = {n: scores(c) for n, c in confusions.items()}
    if confusions:
        total = np.asarray(sum(confusions.values()))
        pooled = rows[POOLED] = scores(total)
        title = f"all {len(confusions)} scene(s)"
        plots["per-class IoU"] = save_figure(iou_picture(out_dir), iou_figure(pooled.iou, title, {n: s.iou for n, s in rows.items() if n != POOLED}))
        plots["confusion matrix, all scenes"] = save_figure(confusion_picture(out_dir, POOLED), confusion_figure(total, title))
    run = _run_facts(checkpoint, config, device, extra)
    curves = _training_curves(checkpoint, out_dir)
    if curves is not None:
        plots["training curves"] = curves
    if rows:
        file_points[POOLED] = sum(file_points[n] for n in confusions)
    page = build_report(f"pointseg: {out_dir.name}", pooled, rows, plots, sections, run,
                        config_to_dict(config) if config is not None else None, seconds or {}, file_points)
    report = write_report(out_dir / REPORT, page)
    log.info("pictures and %s written in %.1f s", report, time.perf_counter() - started)
    return report


def _report_pictures(pictures: dict[str, Path]) -> dict[str, Path]:
    """What the report shows of a scene: the overview (prediction | truth | errors) in place of the three
    single maps when there is one, then the heat map and the oblique view (their copies drawn to fit the page)."""
    shown = {k: v for k, v in pictures.items() if not k.endswith("_page")}
    for key in list(shown):  # a copy drawn to fit the page, where the picture is wider
        shown[key] = pictures.get(f"{key}_page", shown[key])
    if "overview" in shown:
        for key in ("pred", "truth", "errors"):
            shown.pop(key, None)
        shown = {"overview": shown.pop("overview")} | shown
    names = {"pred": "predicted classes", "truth": "ground truth", "errors": "errors", "overview": "predicted | ground truth | errors",
             "confidence": "confidence", "entropy": "entropy", "oblique": "oblique view", "rgb": "rgb"}
    return {names.get(k, k): v for k, v in shown.items()}


def _run_facts(checkpoint: str | Path | None, config: Config | None, device: Any, extra: dict[str, Any] | None) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if checkpoint is not None:
        ckpt = Path(checkpoint)
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ckpt.stat().st_mtime)) if ckpt.is_file() else "missing"
        size = f"{ckpt.stat().st_size / 2**20:.1f} MiB, " if ckpt.is_file() else ""
        facts["checkpoint"] = f"{ckpt.resolve()} ({size}{stamp})"
    if config is not None:
        m = config.model
        facts["model"] = (f"sparse U-Net, channels {m.channels}, ASPP {'dilations ' + str(m.aspp_dilations) if m.aspp else 'off'}, "
                          f"head {m.head_hidden}, {m.num_classes} classes")
        facts["input features"] = ", ".join(k for k, v in dataclasses.asdict(config.features).items() if v is True) + f" (rgb {config.features.rgb_range})"
        facts["voxel size"] = f"{config.data.voxel_size} m; patches {config.data.patch_size} m"
        facts["loss"] = " + ".join(f"{t.weight:g} {t.name}" for t in config.loss.terms)
    if device is not None:
        facts["device"] = str(device)
    facts.update(extra or {})
    facts["host"] = f"{os.uname().nodename}, {os.cpu_count()} CPU cores"
    return facts


def _training_curves(checkpoint: str | Path | None, out_dir: Path) -> Path | None:
    """out_dir/training_curves.png from the metrics.jsonl beside the checkpoint, when there is one."""
    if checkpoint is None:
        return None
    log_path = Path(checkpoint).parent / "metrics.jsonl"
    if not log_path.is_file():
        return None
    records = read_metrics_log(log_path)
    return save_figure(out_dir / TRAINING_CURVES, curves_figure(records, f"training of {Path(checkpoint).parent.name}: {len(records)} epochs"))
