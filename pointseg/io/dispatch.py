"""One entry for every format: read_scene / read_bounds / write_labelled dispatch on the file's suffix.

Formats: STPLS3D text (.txt), PLY (.ply), LAS/LAZ (.las, .laz). Labelled output follows the input by
default (LAS -> LAS, LAZ -> LAZ, txt/PLY -> PLY); `output_path(..., fmt)` chooses another.
"""

import typing
from pathlib import Path

import laspy
import numpy as np

from pointseg.config import OutputFormat, WriteClass
from pointseg.errors import PointCloudError
from pointseg.io.class_map import ClassMap, load_class_map
from pointseg.io.crs import crs_wkt, header_wkt
from pointseg.io.fields import prediction_columns, probability_field  # noqa: F401  (probability_field: part of pointseg.io)
from pointseg.io.labelled import las_fields, not_in_ply, ply_comments, ply_fields, say_what_ply_drops, source_columns
from pointseg.io.las import LAS_SUFFIXES, read_las, read_las_bounds, read_las_units, write_las_copy, write_las_new
from pointseg.io.ply import read_ply, write_ply
from pointseg.io.scene import Scene, SceneBounds
from pointseg.io.stpls3d import read_stpls3d_txt
from pointseg.io.units import Units, resolve_units

SCENE_SUFFIXES: tuple[str, ...] = (".txt", ".ply", ".las", ".laz")
OUTPUT_FORMATS: tuple[str, ...] = typing.get_args(OutputFormat)
WRITE_CLASS_MODES: tuple[str, ...] = typing.get_args(WriteClass)
DEFAULT_CLASS_MAP = "asprs"


def _class_map(class_map: ClassMap | str | None) -> ClassMap | None:
    return load_class_map(class_map) if isinstance(class_map, str) else class_map


def read_scene(path: str | Path, class_map: ClassMap | str | None = DEFAULT_CLASS_MAP, units: "str | Units" = "auto") -> Scene:
    """Read a scene by suffix (.txt, .ply, .las, .laz), with its labels when it has them.

    class_map (a ClassMap, a shipped map's name or a YAML path) turns LAS/LAZ classification codes
    into classes; None reads LAS/LAZ without labels. Text and PLY labels are classes 0..14 already.
    units: for files without a CRS (text, PLY, LAS without one): 'auto' (metres), 'm', 'ft' or 'ftUS';
    a LAS/LAZ file's CRS decides its own (pointseg.io.units).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in LAS_SUFFIXES:
        return read_las(path, _class_map(class_map), units=units)
    if suffix == ".txt":
        scene = read_stpls3d_txt(path)
    elif suffix == ".ply":
        scene = read_ply(path)
    else:
        raise PointCloudError(path, f"unsupported file type '{suffix}', expected .txt (STPLS3D), .ply, .las or .laz")
    scene.set_units(resolve_units(path, None, units))
    return scene


def read_units(path: str | Path, units: "str | Units" = "auto") -> Units:
    """Metres per coordinate unit of a scene file: a LAS/LAZ file's CRS (header only), else the setting (pointseg.io.units)."""
    path = Path(path)
    if path.suffix.lower() in LAS_SUFFIXES:
        return read_las_units(path, units)
    return resolve_units(path, None, units)


def read_bounds(path: str | Path) -> SceneBounds:
    """A scene file's extent and point count: LAS/LAZ from the header alone (with the CRS); other
    formats by reading the points (crs None)."""
    path = Path(path)
    if path.suffix.lower() in LAS_SUFFIXES:
        return read_las_bounds(path)
    scene = read_scene(path, None)
    return SceneBounds(path, scene.xyz.min(axis=0), scene.xyz.max(axis=0), len(scene), None)


def _las_source(scene: Scene) -> laspy.LasData | None:
    """The laspy.LasData of a LAS/LAZ scene (read again when the scene was read without it), else None."""
    if isinstance(scene.source, laspy.LasData):
        return scene.source
    if scene.path.suffix.lower() in LAS_SUFFIXES:  # read without its LasData (e.g. another process): read it again
        return read_las(scene.path).source
    return None


