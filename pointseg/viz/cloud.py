"""A labelled cloud for pictures: points, colours, predicted classes, ground truth, confidence, entropy.

Reads what tools/infer.py writes (<scene>_pred.ply with `class` and `confidence` fields; LAS/LAZ with
`pred_class`, `confidence` and `entropy` extra dimensions) or any scene with a label field (then the
labels are ground truth). The per-point prediction fields are read here and nowhere else.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointseg.constants import IGNORE_LABEL, NUM_CLASSES
from pointseg.io import PointCloudError, Scene, read_scene, scene_name

PRED_MARK = "_pred"  # <scene>_pred.<ext>: a file tools/infer.py wrote
PRED_CLASS_FIELDS = ("pred_class", "class")  # where a prediction file keeps its classes, in order of preference
SCORE_FIELDS = ("confidence", "entropy")


@dataclass
class LabelledCloud:
    """One scene for pictures.

    xyz (N, 3) float64; rgb (N, 3) uint8; pred (N,) int64 in 0..14 or None; truth (N,) int64 with -100
    ignored, or None; confidence (N,) float32 in [0, 1] or None; entropy (N,) float32 (nats) or None.
    """

    path: Path
    name: str
    xyz: np.ndarray
    rgb: np.ndarray
    pred: np.ndarray | None = None
    truth: np.ndarray | None = None
    confidence: np.ndarray | None = None
    entropy: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.xyz)


def _extra_fields(path: Path) -> dict[str, np.ndarray]:
    """The prediction fields (PRED_CLASS_FIELDS + SCORE_FIELDS) a PLY or LAS/LAZ file holds, by lower-case name."""
    wanted = set(PRED_CLASS_FIELDS + SCORE_FIELDS)
    suffix = path.suffix.lower()
    if suffix == ".ply":
        from plyfile import PlyData

        vertex = PlyData.read(str(path))["vertex"].data
        return {n.lower(): np.asarray(vertex[n]) for n in vertex.dtype.names if n.lower() in wanted}
    if suffix in (".las", ".laz"):
        import laspy

        las = laspy.read(str(path))
        return {n.lower(): np.asarray(las[n]) for n in las.point_format.extra_dimension_names if n.lower() in wanted}
    return {}


def is_prediction_file(path: str | Path, fields: dict[str, np.ndarray] | None = None) -> bool:
    """A file tools/infer.py wrote: named <scene>_pred.* or holding confidence / pred_class fields."""
    path = Path(path)
    fields = _extra_fields(path) if fields is None else fields
    return scene_name(path).endswith(PRED_MARK) or "confidence" in fields or "pred_class" in fields


def read_labelled(path: str | Path, truth: str | Path | Scene | None = None) -> LabelledCloud:
    """Read a prediction file or a labelled scene, and optionally the ground truth of the same points
    (a scene file, or a Scene already read).

    Raises PointCloudError (one line naming the file) when the truth has other points or no labels, or a
    predicted class lies outside 0..14.
    """
    path = Path(path)
    scene = read_scene(path)  # validates the file and gives xyz, rgb and its label field
    fields = _extra_fields(path)
    name = scene_name(path)
    cloud = LabelledCloud(path, name[: -len(PRED_MARK)] if name.endswith(PRED_MARK) else name, scene.xyz, scene.rgb)
    if is_prediction_file(path, fields):
        field = next((f for f in PRED_CLASS_FIELDS if f in fields), None)
        pred = fields[field].astype(np.int64) if field else scene.labels
        if pred is None:
            raise PointCloudError(path, "a prediction file without a 'class' or 'pred_class' field")
        bad = (pred < 0) | (pred >= NUM_CLASSES)
        if bad.any():
            raise PointCloudError(path, f"{int(bad.sum())} points with a predicted class outside 0..{NUM_CLASSES - 1}")
        cloud.pred = pred
        if "confidence" in fields:
            cloud.confidence = fields["confidence"].astype(np.float32)
        if "entropy" in fields:
            cloud.entropy = fields["entropy"].astype(np.float32)
    else:
        cloud.truth = scene.labels
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
