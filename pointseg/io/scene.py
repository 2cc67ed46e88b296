"""The in-memory scene (georeferenced float64 coordinates, colours, optional labels) and a reader by suffix."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pointseg.io.errors import PointCloudError


@dataclass
class Scene:
    """One point cloud.

    xyz (N, 3) float64, original coordinates; rgb (N, 3) uint8;
    labels (N,) int64 with -100 ignored, or None when the file has no ground truth;
    instance (N,) int64 or None.
    """

    path: Path
    xyz: np.ndarray
    rgb: np.ndarray
    labels: np.ndarray | None = None
    instance: np.ndarray | None = None
    n_out_of_range_labels: int = 0
    origin: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        # Whole metres below the minimum: local coordinates stay positive and exactly representable
        # offsets (georeferenced inputs lose centimetres if cast to float32 before this shift).
        self.origin = np.floor([self.xyz[:, a].min() for a in range(3)]) if len(self.xyz) else np.zeros(3)

    @property
    def name(self) -> str:
        return scene_name(self.path)

    def __len__(self) -> int:
        return len(self.xyz)

    def local_xyz(self) -> np.ndarray:
        """(N, 3) float32 coordinates relative to `origin`, for computation."""
        return (self.xyz - self.origin).astype(np.float32)


def scene_name(path: str | Path) -> str:
    """Scene name from a file name: '5_points_GTv3.txt' -> '5_points_GTv3'."""
    return Path(path).name.rsplit(".", 1)[0]


def read_scene(path: str | Path) -> Scene:
    """Read an STPLS3D .txt or a .ply file by suffix, with its labels when it has them."""
    from pointseg.io.ply import read_ply
    from pointseg.io.stpls3d import read_stpls3d_txt

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return read_stpls3d_txt(path)
    if suffix == ".ply":
        return read_ply(path)
    raise PointCloudError(path, f"unsupported file type '{suffix}', expected .txt (STPLS3D) or .ply")
