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
        raise PointCloudError(
            path, f"{int(bad.any(axis=1).sum())} points with NaN or infinite coordinates (first at point {first_bad_row(bad)})"
        )


def colours_to_uint8(path: Path, rgb: np.ndarray) -> np.ndarray:
    """(N, 3) colours in 0..255 (any numeric dtype) -> uint8; raise on values outside the range."""
    if np.issubdtype(rgb.dtype, np.floating):
        bad = ~np.isfinite(rgb) | (rgb < 0) | (rgb > 255)
    else:
        bad = (rgb < 0) | (rgb > 255)
    if bad.any():
        row = first_bad_row(bad)
        raise PointCloudError(
            path,
            f"{int(bad.any(axis=1).sum())} points with colours outside 0..255 "
            f"(first at point {row}: {rgb[row - 1].tolist()})",
        )
    if np.issubdtype(rgb.dtype, np.floating):
        return np.rint(rgb).astype(np.uint8)
    return rgb.astype(np.uint8)


def colours_by_stored_range(path: Path, rgb: np.ndarray) -> np.ndarray:
    """(N, 3) colours of any scale -> uint8 0..255, the scale decided by the values actually stored.

    Floats all within 0..1 are unit colours (x 255); integers above 255 are 16-bit colours (/ 257,
    so 65535 -> 255); anything else must already lie in 0..255. Many writers put 8-bit values into
    16-bit fields (LAS), so the field's type alone does not decide.
    """
    if len(rgb) == 0:
        return np.zeros((0, 3), np.uint8)
    top = rgb.max()
    if np.issubdtype(rgb.dtype, np.floating):
        if np.isfinite(rgb).all() and rgb.min() >= 0 and top <= 1.0:
            return np.rint(rgb * 255.0).astype(np.uint8)
    elif top > 255 and rgb.min() >= 0 and top <= 65535:
        return np.rint(rgb.astype(np.float64) / 257.0).astype(np.uint8)
    return colours_to_uint8(path, rgb)


def text_colours(path: Path, rgb: np.ndarray) -> np.ndarray:
    """(N, 3) colours of a text scene -> uint8, the scale decided by the values stored, as for PLY: whole numbers are
    0..255 as written; decimals all within 0..1 (a writer's unit colours) are scaled by 255. Decimals that are all
    0.0 or 1.0 could be either (white, or 0..255 values next to black): refused with the fix."""
    if np.issubdtype(rgb.dtype, np.floating) and len(rgb) and np.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1:
        if rgb.max() == 1 and np.isin(rgb, (0.0, 1.0)).all():
            raise PointCloudError(path, "colours written as decimals that are all 0.0 or 1.0: 0..1 colours (white) or 0..255 "
                                        "values (next to black)? write them as whole numbers 0..255 (1.0 -> 255 for white)")
        return np.rint(rgb * 255.0).astype(np.uint8)
    return colours_to_uint8(path, rgb)


def labels_to_int(path: Path, values: np.ndarray) -> tuple[np.ndarray, int]:
    """Semantic labels -> int64; values outside 0..14 (other than -100) become -100.

    Returns the labels and how many were out of range; that count is logged once for the file.
    """
    if np.issubdtype(values.dtype, np.floating):
        if not np.isfinite(values).all():
            raise PointCloudError(path, f"NaN or infinite semantic label at point {first_bad_row(~np.isfinite(values))}")
        if (values != np.round(values)).any():
            raise PointCloudError(path, f"non-integer semantic label at point {first_bad_row(values != np.round(values))}")
    labels = values.astype(np.int64)
    out = ((labels < 0) | (labels >= NUM_CLASSES)) & (labels != IGNORE_LABEL)
    n_out = int(out.sum())
    if n_out:
        found = np.unique(labels[out])[:10].tolist()
        log.warning("%s: %d points with labels outside 0..%d (%s) set to %d (ignored)", path, n_out, NUM_CLASSES - 1, found, IGNORE_LABEL)
        labels[out] = IGNORE_LABEL
    return labels, n_out
