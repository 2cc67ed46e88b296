"""Checks shared by the readers: finite coordinates, colour range, label range."""

import logging
from pathlib import Path

import numpy as np

from pointseg.constants import IGNORE_LABEL, NUM_CLASSES
from pointseg.errors import PointCloudError

log = logging.getLogger(__name__)


def first_bad_row(mask: np.ndarray) -> int:
    """1-based index of the first True row of a (N,) or (N, k) mask."""
    rows = mask.any(axis=1) if mask.ndim == 2 else mask
    return int(np.argmax(rows)) + 1


def check_coordinates(path: Path, xyz: np.ndarray) -> None:
    """Raise if the scene is empty or any coordinate is NaN or infinite."""
    if len(xyz) == 0:
        raise PointCloudError(path, "empty scene: the file holds no points")
    bad = ~np.isfinite(xyz)
    if bad.any():
        raise PointCloudError(path, bad_coordinates_message(int(bad.any(axis=1).sum()), first_bad_row(bad)))


def bad_coordinates_message(n_bad: int, first_row: int) -> str:
    return f"{n_bad} points with NaN or infinite coordinates (first at point {first_row})"


def colours_to_uint8(path: Path, rgb: np.ndarray) -> np.ndarray:
    """(N, 3) colours in 0..255 (any numeric dtype) -> uint8; raise on values outside the range."""
    bad = colours_outside_8bit(rgb)
    if bad.any():
        row = first_bad_row(bad)
        raise PointCloudError(path, bad_colours_message(int(bad.any(axis=1).sum()), row, rgb[row - 1].tolist()))
    if np.issubdtype(rgb.dtype, np.floating):
        return np.rint(rgb).astype(np.uint8)
    return rgb.astype(np.uint8)


def colours_outside_8bit(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) bool: colour values that are not finite numbers in 0..255."""
    if np.issubdtype(rgb.dtype, np.floating):
        return ~np.isfinite(rgb) | (rgb < 0) | (rgb > 255)
    return (rgb < 0) | (rgb > 255)


def bad_colours_message(n_bad: int, first_row: int, first_values: list) -> str:
    return f"{n_bad} points with colours outside 0..255 (first at point {first_row}: {first_values})"


COLOUR_RULES = ("unit", "16bit", "8bit")  # how stored colours become 0..255: x 255, / 257, as they are


def colour_rule(is_float: bool, low: float, high: float, all_finite: bool = True) -> str:
    """The rule of colours_by_stored_range from the stored values' range alone (so a file read in chunks can decide it
    once for all its points): 'unit' for floats all within 0..1, '16bit' for integers above 255 up to 65535, else '8bit'."""
    if is_float:
        if all_finite and low >= 0 and high <= 1.0:
            return "unit"
    elif high > 255 and low >= 0 and high <= 65535:
        return "16bit"
    return "8bit"


def apply_colour_rule(path: Path, rgb: np.ndarray, rule: str) -> np.ndarray:
    """(N, 3) stored colours -> uint8 0..255 by `rule` (colour_rule); '8bit' raises on values outside 0..255."""
    if rule == "unit":
        return np.rint(rgb * 255.0).astype(np.uint8)
    if rule == "16bit":
        return np.rint(rgb.astype(np.float64) / 257.0).astype(np.uint8)
    return colours_to_uint8(path, rgb)


def colours_by_stored_range(path: Path, rgb: np.ndarray) -> np.ndarray:
    """(N, 3) colours of any scale -> uint8 0..255, the scale decided by the values actually stored.

    Floats all within 0..1 are unit colours (x 255); integers above 255 are 16-bit colours (/ 257,
    so 65535 -> 255); anything else must already lie in 0..255. Many writers put 8-bit values into
    16-bit fields (LAS), so the field's type alone does not decide.
    """
    if len(rgb) == 0:
        return np.zeros((0, 3), np.uint8)
    is_float = bool(np.issubdtype(rgb.dtype, np.floating))
    rule = colour_rule(is_float, rgb.min(), rgb.max(), bool(np.isfinite(rgb).all()) if is_float else True)
    return apply_colour_rule(path, rgb, rule)


AMBIGUOUS_UNIT_COLOURS = ("colours written as decimals that are all 0.0 or 1.0: 0..1 colours (white) or 0..255 values (next to "
                          "black)? write them as whole numbers 0..255 (1.0 -> 255 for white)")


def unit_colours(is_float: bool, finite: bool, low: float, high: float) -> bool:
    """Whether a text scene's colours are 0..1 (to be scaled by 255): decimals, all finite and within 0..1. Those that
    are all 0.0 or 1.0 with a 1.0 among them are ambiguous (AMBIGUOUS_UNIT_COLOURS)."""
    return is_float and finite and low >= 0 and high <= 1


def text_colours(path: Path, rgb: np.ndarray) -> np.ndarray:
    """(N, 3) colours of a text scene -> uint8, the scale decided by the values stored, as for PLY: whole numbers are
    0..255 as written; decimals all within 0..1 (a writer's unit colours) are scaled by 255. Decimals that are all
    0.0 or 1.0 could be either (white, or 0..255 values next to black): refused with the fix. (The streamed reader,
    pointseg.io.stream, decides the same from running minimum, maximum and flags.)"""
    if len(rgb) and unit_colours(np.issubdtype(rgb.dtype, np.floating), bool(np.isfinite(rgb).all()), rgb.min(), rgb.max()):
        if rgb.max() == 1 and np.isin(rgb, (0.0, 1.0)).all():
            raise PointCloudError(path, AMBIGUOUS_UNIT_COLOURS)
        return np.rint(rgb * 255.0).astype(np.uint8)
    return colours_to_uint8(path, rgb)


def labels_to_int(path: Path, values: np.ndarray) -> tuple[np.ndarray, int]:
    """Semantic labels -> int64; values outside 0..14 (other than -100) become -100.

    Returns the labels and how many were out of range; that count is logged once for the file.
    """
    problem = label_value_problem(values)
    if problem is not None:
        raise PointCloudError(path, problem[1])
    labels, out = labels_in_range(values)
    n_out = int(out.sum())
    if n_out:
        warn_out_of_range_labels(path, n_out, np.unique(values[out].astype(np.int64))[:10].tolist())
    return labels, n_out


def label_value_problem(values: np.ndarray, first_point: int = 1) -> tuple[int, str] | None:
    """(point, message) of the first NaN, infinite or non-integer label in (N,) values whose first is point
    `first_point` (1-based), or None."""
    if np.issubdtype(values.dtype, np.floating):
        if not np.isfinite(values).all():
            row = first_bad_row(~np.isfinite(values)) + first_point - 1
            return row, f"NaN or infinite semantic label at point {row}"
        if (values != np.round(values)).any():
            row = first_bad_row(values != np.round(values)) + first_point - 1
            return row, f"non-integer semantic label at point {row}"
    return None


def labels_in_range(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N,) int64 with values outside 0..14 (other than -100) set to -100, out (N,) bool: those values)."""
    labels = values.astype(np.int64)
    out = ((labels < 0) | (labels >= NUM_CLASSES)) & (labels != IGNORE_LABEL)
    labels[out] = IGNORE_LABEL
    return labels, out


def warn_out_of_range_labels(path: Path, n_out: int, found: list[int]) -> None:
    """The one warning per file for labels outside the classes; found: the smallest such values (up to 10)."""
    log.warning("%s: %d points with labels outside 0..%d (%s) set to %d (ignored)", path, n_out, NUM_CLASSES - 1, found, IGNORE_LABEL)
