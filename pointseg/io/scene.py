"""The in-memory scene: georeferenced float64 coordinates, optional colour, intensity and labels."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pointseg.io.units import METRES, Units, metres_from


@dataclass
class Scene:
    """One point cloud, in the order of its file.

    xyz (N, 3) float64, original coordinates;
    rgb (N, 3) uint8, or None when the file stores no colour (never zeros in its place);
    labels (N,) int64 with -100 ignored, or None when the file has no ground truth;
    instance (N,) int64 or None;
    n_out_of_range_labels: points whose label (or LAS class code) was outside the classes and set to -100;
    intensity (N,) float32, the values as stored (LAS: 0..65535; PLY 'intensity'), or None;
    returns (N, 2) uint8, return number and number of returns (LAS), or None;
    source: what the reader kept to write a labelled copy of the file (LAS/LAZ: the laspy.LasData), or None;
    units: metres per coordinate unit, horizontal and vertical (pointseg.io.units): computation is in metres;
    intensity_reference: the intensity scale of the whole file when the scene is a part of it (a big tile of a file larger
    than memory: pointseg.predict.large), else None (pointseg.data.features.scene_attributes computes it from `intensity`).
    """

    path: Path
    xyz: np.ndarray
    rgb: np.ndarray | None
    labels: np.ndarray | None = None
    instance: np.ndarray | None = None
    n_out_of_range_labels: int = 0
    intensity: np.ndarray | None = None
    source: Any = field(default=None, repr=False)
    units: Units = field(default=METRES)
    returns: np.ndarray | None = None
    intensity_reference: float | None = None
    origin: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.set_units(self.units)

    def set_units(self, units: Units) -> None:
        """Take the coordinates in `units`; the origin becomes the whole metres below the minimum, in file units (so a
        scene in feet gets the patch lattice the same scene in metres would have). Local coordinates stay positive and
        exactly representable offsets (georeferenced inputs lose centimetres if cast to float32 before this shift)."""
        self.units = units
        self.origin = metric_floor(np.array([self.xyz[:, a].min() for a in range(3)]), units) if len(self.xyz) else np.zeros(3)

    @property
    def name(self) -> str:
        return scene_name(self.path)

    def __len__(self) -> int:
        return len(self.xyz)

    def present(self) -> dict[str, bool]:
        """Which point attributes the file has: {"rgb", "intensity", "returns"}."""
        return {"rgb": self.rgb is not None, "intensity": self.intensity is not None, "returns": self.returns is not None}

    def local_xyz(self) -> np.ndarray:
        """(N, 3) float32 coordinates relative to `origin`, in metres (the file's units scaled by `units`), for computation."""
        return metres_from(self.xyz, self.origin, self.units).astype(np.float32)


def metric_floor(coords: np.ndarray, units: Units) -> np.ndarray:
    """(3,) the whole metres at or below coordinates (3,) given in `units`, expressed in those units again."""
    scale = np.array(units.scale)
    return np.floor(np.asarray(coords, np.float64) * scale) / scale


def scene_name(path: str | Path) -> str:
    """Scene name from a file name: '5_points_GTv3.txt' -> '5_points_GTv3'."""
    return Path(path).name.rsplit(".", 1)[0]


@dataclass(frozen=True)
class SceneBounds:
    """A scene file's extent without its points (LAS/LAZ: from the header).

    mins, maxs (3,) float64 (x, y, z); n_points; crs: the CRS as text (WKT or GeoTIFF keys) or None."""

    path: Path
    mins: np.ndarray
    maxs: np.ndarray
    n_points: int
    crs: str | None = None
