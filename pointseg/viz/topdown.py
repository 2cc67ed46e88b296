"""Orthographic rasterization of a point cloud: the point nearest the viewer wins each pixel.

Top-down (the highest point per pixel) and oblique views share one z-buffer: points are projected to
screen coordinates (u to the right, v up) and a depth that grows towards the viewer; each pixel keeps
the index of its deepest-ranked point. Vectorized: one lexsort over the points, no loop over them.
"""

import math
from dataclasses import dataclass

import numpy as np

EMPTY = -1  # pixel index of a pixel no point falls in


@dataclass(frozen=True)
class View:
    """An orthographic camera: `elevation` 90 degrees looks straight down (north up); lower values tilt
    it, looking from `azimuth` (degrees counter-clockwise from east; -90 is from the south)."""

    name: str
    azimuth: float = -90.0
    elevation: float = 90.0


TOP = View("top")
OBLIQUE = View("oblique", azimuth=-60.0, elevation=35.0)


@dataclass
class Raster:
    """index (H, W) int64: the point shown at each pixel, EMPTY where none; row 0 is the top of the image.

    resolution: metres per pixel; extent: (width, height) in metres of the area the image covers; corner: for a
    top-down view, the (x, y) coordinates of the image's lower-left corner (None for other views), in the file's
    units; unit: metres per horizontal coordinate unit of the file (0.3048 for feet)."""

    index: np.ndarray
    resolution: float
    extent: tuple[float, float]
    corner: tuple[float, float] | None = None
    unit: float = 1.0

    @property
    def shape(self) -> tuple[int, int]:
        return self.index.shape


def project(xyz: np.ndarray, view: View) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Screen coordinates of xyz (N, 3): (u (N,), v (N,), depth (N,)), float64, in metres.

    For the top view u = x, v = y and depth = z (higher points are nearer the viewer)."""
    xyz = np.asarray(xyz, np.float64)
    local = xyz - xyz.min(axis=0)  # georeferenced coordinates lose nothing, products stay small
    if view.elevation >= 90.0:
        return local[:, 0], local[:, 1], local[:, 2]
    az, el = math.radians(view.azimuth), math.radians(view.elevation)
    towards_viewer = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    right = np.array([-math.sin(az), math.cos(az), 0.0])
    up = np.cross(towards_viewer, right)
    return local @ right, local @ up, local @ towards_viewer


def rasterize(u: np.ndarray, v: np.ndarray, depth: np.ndarray, resolution: float, max_pixels: int, fill: int = 1) -> Raster:
    """Pixels of `resolution` metres over the points' extent; each keeps its point of largest depth.

    If the longer side would exceed `max_pixels`, the resolution is coarsened to fit. `fill` passes of a
    3x3 neighbourhood fill empty pixels with the nearest-to-viewer point of their occupied neighbours
    (sparse clouds leave holes at fine resolutions); occupied pixels never change.
    """
    if len(u) == 0:
        raise ValueError("rasterize: no points")
    if resolution <= 0 or max_pixels < 1:
        raise ValueError(f"rasterize: resolution {resolution} and max_pixels {max_pixels} must be positive")
    u0, v0 = float(u.min()), float(v.min())
    span_u, span_v = float(u.max()) - u0, float(v.max()) - v0
    resolution = max(resolution, max(span_u, span_v) / max_pixels * (1 + 1e-9))
    width = min(max_pixels, int(span_u / resolution) + 1)
    height = min(max_pixels, int(span_v / resolution) + 1)
    col = np.minimum(((u - u0) / resolution).astype(np.int64), width - 1)
    row = (height - 1) - np.minimum(((v - v0) / resolution).astype(np.int64), height - 1)
    pixel = row * width + col
    order = np.lexsort((depth, pixel))  # by pixel, then by depth: the last of each pixel run wins
    sorted_pixel = pixel[order]
    last = np.ones(len(order), bool)
    last[:-1] = sorted_pixel[1:] != sorted_pixel[:-1]
    index = np.full(height * width, EMPTY, np.int64)
    index[sorted_pixel[last]] = order[last]
    index = index.reshape(height, width)
    for _ in range(fill):
        index = fill_holes(index, depth)
    return Raster(index, resolution, (width * resolution, height * resolution))


def fill_holes(index: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """One pass: each EMPTY pixel takes the point of largest depth among its 8 neighbours (if any)."""
    h, w = index.shape
    shown = index >= 0
    pixel_depth = np.where(shown, depth[np.where(shown, index, 0)], -np.inf)  # one gather, then image shifts only
    padded_index = np.pad(index, 1, constant_values=EMPTY)
    padded_depth = np.pad(pixel_depth, 1, constant_values=-np.inf)
    best, best_depth = index.copy(), pixel_depth.copy()
    best_depth[~shown] = -np.inf
    for dr in (-1, 0, 1):  # a loop over the 8 neighbour offsets, each over the whole image
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            cand_depth = padded_depth[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
            better = (cand_depth > best_depth) & ~shown
            best = np.where(better, padded_index[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w], best)
            best_depth = np.where(better, cand_depth, best_depth)
    return best


def render(xyz: np.ndarray, view: View, resolution: float, max_pixels: int, fill: int = 1,
           scale: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Raster:
    """Project and rasterize a cloud (N, 3) for `view` (a top view also records its corner's coordinates), at
    `resolution` metres per pixel; scale: metres per coordinate unit of x, y and z (a file in feet is drawn in metres)."""
    metric = xyz if tuple(scale) == (1.0, 1.0, 1.0) else np.asarray(xyz, np.float64) * np.asarray(scale)
    u, v, depth = project(metric, view)
    raster = rasterize(u, v, depth, resolution, max_pixels, fill)
    raster.unit = float(scale[0])
    if view.elevation >= 90.0:  # u = x - min x, v = y - min y; the image starts at the smallest u and v
        raster.corner = (float(xyz[:, 0].min()), float(xyz[:, 1].min()))
    return raster


def paint(raster: Raster, colours: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """(H, W, 3) uint8 image: each pixel the colour (N, 3) uint8 of its point, `background` where EMPTY."""
    table = np.concatenate([np.asarray(colours, np.uint8), np.array([background], np.uint8)])  # row N: background
    return table[np.where(raster.index >= 0, raster.index, len(colours))]


def enlarge(image: np.ndarray, min_pixels: int, max_pixels: int | None = None) -> tuple[np.ndarray, int]:
    """Repeat each pixel k x k times (k whole) so the longer side reaches `min_pixels`, without passing `max_pixels`;
    returns (image, k)."""
    side = max(image.shape[:2])
    k = max(1, math.ceil(min_pixels / side)) if min_pixels > 0 else 1
    if max_pixels is not None:
        k = max(1, min(k, max_pixels // side))
    if k == 1:
        return image, 1
    return np.repeat(np.repeat(image, k, axis=0), k, axis=1), k
