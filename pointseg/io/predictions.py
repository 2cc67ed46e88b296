"""Prediction files: their names (<scene>_pred.<ply|las|laz> and the <scene>_pred.json record beside them) and
the one reader of what tools/infer.py writes into them (predicted class, confidence, entropy, the input's classes).

PLY keeps the prediction in `scalar_class` (and `scalar_confidence`, `scalar_entropy`; older outputs: `class`,
`confidence`, `entropy`); LAS/LAZ in the extra dimensions `pred_class`, `confidence`, `entropy` (pointseg.io.fields).
The input's classification, ground truth through a class map: a LAS/LAZ file's `original_class` (written by
--write-class classification), else its `classification`; a PLY's `scalar_original_class` (of a LAS/LAZ input).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointseg.constants import NUM_CLASSES
from pointseg.errors import InputNotFoundError, PointCloudError
from pointseg.io.class_map import ClassMap, load_class_map
from pointseg.io.fields import ORIGINAL_CLASS, unprefixed
from pointseg.io.scene import Scene, scene_name
from pointseg.io.units import Units

PRED_TAG = "_pred"  # <scene>_pred.<format>
OUTPUT_SUFFIXES: tuple[str, ...] = (".ply", ".las", ".laz")
RECORD_SUFFIX = f"{PRED_TAG}.json"  # written after the labelled file: points, confusion matrix, seconds, settings
PRED_CLASS_FIELDS = ("pred_class", "class")  # where a prediction file keeps its classes (PLY: [scalar_]class), in order of preference
SCORE_FIELDS = ("confidence", "entropy")
TRUTH_FIELDS = (ORIGINAL_CLASS,)  # the input's classification codes, kept beside the prediction


def output_format(input_path: str | Path, fmt: str = "auto") -> str:
    """'ply', 'las' or 'laz': `fmt`, or with 'auto' the input's own (LAS -> las, LAZ -> laz, txt/PLY -> ply)."""
    if fmt != "auto":
        return fmt
    suffix = Path(input_path).suffix.lower()
    return suffix[1:] if suffix in (".las", ".laz") else "ply"


def output_path(out_dir: str | Path, input_path: str | Path, fmt: str = "auto") -> Path:
    """Where the labelled copy of `input_path` goes: out_dir/<scene>_pred.<ply|las|laz>."""
    return Path(out_dir) / f"{scene_name(input_path)}{PRED_TAG}.{output_format(input_path, fmt)}"


def record_path(out_dir: str | Path, name: str) -> Path:
    """The record <scene>_pred.json of scene `name` in out_dir."""
    return Path(out_dir) / f"{name}{RECORD_SUFFIX}"


def is_prediction(path: str | Path) -> bool:
    """True for files named as pointseg's labelled outputs (<scene>_pred.<format>), which are not scenes to label."""
    return scene_name(path).endswith(PRED_TAG)


def is_labelled_output(path: str | Path) -> bool:
    """A file pointseg wrote as a labelled copy of an input: named <scene>_pred.<format>, or recorded so in its folder's
    ledger (pointseg.io.ownership.LABELLED). Never a scene to label or to train on (the test set must not leak)."""
    from pointseg.io.ownership import LABELLED, role_of

    return is_prediction(path) or role_of(path) == LABELLED


def source_name(path: str | Path) -> str:
    """The scene a prediction file labels: '5_points_GTv3_pred.ply' -> '5_points_GTv3' (other names as they are)."""
    name = scene_name(path)
    return name[: -len(PRED_TAG)] if name.endswith(PRED_TAG) else name


