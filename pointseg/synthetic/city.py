"""Synthetic STPLS3D-format city scenes, as hard to label as real photogrammetry, seeded.

The default scene (`colour="material"`): terrain with slopes up to about 15 degrees and a rotated road
grid. Blocks between the roads are built up (rectangular, L-shaped and courtyard buildings, flat or
pitched roofs, 3-60 m tall), parks, car parks, or an apron with aircraft. Cars and trucks park along
the kerbs and in car parks; street trees overhang roads, cars and roofs; light poles, signs, bikes and
clutter stand on the sidewalks; hedges and fences line the blocks. Colour comes from materials that
several classes share (layout.MATERIALS): roads and grey roofs are both grey, grass ground
and the three vegetation heights share their greens. Points: about `density` per m^2 seen from above,
fewer on walls, photogrammetric noise of 5-15 cm, and density holes under tree crowns and no ground
under buildings and vehicles. `colour="class"` recolours the same geometry from one base colour per
class (the easy scenes of pointseg 0.1, kept for tests of mechanics).

Objects are vectorized over their instances; loops run over objects or materials, never over points.
"""

from dataclasses import dataclass, field

import numpy as np

from pointseg.constants import IGNORE_LABEL
from pointseg.synthetic.layout import (
    APRON, BLOCK, BUILT, PARK, PARKING, ROAD, SIDEWALK, RoadGrid, Terrain, block_uses, make_roads, material_colours, object_tints,
)

# Objects per km^2 (a 500 m scene is 0.25 km^2); every scene gets at least one of each.
_PER_KM2 = {
    "building": 700, "tree": 2400, "bush": 2600, "hedge": 700, "bed": 1200, "vehicle": 1400, "truck": 160, "aircraft": 8,
    "military": 40, "bike": 240, "motorcycle": 200, "pole": 600, "sign": 500, "clutter": 900, "fence": 220,
}
# One base colour per class and its per-object spread, for colour="class".
_CLASS_COLOURS = {
    0: ([120, 110, 100], 25), 1: ([170, 150, 140], 45), 2: ([110, 150, 70], 20), 3: ([70, 120, 50], 20),
    4: ([40, 90, 40], 18), 5: ([120, 120, 140], 70), 6: ([150, 140, 120], 50), 7: ([215, 215, 220], 15),
    8: ([95, 100, 60], 12), 9: ([60, 60, 70], 40), 10: ([50, 50, 60], 40), 11: ([130, 130, 130], 15),
    12: ([200, 200, 210], 30), 13: ([140, 110, 80], 40), 14: ([160, 140, 110], 25),
}
_RES = 0.5  # metres per cell of the occupancy rasters
COLOUR_MODES = ("material", "class")
# While scene_geometry() runs: the object helpers' calls, (helper, parameters, object index (n,)); else None.
_recorded: list | None = None


def _record(helper: str, obj: np.ndarray, **params) -> None:
    if _recorded is not None:
        _recorded.append((helper, {k: np.array(v) for k, v in params.items()}, obj))


@dataclass
class SyntheticScene:
    """xyz (N, 3) float64 georeferenced; rgb (N, 3) uint8; labels (N,) int64; instance (N,) int64 (-100 on ground)."""

    xyz: np.ndarray
    rgb: np.ndarray
    labels: np.ndarray
    instance: np.ndarray


@dataclass
class _Part:
    """Points of one class: xyz (n, 3), object index (n,) from 0, colour (n, 3) float rgb."""

    xyz: np.ndarray
    cls: int
    obj: np.ndarray
    colour: np.ndarray


