"""Non-learned baselines that tell how much colour alone, or simple geometry alone, gives the class away.

Both are lookup tables: a point's features are binned, each bin takes the majority class of the
training scene's points that fall in it (unseen bins: the overall majority class). They measure the
synthetic scenes, not a model: on scenes where colour gives the class away the colour table is strong;
on realistic scenes it should be well below the geometric one.
"""

import numpy as np
import pandas as pd

from pointseg.constants import NUM_CLASSES


def colour_bins(rgb: np.ndarray, levels: int = 16) -> np.ndarray:
    """rgb (N, 3) uint8 -> (N,) int64 bin of a levels^3 colour cube."""
    q = rgb.astype(np.int64) * levels // 256
    return (q[:, 0] * levels + q[:, 1]) * levels + q[:, 2]


def _cell_stat(xy: np.ndarray, values: np.ndarray, cell: float, how: str) -> np.ndarray:
    """Per point: the min / max / std of `values` over its square xy cell of side `cell` (N,)."""
    keys = np.floor(xy / cell).astype(np.int64)
    key = keys[:, 0] * 1_000_003 + keys[:, 1]
    return pd.Series(values).groupby(key).transform(how).to_numpy()


def geometry_bins(xyz: np.ndarray) -> np.ndarray:
    """xyz (N, 3) -> (N,) int64 bin of (height above a coarse terrain, height above the lowest point within
    about 3 m, z range in the point's 1 m cell).

    Terrain: the lowest point of each 20 m cell, then the lowest of its 3 x 3 neighbourhood (60 m: wider
    than the buildings). Heights and ranges are binned on fixed edges in metres.
    """
    xy, z = xyz[:, :2] - xyz[:, :2].min(axis=0), xyz[:, 2]
    ground = np.full(len(z), np.inf)
    for dx in (-20.0, 0.0, 20.0):
        for dy in (-20.0, 0.0, 20.0):
            ground = np.minimum(ground, _cell_stat(xy + [dx, dy], z, 20.0, "min"))
    local = np.full(len(z), np.inf)
    for dx in (-1.5, 1.5):
        for dy in (-1.5, 1.5):
            local = np.minimum(local, _cell_stat(xy + [dx, dy], z, 3.0, "min"))
    z_range = _cell_stat(xy, z, 1.0, "max") - _cell_stat(xy, z, 1.0, "min")
    h_bin = np.digitize(z - ground, [0.5, 1.5, 3, 5, 8, 12, 18, 25, 35])
    l_bin = np.digitize(z - local, [0.2, 0.5, 1.0, 2.0, 3.5, 6])
    r_bin = np.digitize(z_range, [0.2, 0.5, 1.0, 2.0, 4.0])
    return (h_bin * 10 + l_bin) * 10 + r_bin


def fit_lookup(bins: np.ndarray, labels: np.ndarray) -> tuple[dict[int, int], int]:
    """Majority class per bin over labelled points (labels < 0 ignored): ({bin: class}, overall majority)."""
    keep = labels >= 0
    bins, labels = bins[keep], labels[keep]
    counts = pd.crosstab(bins, labels)
    table = dict(zip(counts.index.to_numpy().tolist(), counts.columns.to_numpy()[counts.to_numpy().argmax(axis=1)].tolist()))
    return table, int(np.bincount(labels, minlength=NUM_CLASSES).argmax())


def predict_lookup(bins: np.ndarray, table: dict[int, int], fallback: int) -> np.ndarray:
    """(N,) class per point from a fitted lookup table."""
    return pd.Series(bins).map(table).fillna(fallback).to_numpy().astype(np.int64)