def run_record(path: str | Path) -> dict:
    """The record (<scene>_pred.json) beside a prediction file, {} when there is none or it cannot be read."""
    try:
        record = json.loads(record_path(Path(path).parent, source_name(path)).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def recorded_units(path: str | Path) -> "Units | str":
    """The units a prediction file's coordinates are in, as its run read its input (the record's metres_per_unit: a
    text scene labelled with --units ft, or with a --crs in feet, gives a PLY without a CRS); 'auto' without a record."""
    factors = run_record(path).get("metres_per_unit")
    if isinstance(factors, list) and len(factors) == 2 and all(isinstance(f, (int, float)) and f > 0 for f in factors):
        return Units(float(factors[0]), float(factors[1]), f"as its run read {source_name(path)} (its record)")
    return "auto"


def prediction_files(out_dir: str | Path) -> list[Path]:
    """The <scene>_pred.<ply|las|laz> files in out_dir, sorted."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    return sorted(p for p in out_dir.iterdir() if p.suffix.lower() in OUTPUT_SUFFIXES and is_prediction(p))


def find_prediction(out_dir: str | Path, name: str) -> Path:
    """The <name>_pred.<ply|las|laz> file in out_dir."""
    for suffix in OUTPUT_SUFFIXES:
        path = Path(out_dir) / f"{name}{PRED_TAG}{suffix}"
        if path.is_file():
            return path
    raise InputNotFoundError(f"{out_dir}: no prediction file {name}{PRED_TAG}.ply/.las/.laz")


def prediction_fields(path: str | Path) -> dict[str, np.ndarray]:
    """The prediction fields (PRED_CLASS_FIELDS + SCORE_FIELDS + TRUTH_FIELDS) a PLY or LAS/LAZ file holds, by lower-case
    name: PLY vertex properties without CloudCompare's `scalar_` prefix (`scalar_class` and an older output's `class`
    both as 'class'; the prefixed one wins); LAS/LAZ extra dimensions only (a LAS file's standard `classification` is not one)."""
    wanted = set(PRED_CLASS_FIELDS + SCORE_FIELDS + TRUTH_FIELDS)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".ply":
        from plyfile import PlyData

        vertex = PlyData.read(str(path))["vertex"].data
        names = sorted(vertex.dtype.names, key=lambda n: n.lower().startswith("scalar_"))  # prefixed last: they win
        return {unprefixed(n): np.asarray(vertex[n]) for n in names if unprefixed(n) in wanted}
    if suffix in (".las", ".laz"):
        import laspy

        las = laspy.read(str(path))
        return {n.lower(): np.asarray(las[n]) for n in las.point_format.extra_dimension_names if n.lower() in wanted}
    return {}


def classes_of_codes(path: Path, codes: np.ndarray, class_map: ClassMap | str) -> np.ndarray | None:
    """Ground truth (N,) int64 (-100 ignored) from a file's classification codes through a class map; None when no
    point maps to a class (an unclassified input)."""
    classes = load_class_map(class_map) if isinstance(class_map, str) else class_map
    values = np.asarray(codes)
    if values.size and (not np.isfinite(values).all() or (values != np.round(values)).any() or values.min() < 0 or values.max() > 255):
        raise PointCloudError(path, "its original_class holds values that are not class codes 0..255")
    labels, _ = classes.to_classes(values.astype(np.int64))
    return labels if (labels >= 0).any() else None


@dataclass
class Prediction:
    """A prediction file read back: scene (its points; its own labels where it carries ground truth too),
    pred (N,) int64 in 0..14, confidence (N,) float32 or None, entropy (N,) float32 (nats) or None."""

    scene: Scene
    pred: np.ndarray
    confidence: np.ndarray | None = None
    entropy: np.ndarray | None = None


def holds_prediction(path: str | Path, fields: dict[str, np.ndarray] | None = None) -> bool:
    """A file tools/infer.py wrote: named <scene>_pred.* or holding confidence / pred_class fields."""
    fields = prediction_fields(path) if fields is None else fields
    return is_prediction(path) or "confidence" in fields or "pred_class" in fields


def read_prediction(path: str | Path, class_map: ClassMap | str | None = None, units: "Units | str | None" = None) -> Prediction:
    """Read a prediction file (see the module docstring); raises PointCloudError naming the file when it holds no
    predicted class (e.g. a LAS file labelled with --write-class classification by an older pointseg, without
    pred_class) or one outside 0..14. class_map turns the input's classification the file carries (original_class,
    else a LAS/LAZ file's own classification) into the scene's labels, its ground truth (None: no labels). units: the
    setting for a file without a CRS (None: recorded_units, what its run read)."""
    from pointseg.io.dispatch import read_scene

    path = Path(path)
    scene = read_scene(path, class_map, recorded_units(path) if units is None else units)
    fields = prediction_fields(path)
    field = next((f for f in PRED_CLASS_FIELDS if f in fields), None)
    if field is None:
        hint = (" (written with --write-class classification by an older pointseg? score that file's classification as ground truth instead)"
                if path.suffix.lower() in (".las", ".laz") else "")
        raise PointCloudError(path, f"no predicted class ('scalar_class', 'class' or 'pred_class' field){hint}")
    values = fields[field]
    if np.issubdtype(values.dtype, np.floating) and (~np.isfinite(values) | (values != np.round(values))).any():
        raise PointCloudError(path, f"its '{field}' field holds values that are not class ids 0..{NUM_CLASSES - 1}")
    pred = values.astype(np.int64)
    bad = (pred < 0) | (pred >= NUM_CLASSES)
    if bad.any():
        raise PointCloudError(path, f"{int(bad.sum())} points with a predicted class outside 0..{NUM_CLASSES - 1}")
    if ORIGINAL_CLASS in fields:
        scene.labels = None if class_map is None else classes_of_codes(path, fields[ORIGINAL_CLASS], class_map)
    elif path.suffix.lower() == ".ply":
        scene.labels = None  # its class field is the prediction, not ground truth
    return Prediction(scene, pred, fields.get("confidence", None), fields.get("entropy", None))