@dataclass
class _Raster:
    """A boolean or float grid over the scene at _RES metres per cell."""

    size: float
    fill: float = 0.0
    grid: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = int(np.ceil(self.size / _RES)) + 2
        self.grid = np.full((n, n), self.fill)

    def cells(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = np.clip((xy / _RES).astype(np.int64), 0, self.grid.shape[0] - 1)
        return c[:, 0], c[:, 1]

    def at(self, xy: np.ndarray) -> np.ndarray:
        return self.grid[self.cells(xy)]

    def window(self, centre: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres (M, 2) around `centre` within a square of half side `radius`, and their flat indices."""
        lo = np.clip(((centre - radius) / _RES).astype(np.int64), 0, self.grid.shape[0] - 1)
        hi = np.clip(((centre + radius) / _RES).astype(np.int64) + 1, 0, self.grid.shape[0])
        i, j = np.meshgrid(np.arange(lo[0], hi[0]), np.arange(lo[1], hi[1]), indexing="ij")
        return np.c_[i.ravel(), j.ravel()] * _RES + _RES / 2, np.ravel_multi_index((i.ravel(), j.ravel()), self.grid.shape)


def _rotate(dx: np.ndarray, dy: np.ndarray, yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(yaw), np.sin(yaw)
    return c * dx - s * dy, s * dx + c * dy


def _counts(rng: np.random.Generator, area: np.ndarray, density: float, minimum: int) -> np.ndarray:
    return np.maximum(rng.poisson(np.maximum(area, 0) * density), minimum)


def _boxes(rng, centre, dims, yaw, density, wall_density, minimum=8):
    """Points on the top and the four walls of K yawed boxes standing on `centre` (K, 3):
    (xyz (n, 3), object index (n,))."""
    k = len(centre)
    top_n = _counts(rng, dims[:, 0] * dims[:, 1], density, minimum)
    wall_n = _counts(rng, 2 * (dims[:, 0] + dims[:, 1]) * dims[:, 2], wall_density, 0)
    obj = np.concatenate([np.repeat(np.arange(k), top_n), np.repeat(np.arange(k), wall_n)])
    n_top = int(top_n.sum())
    d = dims[obj]
    u = rng.uniform(-0.5, 0.5, (len(obj), 2)) * d[:, :2]
    z = np.empty(len(obj))
    z[:n_top] = d[:n_top, 2]
    w = slice(n_top, None)
    on_x = rng.random(len(obj) - n_top) < d[w, 0] / (d[w, 0] + d[w, 1])  # a wall along x (at +-y/2), else along y
    side = rng.choice([-0.5, 0.5], len(obj) - n_top)
    uw = u[w]
    uw[on_x, 1] = side[on_x] * d[w][on_x, 1]
    uw[~on_x, 0] = side[~on_x] * d[w][~on_x, 0]
    u[w] = uw
    z[w] = rng.uniform(0, 1, len(obj) - n_top) * d[w, 2]
    x, y = _rotate(u[:, 0], u[:, 1], yaw[obj])
    _record("box", obj, centre=centre, dims=dims, yaw=yaw)
    return np.stack([centre[obj, 0] + x, centre[obj, 1] + y, centre[obj, 2] + z], axis=1), obj


def _crowns(rng, base, radius, height, shape, density, minimum=10):
    """Tree crowns and bushes over `base` (K, 3): the rough upper surface photogrammetry sees, plus some
    points inside the foliage. shape (K,): 0 ellipsoid, 1 cone (conifer), 2 umbrella. (xyz, object index)."""
    n = _counts(rng, np.pi * radius**2, density * 1.3, minimum)
    obj = np.repeat(np.arange(len(base)), n)
    rel = np.sqrt(rng.random(len(obj)))
    r = radius[obj] * rel
    a = rng.uniform(0, 2 * np.pi, len(obj))
    profile = np.select([shape[obj] == 1, shape[obj] == 2], [1 - rel, np.sqrt(np.clip(1 - rel**4, 0, 1))], np.sqrt(np.clip(1 - rel**2, 0, 1)))
    z = height[obj] * profile
    inner = rng.random(len(obj)) < 0.2  # a fifth of the points from inside the foliage
    z[inner] *= rng.uniform(0.3, 1.0, int(inner.sum()))
    z += rng.normal(0, 0.15, len(obj)) * np.minimum(height[obj], 3.0)  # leaves: rough, unlike roofs
    _record("crown", obj, base=base, radius=radius, height=height, shape=shape)
    return np.stack([base[obj, 0] + r * np.cos(a), base[obj, 1] + r * np.sin(a), base[obj, 2] + np.maximum(z, 0.05)], axis=1), obj


def _poles(rng, base, radius, height, density, minimum=15):
    """Points on vertical cylinders over `base` (K, 3): light poles, sign posts, trunks."""
    n = _counts(rng, 2 * np.pi * radius * height, density, minimum)
    obj = np.repeat(np.arange(len(base)), n)
    a = rng.uniform(0, 2 * np.pi, len(obj))
    z = rng.uniform(0, 1, len(obj)) * height[obj]
    _record("pole", obj, base=base, radius=radius, height=height)
    return np.stack([base[obj, 0] + radius[obj] * np.cos(a), base[obj, 1] + radius[obj] * np.sin(a), base[obj, 2] + z], axis=1), obj


@dataclass
class _Buildings:
    """K building footprints in their own frame (u along `length`, v along `width`), centred on xy.

    shape: 0 rectangle, 1 L (the corner u > cut_u, v > cut_v removed), 2 courtyard (|u| < hole_u, |v| < hole_v
    removed); gable: pitched roof rising `pitch` m per m towards the ridge along u (rectangles only).
    """

    xy: np.ndarray
    base: np.ndarray
    length: np.ndarray
    width: np.ndarray
    height: np.ndarray
    yaw: np.ndarray
    shape: np.ndarray
    cut: np.ndarray
    hole: np.ndarray
    pitch: np.ndarray

    def inside(self, u: np.ndarray, v: np.ndarray, k: np.ndarray) -> np.ndarray:
        """(n,) whether local positions (u, v) of buildings k (n,) lie on the footprint."""
        in_l = (u > self.cut[k, 0]) & (v > self.cut[k, 1])
        in_hole = (np.abs(u) < self.hole[k, 0]) & (np.abs(v) < self.hole[k, 1])
        return ~(((self.shape[k] == 1) & in_l) | ((self.shape[k] == 2) & in_hole))

    def local(self, xy: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = xy - self.xy[k]
        return _rotate(d[:, 0], d[:, 1], -self.yaw[k])

    def rings(self, k: int) -> list[np.ndarray]:
        """The footprint outline(s) of building k as closed (m, 2) rings in its frame."""
        a, b = self.length[k] / 2, self.width[k] / 2
        outer = np.array([[-a, -b], [a, -b], [a, b], [-a, b]])
        if self.shape[k] == 1:
            cu, cv = self.cut[k]
            outer = np.array([[-a, -b], [a, -b], [a, cv], [cu, cv], [cu, b], [-a, b]])
        rings = [outer]
        if self.shape[k] == 2:
            hu, hv = self.hole[k]
            rings.append(np.array([[-hu, -hv], [hu, -hv], [hu, hv], [-hu, hv]]))
        return rings

    def sample(self, rng: np.random.Generator, density: float, wall_density: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(xyz (n, 3), building index (n,), is_wall (n,)) on roofs and walls."""
        k_all = np.arange(len(self.xy))
        n = _counts(rng, self.length * self.width, density, 20)
        k = np.repeat(k_all, n)
        u = rng.uniform(-0.5, 0.5, len(k)) * self.length[k]
        v = rng.uniform(-0.5, 0.5, len(k)) * self.width[k]
        keep = self.inside(u, v, k)
        k, u, v = k[keep], u[keep], v[keep]
        z = self.height[k] + self.pitch[k] * (self.width[k] / 2 - np.abs(v))
        x, y = _rotate(u, v, self.yaw[k])
        roof = np.c_[self.xy[k, 0] + x, self.xy[k, 1] + y, self.base[k] + z]
        # walls up to the eaves: one segment per outline edge (a loop over buildings, not points)
        edges = []
        for b in k_all:
            for ring in self.rings(b):
                for p, q in zip(ring, np.roll(ring, -1, axis=0)):
                    edges.append((b, *p, *q))
        e = np.array(edges)
        eb = e[:, 0].astype(np.int64)
        length = np.hypot(e[:, 3] - e[:, 1], e[:, 4] - e[:, 2])
        wn = _counts(rng, length * self.height[eb], wall_density, 0)
        we = np.repeat(np.arange(len(e)), wn)
        t = rng.random(len(we))
        wu, wv = e[we, 1] + t * (e[we, 3] - e[we, 1]), e[we, 2] + t * (e[we, 4] - e[we, 2])
        wk = eb[we]
        x, y = _rotate(wu, wv, self.yaw[wk])
        wall = np.c_[self.xy[wk, 0] + x, self.xy[wk, 1] + y, self.base[wk] + rng.random(len(we)) * self.height[wk]]
        return np.r_[roof, wall], np.r_[k, wk], np.r_[np.zeros(len(k), bool), np.ones(len(wk), bool)]


class _City:
    """The plan of one scene: terrain, roads, block uses, and rasters of what covers the ground."""

    def __init__(self, rng: np.random.Generator, size: float):
        self.rng, self.size = rng, size
        self.terrain = Terrain(rng, size)
        self.roads: RoadGrid = make_roads(rng, size)
        self.salt = int(rng.integers(1 << 30))
        self.occupied = _Raster(size, 0.0)  # buildings (no other building, no trees, no ground points)
        self.covered = _Raster(size, 0.0)  # under vehicles and other solid objects: no ground points
        self.canopy = _Raster(size, -np.inf)  # height of the crown bottom above each cell (occlusion)
        self.buildings: _Buildings | None = None

    def zone(self, xy: np.ndarray) -> np.ndarray:
        d = self.roads.distance(xy)
        half = self.roads.width / 2
        return np.select([d < half, d < half + self.roads.sidewalk], [ROAD, SIDEWALK], BLOCK)

    def use(self, xy: np.ndarray) -> np.ndarray:
        return block_uses(self.roads.block_of(xy), self.salt)

    def ground_z(self, xy: np.ndarray) -> np.ndarray:
        return self.terrain(xy[:, 0], xy[:, 1])

    def with_z(self, xy: np.ndarray) -> np.ndarray:
        return np.c_[xy, self.ground_z(xy)]

    def n_of(self, kind: str) -> int:
        return max(1, int(self.rng.poisson(_PER_KM2[kind] * self.size * self.size / 1e6)))

    def free_positions(self, n: int, ok_zone: tuple[int, ...], ok_use: tuple[int, ...] | None = None, clearance: float = 0.0) -> np.ndarray:
        """Up to n positions (m, 2) in the given zones/uses, off buildings (by `clearance` m); at least one."""
        pos = self.rng.uniform(0, self.size, (8 * n + 16, 2))
        zone = self.zone(pos)
        ok = np.isin(zone, ok_zone) & (self.occupied.at(pos) == 0)
        if clearance > 0:
            for dx, dy in ((clearance, 0), (-clearance, 0), (0, clearance), (0, -clearance)):
                ok &= self.occupied.at(pos + [dx, dy]) == 0
        if ok_use is not None:
            ok &= np.isin(self.use(pos), ok_use) | (zone != BLOCK)
        good = pos[ok]
        return good[:n] if len(good) else pos[:1]

    def kerb(self, n: int, offset: float) -> tuple[np.ndarray, np.ndarray]:
        """n positions along the roads at `offset` m from the centre line, inside the scene and off buildings."""
        xy, heading = self.roads.kerb_positions(self.rng, 4 * n + 8, offset, self.size * 0.75)
        ok = (xy >= 0).all(axis=1) & (xy <= self.size).all(axis=1)
        ok &= self.occupied.at(np.clip(xy, 0, self.size)) == 0
        xy, heading = xy[ok][:n], heading[ok][:n]
        if len(xy) == 0:  # no road crosses the scene: anywhere free
            xy = self.free_positions(n, (ROAD, SIDEWALK, BLOCK))
            heading = self.rng.uniform(0, np.pi, len(xy))
        return xy, heading

    def mark(self, raster: _Raster, xy: np.ndarray, dims: np.ndarray, yaw: np.ndarray, value: np.ndarray | float = 1.0) -> None:
        """Set `value` on the cells under K yawed rectangles (a loop over objects)."""
        values = np.broadcast_to(np.asarray(value, float), (len(xy),))
        for c, d, a, val in zip(xy, dims, yaw, values):
            cells, flat = raster.window(c, 0.5 * float(np.hypot(*d)) + _RES)
            u, v = _rotate(cells[:, 0] - c[0], cells[:, 1] - c[1], -a)
            inside = (np.abs(u) <= d[0] / 2) & (np.abs(v) <= d[1] / 2)
            raster.grid.flat[flat[inside]] = np.maximum(raster.grid.flat[flat[inside]], val)


def _place_buildings(city: _City) -> _Buildings:
    rng, roads = city.rng, city.roads
    n_try = 6 * city.n_of("building") + 10
    kind = rng.choice(3, n_try, p=[0.62, 0.3, 0.08])  # houses, commercial, towers
    length = np.select([kind == 0, kind == 1], [rng.uniform(8, 20, n_try), rng.uniform(18, 45, n_try)], rng.uniform(16, 30, n_try))
    width = np.minimum(length, np.select([kind == 0, kind == 1], [rng.uniform(7, 14, n_try), rng.uniform(14, 35, n_try)], rng.uniform(16, 30, n_try)))
    height = np.select([kind == 0, kind == 1], [rng.uniform(3, 11, n_try), rng.uniform(8, 28, n_try)], rng.uniform(28, 60, n_try))
    shape = np.where(rng.random(n_try) < 0.3, 1, 0)
    shape[(length > 22) & (width > 20) & (rng.random(n_try) < 0.5)] = 2
    cut = np.c_[length * rng.uniform(-0.2, 0.2, n_try), width * rng.uniform(-0.2, 0.2, n_try)]
    hole = np.c_[length * rng.uniform(0.15, 0.3, n_try), width * rng.uniform(0.15, 0.3, n_try)]
    gable = (shape == 0) & (kind == 0) & (rng.random(n_try) < 0.55)
    pitch = np.where(gable, rng.uniform(0.3, 0.8, n_try), 0.0)
    pos = rng.uniform(0, city.size, (n_try, 2))
    yaw = roads.angle + rng.choice([0, np.pi / 2], n_try) + rng.normal(0, 0.03, n_try)
    radius = 0.5 * np.hypot(length, width)
    clear_road = roads.distance(pos) > roads.width / 2 + roads.sidewalk + 0.8 * radius + 1.0
    ok = clear_road & (city.use(pos) == BUILT) & (city.zone(pos) == BLOCK)
    keep = np.zeros(n_try, bool)
    for i in np.flatnonzero(ok):  # a loop over candidate buildings (tens to hundreds)
        cells, flat = city.occupied.window(pos[i], radius[i] + 2.0)
        if city.occupied.grid.flat[flat].any():
            continue
        keep[i] = True
        city.occupied.grid.flat[flat] = 1.0  # the building and a 2 m yard around it
        if keep.sum() >= city.n_of("building"):
            break
    if not keep.any():  # every scene has a building: the candidate farthest from the roads
        i = int(np.argmax(roads.distance(pos) - radius))
        keep[i] = True
        city.occupied.grid.flat[city.occupied.window(pos[i], radius[i] + 2.0)[1]] = 1.0
    b = _Buildings(pos[keep], np.zeros(int(keep.sum())), length[keep], width[keep], height[keep], yaw[keep], shape[keep], cut[keep], hole[keep], pitch[keep])
    # sit on the lowest ground under the footprint corners, sunk a little
    corners = np.stack([b.xy + np.c_[_rotate(np.full(len(b.xy), sx * 0.5) * b.length, np.full(len(b.xy), sy * 0.5) * b.width, b.yaw)]
                        for sx in (-1, 1) for sy in (-1, 1)])
    b.base = np.min([city.ground_z(np.clip(c, 0, city.size)) for c in corners], axis=0) - 0.3
    return b


def _object_part(rng, cls: int, kind: str, xyz: np.ndarray, obj: np.ndarray, n_obj: int) -> _Part:
    _record("part", obj, cls=cls, kind=kind)
    _, tint = object_tints(rng, kind, max(n_obj, 1))
    return _Part(xyz, cls, obj, tint[obj] + rng.normal(0, 9.0, (len(obj), 3)))


def _vehicles(rng, city: _City, density: float) -> list[_Part]:
    """Cars (body + cabin), trucks (cab + box), military vehicles (hull + turret), aircraft, bikes, motorcycles."""
    parts = []
    roads = city.roads
    # cars: along the kerbs and in car parks
    n = city.n_of("vehicle")
    kxy, kh = city.kerb(int(n * 0.6) + 1, roads.width / 2 - 1.3)
    pxy = city.free_positions(n - len(kxy) + 1, (BLOCK,), (PARKING,), clearance=3.0)
    xy = np.r_[kxy, pxy]
    yaw = np.r_[kh, roads.angle + rng.choice([0, np.pi / 2], len(pxy)) + rng.normal(0, 0.05, len(pxy))]
    dims = np.c_[rng.uniform(3.8, 5.2, len(xy)), rng.uniform(1.6, 2.0, len(xy)), rng.uniform(0.7, 0.9, len(xy))]
    cabin = dims * [rng.uniform(0.45, 0.6), 0.9, 0] + np.c_[np.zeros((len(xy), 2)), rng.uniform(0.45, 0.7, len(xy))]
    body, bo = _boxes(rng, city.with_z(xy), dims, yaw, density * 1.5, density, 12)
    cab_shift = np.c_[_rotate(-0.1 * dims[:, 0], np.zeros(len(xy)), yaw)]
    top, to = _boxes(rng, city.with_z(xy + cab_shift) + np.c_[np.zeros((len(xy), 2)), dims[:, 2]], cabin, yaw, density * 1.5, density, 6)
    city.mark(city.covered, xy, dims[:, :2], yaw)
    parts.append(_object_part(rng, 5, "vehicle", np.r_[body, top], np.r_[bo, to], len(xy)))
    # trucks: kerbs and yards
    n = city.n_of("truck")
    xy, yaw = city.kerb(n, roads.width / 2 - 1.6)
    dims = np.c_[rng.uniform(7, 12, len(xy)), rng.uniform(2.3, 2.6, len(xy)), rng.uniform(3.0, 4.0, len(xy))]
    pts, obj = _boxes(rng, city.with_z(xy), dims, yaw, density * 1.5, density, 20)
    city.mark(city.covered, xy, dims[:, :2], yaw)
    parts.append(_object_part(rng, 6, "truck", pts, obj, len(xy)))
    # military vehicles: on roads, car parks or aprons
    n = city.n_of("military")
    xy = city.free_positions(n, (ROAD, BLOCK), (PARKING, APRON), clearance=4.0)
    yaw = rng.uniform(0, np.pi, len(xy))
    dims = np.c_[rng.uniform(5.5, 7.5, len(xy)), rng.uniform(2.8, 3.4, len(xy)), rng.uniform(1.8, 2.6, len(xy))]
    hull, ho = _boxes(rng, city.with_z(xy), dims, yaw, density * 1.5, density, 20)
    tur, tu = _boxes(rng, city.with_z(xy) + np.c_[np.zeros((len(xy), 2)), dims[:, 2]], dims * [0.4, 0.5, 0.3], yaw + rng.normal(0, 0.5, len(xy)), density * 1.5, density, 8)
    city.mark(city.covered, xy, dims[:, :2], yaw)
    parts.append(_object_part(rng, 8, "military", np.r_[hull, tur], np.r_[ho, tu], len(xy)))
    # aircraft: on aprons, else on open ground
    n = city.n_of("aircraft")
    xy = city.free_positions(n, (BLOCK,), (APRON,), clearance=15.0)
    length = rng.uniform(15, 35, len(xy))
    yaw = rng.uniform(0, np.pi, len(xy))
    z = city.with_z(xy)
    fus, fo = _boxes(rng, z + np.c_[np.zeros((len(xy), 2)), length * 0.05], np.c_[length, length * 0.11, length * 0.11], yaw, density * 1.5, density)
    wing, wo = _boxes(rng, z + np.c_[np.zeros((len(xy), 2)), length * 0.08], np.c_[length * 0.16, length * 0.9, np.full(len(xy), 0.35)], yaw, density * 1.5, density * 0.5)
    tail_xy = np.c_[_rotate(-0.45 * length, np.zeros(len(xy)), yaw)]
    tail, tlo = _boxes(rng, z + np.c_[tail_xy, length * 0.16], np.c_[length * 0.1, length * 0.3, np.full(len(xy), 0.25)], yaw, density * 1.5, density * 0.5)
    parts.append(_object_part(rng, 7, "aircraft", np.r_[fus, wing, tail], np.r_[fo, wo, tlo], len(xy)))
    # bikes and motorcycles: on sidewalks and car parks
    for cls, kind, lo, hi in ((9, "bike", (1.6, 0.4, 0.9), (1.9, 0.6, 1.1)), (10, "motorcycle", (1.9, 0.7, 1.1), (2.3, 0.9, 1.4))):
        n = city.n_of(kind)
        xy, yaw = city.kerb(n, roads.width / 2 + roads.sidewalk * rng.uniform(0.3, 0.8))
        d = rng.uniform(lo, hi, (len(xy), 3))
        pts, obj = _boxes(rng, city.with_z(xy), d, yaw + np.pi / 2 * (rng.random(len(xy)) < 0.5), density * 2, density * 1.5, 10)
        parts.append(_object_part(rng, cls, "bike", pts, obj, len(xy)))
    return parts


def _street_furniture(rng, city: _City, density: float) -> list[_Part]:
    """Light poles (pole + arm), street signs (post + plate), clutter (bins, benches, boxes), fences."""
    parts, roads = [], city.roads
    n = city.n_of("pole")
    xy, heading = city.kerb(n, roads.width / 2 + 0.4)
    h = rng.uniform(6, 11, len(xy))
    base = city.with_z(xy)
    pp, po = _poles(rng, base, np.full(len(xy), 0.13), h, density * 2, 20)
    arm = np.c_[np.full(len(xy), 0.3), np.full(len(xy), 1.8), np.full(len(xy), 0.2)]  # across the kerb, over the road
    ap, ao = _boxes(rng, np.c_[xy, base[:, 2] + h], arm, heading, density * 3, density, 6)
    parts.append(_object_part(rng, 11, "street", np.r_[pp, ap], np.r_[po, ao], len(xy)))
    n = city.n_of("sign")
    xy, heading = city.kerb(n, roads.width / 2 + 0.3)
    base = city.with_z(xy)
    sp, so = _poles(rng, base, np.full(len(xy), 0.05), np.full(len(xy), 2.2), density * 2, 10)
    plate = np.c_[rng.uniform(0.5, 1.0, len(xy)), np.full(len(xy), 0.06), rng.uniform(0.4, 0.8, len(xy))]
    bp, bo = _boxes(rng, base + [0, 0, 2.0], plate, heading, density * 3, density * 4, 10)
    parts.append(_object_part(rng, 12, "sign", np.r_[sp, bp], np.r_[so, bo], len(xy)))
    n = city.n_of("clutter")
    n_kerb = n // 2 + 1
    kxy, kh = city.kerb(n_kerb, roads.width / 2 + roads.sidewalk * rng.uniform(0.5, 0.9))
    yxy = city.free_positions(n - n_kerb + 1, (BLOCK,), (BUILT, PARK, PARKING))
    xy, yaw = np.r_[kxy, yxy], np.r_[kh, rng.uniform(0, np.pi, len(yxy))]
    kind = rng.integers(0, 3, len(xy))  # bins, benches, containers and crates
    d = np.select([kind[:, None] == 0, kind[:, None] == 1],
                  [rng.uniform([0.5, 0.5, 0.8], [0.8, 0.8, 1.2], (len(xy), 3)), rng.uniform([1.5, 0.5, 0.4], [2.2, 0.7, 0.6], (len(xy), 3))],
                  rng.uniform([1.0, 1.0, 0.8], [3.0, 2.4, 2.0], (len(xy), 3)))
    pts, obj = _boxes(rng, city.with_z(xy), d, yaw, density * 2, density, 8)
    city.mark(city.covered, xy, d[:, :2], yaw)
    parts.append(_object_part(rng, 13, "clutter", pts, obj, len(xy)))
    n = city.n_of("fence")
    xy, heading = city.kerb(n, roads.width / 2 + roads.sidewalk + rng.uniform(0.3, 1.5))
    length = rng.uniform(8, 40, len(xy))
    xy = np.clip(xy, 0, city.size)
    pts, obj = _boxes(rng, city.with_z(xy), np.c_[length, np.full(len(xy), 0.1), rng.uniform(1.0, 2.2, len(xy))], heading, density * 2, density * 1.5)
    parts.append(_object_part(rng, 14, "fence", pts, obj, len(xy)))
    return parts


def _vegetation(rng, city: _City, density: float) -> list[_Part]:
    """High (trees: street, park and yard trees), medium (bushes) and low vegetation (hedges, beds), in shared greens."""
    parts, roads = [], city.roads
    n = city.n_of("tree")
    n_street = n // 3 + 1
    sxy, _ = city.kerb(n_street, roads.width / 2 + roads.sidewalk * rng.uniform(0.3, 1.0))
    pxy = city.free_positions(n - n_street + 1, (BLOCK,), (PARK, BUILT))
    xy = np.r_[sxy, pxy, _beside_buildings(rng, city.buildings, n // 8 + 1)]
    k = len(xy)
    crown_r = rng.uniform(2, 6, k)
    trunk = rng.uniform(2, 7, k)
    shape = rng.choice(3, k, p=[0.5, 0.25, 0.25])
    crown_h = crown_r * np.where(shape == 1, rng.uniform(1.8, 3.0, k), rng.uniform(0.8, 1.4, k))
    base = city.with_z(xy)
    cp, co = _crowns(rng, base + np.c_[np.zeros((k, 2)), trunk], crown_r, crown_h, shape, density)
    tp, to = _poles(rng, base, np.full(k, 0.25), trunk, density * 0.4, 3)
    for c, r, bottom in zip(xy, crown_r, base[:, 2] + trunk):  # the canopy hides what is under it (a loop over trees)
        cells, flat = city.canopy.window(c, r)
        inside = ((cells - c) ** 2).sum(axis=1) <= r * r
        city.canopy.grid.flat[flat[inside]] = np.maximum(city.canopy.grid.flat[flat[inside]], bottom)
    parts.append(_object_part(rng, 4, "vegetation", np.r_[cp, tp], np.r_[co, to], k))
    n = city.n_of("bush")
    xy = city.free_positions(n, (BLOCK, SIDEWALK), (PARK, BUILT))
    r = rng.uniform(0.6, 2.0, len(xy))
    pts, obj = _crowns(rng, city.with_z(xy), r, rng.uniform(1.0, 3.0, len(xy)), rng.choice(3, len(xy)), density)
    parts.append(_object_part(rng, 3, "vegetation", pts, obj, len(xy)))
    n = city.n_of("hedge")
    xy, heading = city.kerb(n, roads.width / 2 + roads.sidewalk + rng.uniform(0.5, 2.0))
    d = np.c_[rng.uniform(4, 20, len(xy)), rng.uniform(0.6, 1.2, len(xy)), rng.uniform(0.4, 1.2, len(xy))]
    hp, ho = _boxes(rng, city.with_z(np.clip(xy, 0, city.size)), d, heading, density * 1.2, density * 0.8)
    hp[:, 2] += rng.normal(0, 0.08, len(hp))
    n_h = len(xy)
    n = city.n_of("bed")
    xy = city.free_positions(n, (BLOCK,), (PARK, BUILT))
    r = rng.uniform(1.0, 4.0, len(xy))
    bp, bo = _crowns(rng, city.with_z(xy), r, rng.uniform(0.2, 0.5, len(xy)), np.full(len(xy), 2), density * 0.8)
    parts.append(_object_part(rng, 2, "vegetation", np.r_[hp, bp], np.r_[ho, bo + n_h], n_h + len(xy)))
    return parts


def _beside_buildings(rng, b: _Buildings, n: int) -> np.ndarray:
    """n positions (m <= n, 2) 1-3 m outside a random building's side: trees there overhang its roof."""
    k = rng.integers(0, len(b.xy), n)
    side = rng.integers(0, 4, n)
    along = rng.uniform(-0.4, 0.4, n)
    gap = rng.uniform(1.0, 3.0, n)
    u = np.select([side == 0, side == 1], [b.length[k] / 2 + gap, -b.length[k] / 2 - gap], along * b.length[k])
    v = np.select([side == 2, side == 3], [b.width[k] / 2 + gap, -b.width[k] / 2 - gap], along * b.width[k])
    x, y = _rotate(u, v, b.yaw[k])
    return b.xy[k] + np.c_[x, y]


def _ground(rng, city: _City, density: float) -> _Part:
    """Terrain points off buildings and from under vehicles, coloured by zone: asphalt roads, concrete
    sidewalks and aprons, grass / soil / concrete yards, grass parks."""
    n = rng.poisson(0.8 * density * city.size * city.size)  # objects bring the rest of the density
    xy = rng.uniform(0, city.size, (n, 2))
    xy = xy[city.occupied.at(xy) == 0]
    # the 2 m yard around each building was marked occupied for placement: only the footprint is solid
    xy = np.r_[xy, _yard_points(rng, city, density)]
    xy = xy[city.covered.at(xy) == 0]
    names = _ground_materials(city, xy)
    z = city.ground_z(xy)
    colour = material_colours(rng, names)
    shade = 1 + 0.08 * np.sin(xy[:, 0] / 13.0 + city.salt % 7) * np.sin(xy[:, 1] / 17.0)  # uneven light and wear
    return _Part(np.c_[xy, z], 0, np.zeros(len(xy), np.int64), colour * shade[:, None])


def _ground_materials(city: _City, xy: np.ndarray) -> np.ndarray:
    """(N,) layout.MATERIALS name of the ground at positions (N, 2)."""
    zone, use = city.zone(xy), city.use(xy)
    # a coarse random field decides each yard cell's surface
    patch = (np.floor(xy / 7.0).astype(np.int64) * [92821, 68917]).sum(axis=1) ^ city.salt
    cell = (patch * 2654435761 % 1000) / 1000.0
    yard = np.select([cell < 0.55, cell < 0.75, cell < 0.9], ["grass", "concrete", "soil"], "asphalt")
    park = np.select([cell < 0.75, cell < 0.9], ["grass", "dry_grass"], "soil")
    return np.select(
        [zone == ROAD, zone == SIDEWALK, use == PARKING, use == APRON, use == PARK], ["asphalt", "concrete", "asphalt", "concrete", park], yard
    )


def _yard_points(rng, city: _City, density: float) -> np.ndarray:
    """Ground positions in the yards that placement marked as occupied but no building stands on."""
    n = rng.poisson(0.8 * density * city.size * city.size)
    xy = rng.uniform(0, city.size, (n, 2))
    xy = xy[city.occupied.at(xy) > 0]
    b = city.buildings
    near = _nearest_building(b, xy)
    u, v = b.local(xy, near)
    on = (np.abs(u) <= b.length[near] / 2) & (np.abs(v) <= b.width[near] / 2) & b.inside(u, v, near)
    return xy[~on]


def _nearest_building(b: _Buildings, xy: np.ndarray) -> np.ndarray:
    """(n,) index of the building whose centre is nearest each position (in chunks: memory stays small)."""
    out = np.empty(len(xy), np.int64)
    for s in range(0, len(xy), 20000):
        d = ((xy[s : s + 20000, None, :] - b.xy[None]) ** 2).sum(axis=2)
        out[s : s + 20000] = d.argmin(axis=1)
    return out


def make_scene(seed: int, size: float = 500.0, density: float = 9.0, origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
               colour: str = "material") -> SyntheticScene:
    """A seeded city scene of `size` x `size` metres at about `density` points per m^2 seen from above."""
    if colour not in COLOUR_MODES:
        raise ValueError(f"colour '{colour}': expected one of {COLOUR_MODES}")
    rng = np.random.default_rng(seed)
    city, parts = _build(rng, size, density)
    parts.append(_ground(rng, city, density))
    return _assemble(rng, city, parts, size, origin, colour)


def _build(rng: np.random.Generator, size: float, density: float) -> tuple[_City, list[_Part]]:
    """The plan of a scene and the points of its buildings and objects (the ground comes after)."""
    city = _City(rng, size)
    city.buildings = _place_buildings(city)
    b = city.buildings
    pts, obj, is_wall = b.sample(rng, density, density * rng.uniform(0.25, 0.45))
    roof_names, roof_tint = object_tints(rng, "roof", len(b.xy))
    _, wall_tint = object_tints(rng, "wall", len(b.xy))
    tint = np.where(is_wall[:, None], wall_tint[obj], roof_tint[obj])
    parts = [_Part(pts, 1, obj, tint + rng.normal(0, 9.0, (len(obj), 3)))]
    parts += _vegetation(rng, city, density)
    parts += _vehicles(rng, city, density)
    parts += _street_furniture(rng, city, density)
    return city, parts


def _assemble(rng: np.random.Generator, city: _City, parts: list[_Part], size: float, origin, colour: str) -> SyntheticScene:
    xyz = np.concatenate([p.xyz for p in parts])
    labels = np.concatenate([np.full(len(p.xyz), p.cls, np.int64) for p in parts])
    instance = np.full(len(xyz), IGNORE_LABEL, np.int64)
    rgb = np.concatenate([p.colour for p in parts])
    paint = np.random.default_rng(int(rng.integers(1 << 62)))  # colour draws apart: both modes share the geometry
    start, next_id = 0, 1
    for p in parts:
        sl = slice(start, start + len(p.xyz))
        n_obj = int(p.obj.max()) + 1 if len(p.obj) else 0
        if colour == "class":
            base, spread = _CLASS_COLOURS[p.cls]
            rgb[sl] = (np.asarray(base) + paint.normal(0, spread, (max(n_obj, 1), 3)))[p.obj] + paint.normal(0, 10, (len(p.xyz), 3))
        if p.cls != 0:
            instance[sl] = p.obj + next_id
            next_id += n_obj
        start += len(p.xyz)
    # occlusion: what lies under a tree crown is mostly hidden from the cameras
    hidden = (labels != 4) & (xyz[:, 2] < city.canopy.at(xyz[:, :2]) - 0.3)
    keep = ~hidden | (rng.random(len(xyz)) < 0.15)
    keep &= (xyz[:, 0] >= 0) & (xyz[:, 0] <= size) & (xyz[:, 1] >= 0) & (xyz[:, 1] <= size)
    xyz, rgb, labels, instance = xyz[keep], rgb[keep], labels[keep], instance[keep]
    if colour == "material":
        rgb = rgb * paint.uniform(0.85, 1.15) + paint.normal(0, 4, 3)  # the flight's light and white balance
    xyz = xyz + rng.normal(0, rng.uniform(0.05, 0.15), xyz.shape)  # photogrammetric noise
    order = rng.permutation(len(xyz))  # files list points in no spatial order
    xyz = xyz[order] + np.asarray(origin, np.float64)
    rgb = np.clip(np.rint(rgb[order]), 0, 255).astype(np.uint8)
    return SyntheticScene(xyz, rgb, labels[order], instance[order])
