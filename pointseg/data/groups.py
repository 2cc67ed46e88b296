"""Parts of a scene far apart: groups of points with gaps wider than any patch can span, found without a dense grid.

A real file often holds a few points far from the rest (a 0,0,0 point in a georeferenced LAS file, a bird, a
multipath echo kilometres away). Tiled as one cloud they would make a grid over all the empty space between
(`Unable to allocate 23.8 GiB`) and float32 coordinates from a far origin. Grouped, each part is tiled on its own:

- points are binned into squares of `cell` metres (only occupied squares are kept: hashed, never a dense grid);
  squares that touch (8 neighbours) form a group; points more than `cell` apart in x or y are never in one group;
- with cell >= sqrt(2) x the patch size, no patch (in any rotation) holds points of two groups, so labelling the
  groups one by one gives every point the labels of the whole scene labelled at once (pointseg.predict.stitch);
- `set_aside` picks the smallest groups that together hold at most a small share of the points: outliers that
  prepare leaves out of the training data (they would make the scene's float32 coordinates coarse).
"""

import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)
CELL_PATCHES = 2.0  # group squares of 2 patch sides: more than sqrt(2), so no rotated patch spans two groups
OUTLIER_SHARE = 0.01  # prepare sets aside the smallest far groups holding at most this share of a scene's points


def group_cell(patch_size: float) -> float:
    """The side of the squares that groups are made of, in metres."""
    return CELL_PATCHES * patch_size


def say_far_points(path: str | Path, n: int, patch_size: float, first: int, xyz: np.ndarray, what: str, level: int = logging.WARNING) -> None:
    """The one line that names a scene's far points: how many, how far, the first (0-based index, xyz (3,) in the
    file's units) and what is done with them (`what`: "set aside: not used for training", "are labelled on their own")."""
    rest = "the rest" if what.startswith("set aside") else "the bulk"
    log.log(level, "%s: %d point(s) more than %g m from %s of the scene (e.g. point %d at %.2f, %.2f, %.2f) %s", path, n, group_cell(patch_size),
            rest, first + 1, *xyz, what)


def _components(keys: np.ndarray, ny: int) -> np.ndarray:
    """Connected components of occupied squares (8 neighbours). keys (M,) int64 sorted, = i * ny + j; returns (M,) labels."""
    i, j = np.divmod(keys, ny)
    label = np.arange(len(keys))
    edges_a, edges_b = [], []
    for di, dj in ((1, 0), (0, 1), (1, 1), (1, -1)):  # each neighbour pair once
        ok = (j + dj >= 0) & (j + dj < ny)
        target = (i + di) * ny + (j + dj)
        pos = np.minimum(np.searchsorted(keys, target), len(keys) - 1)
        hit = ok & (keys[pos] == target)
        edges_a.append(np.flatnonzero(hit))
        edges_b.append(pos[hit])
    a, b = np.concatenate(edges_a), np.concatenate(edges_b)
    while True:  # min-label propagation with pointer jumping: a few rounds for any shape
        low = np.minimum(label[a], label[b])
        new = label.copy()
        np.minimum.at(new, a, low)
        np.minimum.at(new, b, low)
        new = new[new]
        if np.array_equal(new, label):
            return label
        label = new


def spatial_groups(xy: np.ndarray, cell: float) -> tuple[np.ndarray, int]:
    """xy (N, 2) float64 -> (group (N,) int64, number of groups). Group 0 holds the most points, then by size
    (ties by first point). Memory: O(N) plus the occupied squares, whatever the extent."""
    n = len(xy)
    if n == 0:
        return np.zeros(0, np.int64), 0
    cells = np.empty((n, 2), np.int64)
    for a in range(2):  # column by column: 1-D ufuncs are faster on (N, 2) arrays
        cells[:, a] = np.floor((xy[:, a] - xy[:, a].min()) / cell)
    ny = int(cells[:, 1].max()) + 2  # one spare column: (j + 1) never wraps into the next row
    square, keys = pd.factorize(cells[:, 0] * ny + cells[:, 1], sort=True)
    if len(keys) == 1:
        return np.zeros(n, np.int64), 1
    component = _components(np.asarray(keys, np.int64), ny)[square]
    ids, first, counts = np.unique(component, return_index=True, return_counts=True)
    rank = np.empty(len(ids), np.int64)
    rank[np.lexsort((first, -counts))] = np.arange(len(ids))
    return rank[np.searchsorted(ids, component)], len(ids)


def set_aside(group: np.ndarray, n_groups: int, share: float = OUTLIER_SHARE, weights: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: the points of the smallest groups (never the largest) that together hold at most `share` of the points.
    weights (N,): how many points each item stands for (blocks of points), else one each."""
    if n_groups <= 1:
        return np.zeros(len(group), bool)
    counts = np.bincount(group, weights, minlength=n_groups)
    order = np.lexsort((-np.arange(n_groups), counts))[:-1]  # smallest first, ties: the later group first; the largest never
    taken = order[np.cumsum(counts[order]) <= share * counts.sum()]
    return np.isin(group, taken)
