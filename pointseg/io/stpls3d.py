"""STPLS3D text scenes: comma-separated, no header, x,y,z,r,g,b[,semantic,instance]."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from pointseg.constants import IGNORE_LABEL
from pointseg.io.atomic import atomic_path
from pointseg.errors import PointCloudError
from pointseg.io.scene import Scene
from pointseg.io.validate import check_coordinates, first_bad_row, labels_to_int, text_colours

COLUMNS_UNLABELED = 6  # x, y, z, r, g, b
COLUMNS_LABELED = 8  # ... semantic, instance
# pandas' pyarrow CSV engine parses a 2.27 M-point scene faster than its C engine (tools/benchmark_read.py); C without pyarrow.
CSV_ENGINE = "pyarrow" if importlib.util.find_spec("pyarrow") is not None else "c"


def read_stpls3d_txt(path: str | Path) -> Scene:
    """Read one STPLS3D scene exactly as distributed (e.g. `5_points_GTv3.txt`).

    Raises PointCloudError naming the file for: a missing file, an empty scene, a column count other
    than 6 or 8, non-numeric or missing values, NaN/inf coordinates, colours outside 0..255. Colours written as
    decimals within 0..1 are scaled by 255 (validate.text_colours).
    """
    path = Path(path)
    if not path.is_file():
        raise PointCloudError(path, "file not found")
    frame = parse_csv(path)
    n_cols = frame.shape[1]
    check_column_count(path, n_cols)
    if len(frame) == 0:
        raise PointCloudError(path, "empty scene: the file holds no points")
    columns = [_numeric_column(path, frame, c) for c in range(n_cols)]
    xyz = np.stack(columns[:3], axis=1)
    check_coordinates(path, xyz)
    for c in range(3, n_cols):
        if columns[c].dtype.kind == "f" and np.isnan(columns[c]).any():
            raise PointCloudError(path, missing_value_message(c, first_bad_row(np.isnan(columns[c]))))
    rgb = text_colours(path, np.stack(columns[3:6], axis=1))
    if n_cols == COLUMNS_UNLABELED:
        return Scene(path, xyz, rgb)
    labels, n_out = labels_to_int(path, columns[6])
    return Scene(path, xyz, rgb, labels, columns[7].astype(np.int64), n_out)


def parse_csv(path: Path, engine: str | None = None) -> pd.DataFrame:
    """The file as a headerless table with pandas' default dtypes (float coordinates, integer colours and labels:
    they parse fastest; columns are then taken one by one, never stacked into one (N, 8) table).

    engine: "pyarrow" (multi-threaded; the default when pyarrow is installed) or "c"; both give the same
    float64 values and go through the same validation (tests/test_io.py).
    """
    engine = engine or CSV_ENGINE
    try:
        return pd.read_csv(path, header=None, engine=engine)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
        raise csv_error(path, err) from None


def csv_error(path: Path, err: Exception) -> PointCloudError:
    """The PointCloudError of pandas' EmptyDataError or ParserError for a scene file."""
    if isinstance(err, pd.errors.EmptyDataError) or "Empty CSV file" in str(err):  # the pyarrow engine's word for it
        return PointCloudError(path, "empty scene: the file holds no points")
    return PointCloudError(path, f"inconsistent number of columns ({str(err).strip()})")


def check_column_count(path: Path, n_cols: int) -> None:
    if n_cols not in (COLUMNS_UNLABELED, COLUMNS_LABELED):
        raise PointCloudError(path, f"{n_cols} columns, expected 6 (x,y,z,r,g,b) or 8 (x,y,z,r,g,b,semantic,instance)")


def missing_value_message(column: int, line: int) -> str:
    """column: 0-based; line: 1-based."""
    return f"missing or NaN value in column {column + 1} at line {line}"


def non_numeric(frame: pd.DataFrame, c: int, first_line: int = 1) -> tuple[int, str] | None:
    """(line, message) of column c's first value that is not a number, or None; the frame's first row is line
    `first_line` of the file (1-based)."""
    if frame[c].to_numpy().dtype.kind in "fiu":
        return None
    row = first_bad_row(pd.to_numeric(frame[c], errors="coerce").isna().to_numpy())
    line = row + first_line - 1
    return line, f"non-numeric value {frame[c].iloc[row - 1]!r} in column {c + 1} at line {line}"


def _numeric_column(path: Path, frame: pd.DataFrame, c: int) -> np.ndarray:
    bad = non_numeric(frame, c)
    if bad is not None:
        raise PointCloudError(path, bad[1])
    return frame[c].to_numpy()


def write_stpls3d_txt(
    path: str | Path,
    xyz: np.ndarray,
    rgb: np.ndarray,
    labels: np.ndarray | None = None,
    instance: np.ndarray | None = None,
) -> None:
    """Write a scene in the STPLS3D text format (6 columns, or 8 with labels), atomically."""
    frame = pd.DataFrame({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]})
    for i, c in enumerate("rgb"):
        frame[c] = rgb[:, i].astype(np.int64)
    if labels is not None:
        frame["semantic"] = labels.astype(np.int64)
        frame["instance"] = (instance if instance is not None else np.full(len(xyz), IGNORE_LABEL)).astype(np.int64)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, header=False, index=False, float_format="%.6f")
