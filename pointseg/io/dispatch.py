"""One entry for every format: read_scene / read_bounds / write_labelled dispatch on the file's suffix.

Formats: STPLS3D text (.txt), PLY (.ply), LAS/LAZ (.las, .laz). Labelled output follows the input by
default (LAS -> LAS, LAZ -> LAZ, txt/PLY -> PLY); `output_path(..., fmt)` chooses another.
"""

from pathlib import Path

import laspy
import numpy as np

from pointseg.constants import CLASS_NAMES
from pointseg.io.class_map import ClassMap, load_class_map
from pointseg.io.errors import PointCloudError
from pointseg.io.las import LAS_SUFFIXES, read_las, read_las_bounds, write_las_copy, write_las_new
from pointseg.io.ply import read_ply, write_ply
from pointseg.io.scene import Scene, SceneBounds, scene_name
from pointseg.io.stpls3d import read_stpls3d_txt

SCENE_SUFFIXES: tuple[str, ...] = (".txt", ".ply", ".las", ".laz")
OUTPUT_FORMATS: tuple[str, ...] = ("auto", "ply", "las", "laz")
WRITE_CLASS_MODES: tuple[str, ...] = ("pred_class", "classification")
PRED_TAG = "_pred"  # <scene>_pred.<format>
DEFAULT_CLASS_MAP = "asprs"


def _class_map(class_map: ClassMap | str | None) -> ClassMap | None:
    return load_class_map(class_map) if isinstance(class_map, str) else class_map


def read_scene(path: str | Path, class_map: ClassMap | str | None = DEFAULT_CLASS_MAP) -> Scene:
    """Read a scene by suffix (.txt, .ply, .las, .laz), with its labels when it has them.

    class_map (a ClassMap, a shipped map's name or a YAML path) turns LAS/LAZ classification codes
    into classes; None reads LAS/LAZ without labels. Text and PLY labels are classes 0..14 already.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return read_stpls3d_txt(path)
    if suffix == ".ply":
        return read_ply(path)
    if suffix in LAS_SUFFIXES:
        return read_las(path, _class_map(class_map))
    raise PointCloudError(path, f"unsupported file type '{suffix}', expected .txt (STPLS3D), .ply, .las or .laz")


def read_bounds(path: str | Path) -> SceneBounds:
    """A scene file's extent and point count: LAS/LAZ from the header alone (with the CRS); other
    formats by reading the points (crs None)."""
    path = Path(path)
    if path.suffix.lower() in LAS_SUFFIXES:
        return read_las_bounds(path)
    scene = read_scene(path, None)
    return SceneBounds(path, scene.xyz.min(axis=0), scene.xyz.max(axis=0), len(scene), None)


def output_format(input_path: str | Path, fmt: str = "auto") -> str:
    """'ply', 'las' or 'laz': `fmt`, or with 'auto' the input's own (LAS -> las, LAZ -> laz, txt/PLY -> ply)."""
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"output format '{fmt}': expected one of {list(OUTPUT_FORMATS)}")
    if fmt != "auto":
        return fmt
    suffix = Path(input_path).suffix.lower()
    return suffix[1:] if suffix in LAS_SUFFIXES else "ply"


def output_path(out_dir: str | Path, input_path: str | Path, fmt: str = "auto") -> Path:
    """Where the labelled copy of `input_path` goes: out_dir/<scene>_pred.<ply|las|laz>."""
    return Path(out_dir) / f"{scene_name(input_path)}{PRED_TAG}.{output_format(input_path, fmt)}"


def is_prediction(path: str | Path) -> bool:
    """True for files this module writes (<scene>_pred.<format>), which are not scenes to label."""
    return scene_name(path).endswith(PRED_TAG)


def probability_field(class_index: int) -> str:
    """The name of a class's probability field: 'prob_low_vegetation'."""
    return "prob_" + CLASS_NAMES[class_index].replace(" ", "_")


def write_labelled(
    path: str | Path,
    scene: Scene,
    labels: np.ndarray,
    confidence: np.ndarray,
    entropy: np.ndarray | None = None,
    probabilities: np.ndarray | None = None,
    write_class: str = "pred_class",
    class_map: ClassMap | str = DEFAULT_CLASS_MAP,
    colours: np.ndarray | None = None,
    comments: list[str] | None = None,
) -> Path:
    """Write a labelled scene to `path` in the format its suffix names (.ply, .las, .laz), atomically.

    labels (N,) classes 0..14, confidence (N,) and entropy (N,) float32, probabilities (N, 15) float32
    or None, all in the scene's point order.
    PLY: x,y,z float64, the scene's colours (or `colours`, e.g. the class palette; none if both are None),
    'class' uint8, 'confidence', 'entropy' and 'prob_<class>' float32.
    LAS/LAZ: a LAS/LAZ scene is copied with its header, VLRs/EVLRs and every dimension (coordinates
    identical); other scenes become a new LAS 1.4 file. The prediction goes into the extra dimension
    'pred_class' (write_class='pred_class'), or into 'classification' as codes through the class map's
    inverse (write_class='classification'); 'confidence', 'entropy', 'prob_<class>' as float32 extra bytes.
    """
    path = Path(path)
    if write_class not in WRITE_CLASS_MODES:
        raise ValueError(f"write_class '{write_class}': expected one of {list(WRITE_CLASS_MODES)}")
    labels = np.asarray(labels).astype(np.uint8)
    extra: dict[str, np.ndarray] = {"confidence": np.asarray(confidence, np.float32)}
    if entropy is not None:
        extra["entropy"] = np.asarray(entropy, np.float32)
    if probabilities is not None:
        extra.update({probability_field(c): np.ascontiguousarray(probabilities[:, c], np.float32) for c in range(probabilities.shape[1])})
    suffix = path.suffix.lower()
    if suffix == ".ply":
        rgb = colours if colours is not None else scene.rgb
        write_ply(path, scene.xyz, rgb, {"class": labels, **extra}, comments)
        return path
    if suffix not in LAS_SUFFIXES:
        raise ValueError(f"{path}: cannot write '{suffix}' files; expected .ply, .las or .laz")
    codes = None
    if write_class == "classification":
        codes = _class_map(class_map).to_codes(labels)
    else:
        extra = {"pred_class": labels, **extra}
    if isinstance(scene.source, laspy.LasData):
        write_las_copy(path, scene.source, extra, codes)
    elif scene.path.suffix.lower() in LAS_SUFFIXES:  # read without its LasData (e.g. another process): read it again
        write_las_copy(path, read_las(scene.path).source, extra, codes)
    else:
        write_las_new(path, scene.xyz, scene.rgb, extra, codes, scene.intensity)
    return path
