"""A labelled cloud for pictures: points, colours, predicted classes, ground truth, confidence, entropy.

Reads what tools/infer.py writes (through pointseg.io.predictions, the one reader of prediction files) or any
scene with a label field (then the labels are ground truth). A prediction file that carries its input's
classification (a labelled LAS/LAZ copy: `classification`, or `original_class` after --write-class classification;
a PLY of a LAS/LAZ input: `scalar_original_class`) gives the ground truth through the run's class map.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointseg.constants import IGNORE_LABEL, NUM_CLASSES
from pointseg.errors import PointCloudError
from pointseg.io import ClassMap, Scene, read_scene
from pointseg.io.dispatch import DEFAULT_CLASS_MAP
from pointseg.io.predictions import holds_prediction, read_prediction, run_record, source_name



@dataclass
class LabelledCloud:
    """One scene for pictures.

    xyz (N, 3) float64; rgb (N, 3) uint8; pred (N,) int64 in 0..14 or None; truth (N,) int64 with -100
    ignored, or None; confidence (N,) float32 in [0, 1] or None; entropy (N,) float32 (nats) or None; scale: metres
    per coordinate unit of x, y and z (the file's units: pictures are drawn in metres, labelled in its coordinates).
    """

    path: Path
    name: str
    xyz: np.ndarray
    rgb: np.ndarray
    pred: np.ndarray | None = None
    truth: np.ndarray | None = None
    confidence: np.ndarray | None = None
    entropy: np.ndarray | None = None
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __len__(self) -> int:
        return len(self.xyz)


def run_class_map(path: str | Path) -> str:
    """The class map a prediction file was labelled with: its record's (<scene>_pred.json beside it), else 'asprs'."""
    settings = run_record(path).get("settings", {})
    name = settings.get("class_map") if isinstance(settings, dict) else None
    return name if isinstance(name, str) and name else DEFAULT_CLASS_MAP


def metric_scale(scene: Scene) -> tuple[float, float, float]:
    """Metres per coordinate unit of x, y and z of a scene (its file's CRS units, pointseg.io.units)."""
    return scene.units.scale


def read_labelled(path: str | Path, truth: str | Path | Scene | None = None, class_map: ClassMap | str | None = None) -> LabelledCloud:
    """Read a prediction file (pointseg.io.predictions) or a labelled scene, and optionally the ground truth of the
    same points (a scene file, or a Scene already read), which replaces the one a prediction file carries.

    class_map: turns the input's classification a prediction file carries into ground truth; None: the one it was
    labelled with (run_class_map). Raises PointCloudError (one line naming the file) when the truth has other points
    or no labels, or a predicted class lies outside 0..14.
    """
    path = Path(path)
    if holds_prediction(path):
        p = read_prediction(path, class_map if class_map is not None else run_class_map(path))
        cloud = LabelledCloud(path, source_name(path), p.scene.xyz, p.scene.rgb, p.pred, p.scene.labels, p.confidence, p.entropy,
                              metric_scale(p.scene))
    else:
        scene = read_scene(path)  # validates the file and gives xyz, rgb and its label field
        cloud = LabelledCloud(path, source_name(path), scene.xyz, scene.rgb, truth=scene.labels, scale=metric_scale(scene))
    if truth is not None:
        cloud.truth = read_truth(truth, cloud)
    return cloud


def read_truth(truth: str | Path | Scene, cloud: LabelledCloud) -> np.ndarray:
    """Ground-truth labels (N,) of the same points as `cloud`, in the same order."""
    gt = truth if isinstance(truth, Scene) else read_scene(truth)
    truth_path = gt.path
    if gt.labels is None:
        raise PointCloudError(truth_path, "no ground-truth labels (no label field)")
    if len(gt) != len(cloud):
        raise PointCloudError(truth_path, f"{len(gt)} points, but {cloud.path.name} has {len(cloud)}: not the same scene")
    if not np.allclose(gt.xyz, cloud.xyz, atol=1e-3):
        raise PointCloudError(truth_path, f"coordinates differ from {cloud.path.name}: points are in another order or another scene")
    return np.where((gt.labels >= 0) & (gt.labels < NUM_CLASSES), gt.labels, IGNORE_LABEL)