def labelled_fields(path: Path, columns: dict[str, np.ndarray], source: "laspy.LasData | laspy.ScaleAwarePointRecord | None",
                    intensity: np.ndarray | None, write_class: str = "pred_class",
                    class_map: ClassMap | str = DEFAULT_CLASS_MAP) -> tuple[dict[str, np.ndarray], np.ndarray | None, list[str]]:
    """What a labelled file at `path` (.ply, .las, .laz) stores besides its points, for n points: (fields by the name
    written, in order; classification codes (n,) or None; the fields' logical names, pointseg.io.fields).

    columns: the prediction (fields.prediction_columns); source: the LAS/LAZ input's points (its LasData, or one chunk's
    point record: pointseg.io.stream) or None; intensity: a text or PLY input's (n,) or None. Maps arrays to arrays, so
    a file written at once (write_labelled) and one written chunk by chunk (pointseg.predict.large) hold the same."""
    if path.suffix.lower() == ".ply":
        fields = {**columns, **source_columns(source, intensity)}
        return ply_fields(fields), None, list(fields)
    fields, codes = las_fields(columns, write_class, _class_map(class_map), source)
    return fields, codes, list(fields)


def output_wkt(header: laspy.LasHeader | None, crs=None) -> str | None:
    """The CRS a labelled PLY names in its comments: its LAS/LAZ input's (header), else --crs (a pyproj CRS), else None."""
    return (header_wkt(header) if header is not None else None) or (crs_wkt(crs) if crs is not None else None)


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
    crs=None,
) -> Path:
    """Write a labelled scene to `path` in the format its suffix names (.ply, .las, .laz), atomically.

    labels (N,) classes 0..14, confidence (N,) and entropy (N,) float32, probabilities (N, 15) float32
    or None, all in the scene's point order. Field names per format: pointseg.io.fields.
    PLY: x,y,z float64, the scene's colours (or `colours`, e.g. the class palette; none if both are None),
    scalar_class uint8, scalar_confidence, scalar_entropy and scalar_prob_<class> float32; of a LAS/LAZ input also
    its intensity, return numbers and classification (scalar_original_class), a warning naming what a PLY cannot
    hold; comments: the class names, the fields, the CRS.
    LAS/LAZ: a LAS/LAZ scene is copied with its header, VLRs/EVLRs and every dimension (coordinates
    identical); other scenes become a new LAS 1.4 file. The prediction goes into the extra dimension
    'pred_class'; write_class='classification' also writes it into 'classification' as codes through the class
    map's inverse and keeps the input's codes in 'original_class'; 'confidence', 'entropy', 'prob_<class>' as float32
    extra bytes. crs: a pyproj CRS for an output whose input has none (--crs).
    """
    path = Path(path)
    if write_class not in WRITE_CLASS_MODES:
        raise ValueError(f"write_class '{write_class}': expected one of {list(WRITE_CLASS_MODES)}")
    columns = prediction_columns(labels, confidence, entropy, probabilities)
    suffix = path.suffix.lower()
    if suffix not in (".ply", *LAS_SUFFIXES):
        raise ValueError(f"{path}: cannot write '{suffix}' files; expected .ply, .las or .laz")
    source = _las_source(scene)
    fields, codes, names = labelled_fields(path, columns, source, scene.intensity, write_class, class_map)
    if suffix == ".ply":
        wkt = output_wkt(source.header if source is not None else None, crs)
        if source is not None:
            say_what_ply_drops(path, scene.path, not_in_ply(source, set(names)), wkt)
        rgb = colours if colours is not None else scene.rgb
        write_ply(path, scene.xyz, rgb, fields, ply_comments(names, wkt) if comments is None else comments)
        return path
    if source is not None:
        write_las_copy(path, source, fields, codes, crs=crs)
    else:
        write_las_new(path, scene.xyz, scene.rgb, fields, codes, scene.intensity, crs=crs)
    return path
