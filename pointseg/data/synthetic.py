"""Synthetic STPLS3D-like scenes: terrain with relief and all 15 classes as sampled surfaces, seeded.

Photogrammetric clouds see mostly upward-facing surfaces; walls and poles get fewer points. Objects
are vectorized over their instances (no loop over points).
"""

from dataclasses import dataclass

import numpy as np

from pointseg.constants import IGNORE_LABEL

# Objects per km^2 (a 500 m scene is 0.25 km^2), footprint/size ranges in metres.
_PER_KM2 = {
    "building": 320, "tree": 2400, "shrub": 3200, "grass": 600, "vehicle": 1200, "truck": 160, "aircraft": 8,
    "military": 40, "bike": 200, "motorcycle": 200, "pole": 600, "sign": 400, "clutter": 800, "fence": 160,
}
# Base colours (rgb 0..255) and per-object spread.
_COLOURS = {
    0: ([120, 110, 100], 25), 1: ([170, 150, 140], 45), 2: ([110, 150, 70], 20), 3: ([70, 120, 50], 20),
    4: ([40, 90, 40], 18), 5: ([120, 120, 140], 70), 6: ([150, 140, 120], 50), 7: ([215, 215, 220], 15),
    8: ([95, 100, 60], 12), 9: ([60, 60, 70], 40), 10: ([50, 50, 60], 40), 11: ([130, 130, 130], 15),
    12: ([200, 200, 210], 30), 13: ([140, 110, 80], 40), 14: ([160, 140, 110], 25),
}


@dataclass
class SyntheticScene:
    """xyz (N, 3) float64 georeferenced; rgb (N, 3) uint8; labels (N,) int64; instance (N,) int64 (-100 on ground)."""

    xyz: np.ndarray
    rgb: np.ndarray
    labels: np.ndarray
    instance: np.ndarray


class _Terrain:
    """Smooth relief: a few random sinusoids plus a slope, amplitude a few metres."""

    def __init__(self, rng: np.random.Generator, size: float):
        self.k = rng.uniform(0.5, 3.0, (6, 2)) * 2 * np.pi / max(size, 1.0) * rng.choice([-1, 1], (6, 2))
        self.phase = rng.uniform(0, 2 * np.pi, 6)
        self.amp = rng.uniform(0.5, 3.0, 6)
        self.slope = rng.uniform(-0.01, 0.01, 2)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        h = self.slope[0] * x + self.slope[1] * y
        for k, p, a in zip(self.k, self.phase, self.amp):
            h = h + a * np.sin(k[0] * x + k[1] * y + p)
        return h


def _counts(rng: np.random.Generator, area: np.ndarray, density: float, minimum: int) -> np.ndarray:
    return np.maximum(rng.poisson(area * density), minimum)


