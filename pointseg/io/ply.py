"""PLY point clouds (binary or ASCII) through plyfile: x,y,z, optional colours, intensity and a label field."""

from pathlib import Path

import numpy as np
from plyfile import PlyData, PlyElement

from pointseg.io.atomic import atomic_path
from pointseg.errors import PointCloudError
from pointseg.io.scene import Scene
from pointseg.io.validate import check_coordinates, colours_by_stored_range, labels_to_int

# Names a semantic label goes by in the wild (CloudCompare, PDAL, Open3D exports), matched case-insensitively, in this
# order; scalar_class: pointseg's own PLY outputs (pointseg.io.fields), also after CloudCompare has saved them again.
LABEL_FIELD_NAMES: tuple[str, ...] = ("class", "scalar_class", "label", "semantic", "scalar_classification", "classification", "scalar_label")
COLOUR_FIELD_NAMES: tuple[tuple[str, str, str], ...] = (("red", "green", "blue"), ("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue"))
INTENSITY_FIELD_NAMES: tuple[str, ...] = ("intensity", "scalar_intensity")


def _find(names: dict[str, str], candidates: tuple[str, ...]) -> str | None:
    return next((names[c] for c in candidates if c in names), None)


def read_ply(path: str | Path) -> Scene:
    """Read a PLY point cloud.

    A label field under any of LABEL_FIELD_NAMES becomes `labels` (classes 0..14 as they are; others -100).
    Colours: uint8 as they are, floats within 0..1 scaled by 255, 16-bit values by 1/257; no colour
    fields -> rgb None. An 'intensity' (or CloudCompare's 'scalar_Intensity') field becomes `intensity`.
    """
    path = Path(path)
    if not path.is_file():
        raise PointCloudError(path, "file not found")
    try:
        ply = PlyData.read(str(path))
    except Exception as err:  # plyfile raises several types for malformed headers and bodies
        raise PointCloudError(path, f"not a readable PLY file ({err})") from None
    if "vertex" not in ply:
        raise PointCloudError(path, "no 'vertex' element")
    vertex = ply["vertex"].data
    names = {n.lower(): n for n in vertex.dtype.names}
    if not all(a in names for a in "xyz"):
        raise PointCloudError(path, f"vertex element lacks x, y, z (has {list(vertex.dtype.names)})")
    xyz = np.stack([vertex[names[a]].astype(np.float64) for a in "xyz"], axis=1)
    check_coordinates(path, xyz)
    colour = next((c for c in COLOUR_FIELD_NAMES if all(n in names for n in c)), None)
    rgb = None if colour is None else colours_by_stored_range(path, np.stack([vertex[names[n]] for n in colour], axis=1))
    intensity_name = _find(names, INTENSITY_FIELD_NAMES)
    intensity = None if intensity_name is None else np.asarray(vertex[intensity_name], np.float32)
    if intensity is not None and not np.isfinite(intensity).all():
        raise PointCloudError(path, f"NaN or infinite '{intensity_name}' values")
    label_name = _find(names, LABEL_FIELD_NAMES)
    if label_name is None:
        return Scene(path, xyz, rgb, intensity=intensity)
    labels, n_out = labels_to_int(path, np.asarray(vertex[label_name]))
    return Scene(path, xyz, rgb, labels, None, n_out, intensity=intensity)


def write_ply(
    path: str | Path,
    xyz: np.ndarray,
    rgb: np.ndarray | None,
    fields: dict[str, np.ndarray] | None = None,
    comments: list[str] | None = None,
    binary: bool = True,
) -> None:
    """Write vertices with x,y,z (float64), red,green,blue (uint8, left out when rgb is None) and extra
    per-point `fields`, atomically.

    Binary little-endian by default (opens in CloudCompare and Open3D); ASCII with binary=False.
    """
    fields = fields or {}
    dtype = [("x", "<f8"), ("y", "<f8"), ("z", "<f8")]
    if rgb is not None:
        dtype += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    dtype += [(name, values.dtype.newbyteorder("<").str) for name, values in fields.items()]
    vertex = np.empty(len(xyz), dtype=dtype)
    vertex["x"], vertex["y"], vertex["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    if rgb is not None:
        vertex["red"], vertex["green"], vertex["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    for name, values in fields.items():
        vertex[name] = values
    data = PlyData([PlyElement.describe(vertex, "vertex")], text=not binary, byte_order="<", comments=comments or [])
    with atomic_path(path) as tmp:
        data.write(str(tmp))
