"""Re-scoring saved predictions (<scene>_pred.<ply|las|laz>) against ground-truth scenes of the same name."""

from pathlib import Path

import numpy as np

from pointseg.config import VizConfig
from pointseg.errors import InputNotFoundError, PointCloudError
from pointseg.io import load_class_map, read_prediction, read_scene, scene_name
from pointseg.io.atomic import clean_stale_temp_files
from pointseg.io.predictions import prediction_files, source_name
from pointseg.metrics import confusion_matrix
from pointseg.predict.label import list_scenes
from pointseg.predict.metrics_files import write_metrics
from pointseg.io.run_lock import lock_folder
from pointseg.predict.outputs import check_outputs, scoring_outputs


def evaluate_predictions(pred_dir: str | Path, gt_dir: str | Path, class_map: str = "asprs", pictures: bool = False,
                         viz: VizConfig | None = None) -> str:
    """Scores of saved <scene>_pred.<ply|las|laz> files against ground-truth scenes of the same name; writes metrics to pred_dir
    (with `pictures`, also maps, plots and report.html, drawn per `viz`, default its defaults). Returns the table.

    LAS/LAZ ground truth goes through `class_map`."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    preds = prediction_files(pred_dir)
    if not preds:
        raise InputNotFoundError(f"{pred_dir}: no *_pred.ply, *_pred.las or *_pred.laz files")
    with lock_folder(pred_dir, "--pred"):
        check_outputs(scoring_outputs(pred_dir, [source_name(p) for p in preds], pictures),
                      hint="nothing was scored; move them away (metrics and pictures are written beside the predictions)")
        clean_stale_temp_files(pred_dir)
        return _score(preds, pred_dir, gt_dir, class_map, pictures, viz)


def _score(preds: list[Path], pred_dir: Path, gt_dir: Path, class_map: str, pictures: bool, viz: VizConfig | None) -> str:
    ground_truth = {scene_name(p): p for p in list_scenes(gt_dir)}
    classes = load_class_map(class_map)
    confusions, pred_files, file_points = {}, {}, {}
    for pred_path in preds:  # a loop over scenes
        name = source_name(pred_path)
        if name not in ground_truth:
            raise InputNotFoundError(f"{pred_path}: no ground truth '{name}' (.txt, .ply, .las or .laz) in {gt_dir}")
        prediction = read_prediction(pred_path)
        gt = read_scene(ground_truth[name], classes)
        if gt.labels is None:
            raise PointCloudError(gt.path, "no ground-truth labels")
        if len(prediction.pred) != len(gt):
            raise PointCloudError(pred_path, f"{len(prediction.pred)} points, but the ground truth {gt.path.name} has {len(gt)}")
        if not np.allclose(prediction.scene.xyz, gt.xyz, atol=1e-6):
            raise PointCloudError(pred_path, f"coordinates differ from {gt.path.name}: points are in another order or another scene")
        confusions[name] = confusion_matrix(gt.labels, prediction.pred)
        pred_files[name], file_points[name] = pred_path, len(prediction.pred)
    table = write_metrics(pred_dir, confusions, file_points)
    if pictures:
        from pointseg.viz.run import write_run_pictures

        write_run_pictures(pred_dir, {n: (pred_files[n], ground_truth[n]) for n in confusions}, viz or VizConfig(),
                           extra={"ground truth": str(gt_dir)}, class_map=classes)
    return table