def _rotate(dx: np.ndarray, dy: np.ndarray, yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(yaw), np.sin(yaw)
    return c * dx - s * dy, s * dx + c * dy


def _boxes(rng, centre, dims, yaw, density, wall_density, minimum=8):
    """Points on the top and the four walls of K yawed boxes; returns (xyz (n, 3), object index (n,))."""
    k = len(centre)
    top_n = _counts(rng, dims[:, 0] * dims[:, 1], density, minimum)
    wall_n = _counts(rng, 2 * (dims[:, 0] + dims[:, 1]) * dims[:, 2], wall_density, 0)
    obj = np.concatenate([np.repeat(np.arange(k), top_n), np.repeat(np.arange(k), wall_n)])
    n_top = int(top_n.sum())
    d = dims[obj]
    u = rng.uniform(-0.5, 0.5, (len(obj), 2)) * d[:, :2]
    z = np.empty(len(obj))
    z[:n_top] = d[:n_top, 2]
    # walls: put each point on the nearest edge in x or y, at a random height
    w = slice(n_top, None)
    n_wall = len(obj) - n_top
    on_x = rng.random(n_wall) < d[w, 0] / (d[w, 0] + d[w, 1])  # a wall along x (at +-y/2), else along y
    side = rng.choice([-0.5, 0.5], n_wall)
    uw = u[w]
    uw[on_x, 1] = side[on_x] * d[w][on_x, 1]
    uw[~on_x, 0] = side[~on_x] * d[w][~on_x, 0]
    u[w] = uw
    z[w] = rng.uniform(0, 1, len(obj) - n_top) * d[w, 2]
    x, y = _rotate(u[:, 0], u[:, 1], yaw[obj])
    return np.stack([centre[obj, 0] + x, centre[obj, 1] + y, centre[obj, 2] + z], axis=1), obj


def _caps(rng, centre, radius, height, density, minimum=10):
    """Points on upper half-ellipsoids (tree crowns, shrubs): centre (K, 3) at the base of the cap."""
    n = _counts(rng, np.pi * radius**2, density * 1.2, minimum)
    obj = np.repeat(np.arange(len(centre)), n)
    r = radius[obj] * np.sqrt(rng.random(len(obj)))
    a = rng.uniform(0, 2 * np.pi, len(obj))
    frac = np.clip(1 - (r / radius[obj]) ** 2, 0, 1)
    z = height[obj] * np.sqrt(frac) * rng.uniform(0.85, 1.0, len(obj))
    return np.stack([centre[obj, 0] + r * np.cos(a), centre[obj, 1] + r * np.sin(a), centre[obj, 2] + z], axis=1), obj


def _poles(rng, base, radius, height, density, minimum=15):
    """Points on vertical cylinders (light poles, sign posts, trunks)."""
    n = _counts(rng, 2 * np.pi * radius * height, density, minimum)
    obj = np.repeat(np.arange(len(base)), n)
    a = rng.uniform(0, 2 * np.pi, len(obj))
    z = rng.uniform(0, 1, len(obj)) * height[obj]
    return np.stack([base[obj, 0] + radius[obj] * np.cos(a), base[obj, 1] + radius[obj] * np.sin(a), base[obj, 2] + z], axis=1), obj


def make_scene(seed: int, size: float = 500.0, density: float = 9.0, origin: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> SyntheticScene:
    """A seeded STPLS3D-like scene of `size` x `size` metres at about `density` points per m^2 (top view)."""
    rng = np.random.default_rng(seed)
    terrain = _Terrain(rng, size)
    area_km2 = size * size / 1e6
    parts: list[tuple[np.ndarray, int, np.ndarray]] = []  # (xyz, class, object index)

    def n_of(kind: str) -> int:
        return max(1, int(rng.poisson(_PER_KM2[kind] * area_km2)))

    def place(k: int, margin: float = 2.0) -> np.ndarray:
        margin = min(margin, size / 4)
        xy = rng.uniform(margin, size - margin, (k, 2))
        return np.c_[xy, terrain(xy[:, 0], xy[:, 1])]

    # Buildings on a jittered block lattice; footprints are rasterized to keep ground and objects out.
    nb = n_of("building")
    dims = np.c_[rng.uniform(8, 30, nb), rng.uniform(8, 30, nb), rng.gamma(2.0, 6.0, nb) + 4]
    centre = place(nb, 20)
    yaw = rng.choice([0, np.pi / 2], nb) + rng.normal(0, 0.05, nb)
    raster_res = 1.0
    shape = int(np.ceil(size / raster_res)) + 1
    occupied = np.zeros((shape, shape), bool)
    radius = 0.5 * np.hypot(dims[:, 0], dims[:, 1])
    cells = (centre[:, :2] / raster_res).astype(int)
    keep = np.ones(nb, bool)
    for i in range(nb):  # a loop over buildings (tens), not points
        lo, hi = np.maximum(cells[i] - int(radius[i]) - 1, 0), np.minimum(cells[i] + int(radius[i]) + 2, shape)
        if occupied[lo[0] : hi[0], lo[1] : hi[1]].any():
            keep[i] = False
            continue
        occupied[lo[0] : hi[0], lo[1] : hi[1]] = True
    keep[np.argmax(keep)] = True  # at least one building
    centre, dims, yaw = centre[keep], dims[keep], yaw[keep]
    centre[:, 2] -= 0.5  # sink into sloped terrain
    pts, obj = _boxes(rng, centre, dims, yaw, density, density * 0.3)
    parts.append((pts, 1, obj))

    def free(xy: np.ndarray) -> np.ndarray:
        c = np.clip((xy / raster_res).astype(int), 0, shape - 1)
        return ~occupied[c[:, 0], c[:, 1]]

    def place_free(kind: str, margin: float = 2.0) -> np.ndarray:
        k = n_of(kind)
        pos = place(4 * k + 4, margin)
        ok = pos[free(pos[:, :2])]
        return ok[: max(1, k)] if len(ok) else pos[:1]

    # Vegetation
    c = place_free("tree")
    crown_r, trunk_h = rng.uniform(2, 5, len(c)), rng.uniform(3, 9, len(c))
    pts, obj = _caps(rng, c + np.c_[np.zeros((len(c), 2)), trunk_h], crown_r, crown_r * rng.uniform(0.8, 1.4, len(c)), density)
    tp, to = _poles(rng, c, np.full(len(c), 0.25), trunk_h, density * 0.3, 3)
    parts.append((np.r_[pts, tp], 4, np.r_[obj, to]))
    c = place_free("shrub")
    r = rng.uniform(0.5, 1.8, len(c))
    pts, obj = _caps(rng, c, r, rng.uniform(0.5, 2.0, len(c)), density)
    parts.append((pts, 3, obj))

    # Ground (with grass patches relabelled as low vegetation)
    n_ground = rng.poisson(0.75 * density * size * size)  # objects add the rest
    gxy = rng.uniform(0, size, (n_ground, 2))
    gxy = gxy[free(gxy)]
    gz = terrain(gxy[:, 0], gxy[:, 1]) + rng.normal(0, 0.03, len(gxy))
    grass_c = place_free("grass")[:, :2]
    grass_r = rng.uniform(3, 12, len(grass_c))
    # nearest grass patch per ground point through a coarse raster of patch ids
    grass_id = np.full((shape, shape), -1, np.int64)
    for i in range(len(grass_c)):  # loop over patches (tens)
        lo = np.maximum(((grass_c[i] - grass_r[i]) / raster_res).astype(int), 0)
        hi = np.minimum(((grass_c[i] + grass_r[i]) / raster_res).astype(int) + 1, shape)
        ii, jj = np.meshgrid(np.arange(lo[0], hi[0]), np.arange(lo[1], hi[1]), indexing="ij")
        inside = (ii * raster_res - grass_c[i, 0]) ** 2 + (jj * raster_res - grass_c[i, 1]) ** 2 <= grass_r[i] ** 2
        grass_id[ii[inside], jj[inside]] = i
    gcell = np.clip((gxy / raster_res).astype(int), 0, shape - 1)
    gid = grass_id[gcell[:, 0], gcell[:, 1]]
    is_grass = gid >= 0
    gz[is_grass] += rng.uniform(0.05, 0.35, int(is_grass.sum()))
    ground = np.c_[gxy, gz]
    parts.append((ground[~is_grass], 0, np.zeros(int((~is_grass).sum()), np.int64)))
    parts.append((ground[is_grass], 2, gid[is_grass]))

    # Vehicles and other objects: boxes
    for kind, cls, lo, hi in [
        ("vehicle", 5, (3.8, 1.6, 1.3), (5.0, 2.0, 1.8)),
        ("truck", 6, (7.0, 2.4, 3.0), (12.0, 2.6, 4.0)),
        ("military", 8, (5.5, 2.8, 2.0), (7.5, 3.4, 2.8)),
        ("bike", 9, (1.6, 0.4, 0.9), (1.9, 0.6, 1.1)),
        ("motorcycle", 10, (1.9, 0.7, 1.1), (2.3, 0.9, 1.4)),
        ("clutter", 13, (0.4, 0.4, 0.4), (2.0, 2.0, 1.6)),
    ]:
        c = place_free(kind)
        d = rng.uniform(lo, hi, (len(c), 3))
        pts, obj = _boxes(rng, c, d, rng.uniform(0, np.pi, len(c)), density * 2, density, minimum=10)
        if cls == 8:  # a turret on top
            tp, to = _boxes(rng, c + np.c_[np.zeros((len(c), 2)), d[:, 2]], d * [0.4, 0.5, 0.3], rng.uniform(0, np.pi, len(c)), density * 2, density)
            pts, obj = np.r_[pts, tp], np.r_[obj, to]
        parts.append((pts, cls, obj))

    # Aircraft: fuselage (long narrow box) and wings (wide flat box)
    c = place_free("aircraft", 25)
    length = rng.uniform(15, 35, len(c))
    yaw = rng.uniform(0, np.pi, len(c))
    fp, fo = _boxes(rng, c + [0, 0, 0.5], np.c_[length, length * 0.12, length * 0.12], yaw, density * 2, density)
    wp, wo = _boxes(rng, c + np.c_[np.zeros((len(c), 2)), length * 0.06], np.c_[length * 0.18, length * 0.9, np.full(len(c), 0.3)], yaw, density * 2, density * 0.5)
    parts.append((np.r_[fp, wp], 7, np.r_[fo, wo]))

    # Light poles (pole + lamp arm) and street signs (post + plate)
    c = place_free("pole")
    h = rng.uniform(6, 10, len(c))
    pp, po = _poles(rng, c, np.full(len(c), 0.15), h, density * 2, 20)
    ap, ao = _boxes(rng, c + np.c_[np.zeros((len(c), 2)), h], np.c_[np.full(len(c), 1.5), np.full(len(c), 0.3), np.full(len(c), 0.2)], rng.uniform(0, np.pi, len(c)), density * 3, density, 6)
    parts.append((np.r_[pp, ap], 11, np.r_[po, ao]))
    c = place_free("sign")
    sp, so = _poles(rng, c, np.full(len(c), 0.05), np.full(len(c), 2.2), density * 2, 10)
    bp, bo = _boxes(rng, c + [0, 0, 2.0], np.c_[np.full(len(c), 0.8), np.full(len(c), 0.08), np.full(len(c), 0.6)], rng.uniform(0, np.pi, len(c)), density * 3, density * 4, 10)
    parts.append((np.r_[sp, bp], 12, np.r_[so, bo]))

    # Fences: long thin walls
    c = place_free("fence", 25)
    length = rng.uniform(10, 40, len(c))
    pts, obj = _boxes(rng, c, np.c_[length, np.full(len(c), 0.1), rng.uniform(1.2, 2.0, len(c))], rng.uniform(0, np.pi, len(c)), density * 2, density * 1.5)
    parts.append((pts, 14, obj))

    return _assemble(rng, parts, size, origin)


def _assemble(rng: np.random.Generator, parts, size: float, origin) -> SyntheticScene:
    xyz = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([np.full(len(p[0]), p[1], np.int64) for p in parts])
    instance = np.full(len(xyz), IGNORE_LABEL, np.int64)
    rgb = np.empty((len(xyz), 3))
    start, next_id = 0, 1
    for pts, cls, obj in parts:
        sl = slice(start, start + len(pts))
        n_obj = int(obj.max()) + 1 if len(obj) else 0
        base, spread = _COLOURS[cls]
        tint = np.asarray(base) + rng.normal(0, spread, (max(n_obj, 1), 3))
        rgb[sl] = tint[obj] + rng.normal(0, 10, (len(pts), 3))
        if cls != 0:
            instance[sl] = obj + next_id
            next_id += n_obj
        start += len(pts)
    inside = (xyz[:, 0] >= 0) & (xyz[:, 0] <= size) & (xyz[:, 1] >= 0) & (xyz[:, 1] <= size)
    order = rng.permutation(int(inside.sum()))  # files list points in no spatial order
    xyz = xyz[inside][order] + np.asarray(origin, np.float64)
    rgb = np.clip(np.rint(rgb[inside][order]), 0, 255).astype(np.uint8)
    return SyntheticScene(xyz, rgb, labels[inside][order], instance[inside][order])
