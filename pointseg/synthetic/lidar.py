"""Airborne LiDAR scans of the synthetic city scenes: laser pulses from parallel flight strips, traced through
the scene's shapes, with multiple returns, intensity by material, ranging noise and outliers.

The city is the one make_scene(seed, size) draws (geometry.scene_geometry), built as shapes instead of points:
the terrain (a smooth height function), buildings, vehicles, street furniture and fences as convex solids
(boxes, prisms with flat or gabled roofs, square posts), and vegetation as porous volumes (spheroid and cone
crowns, hedge, bike and motorcycle boxes).

A pulse leaves the sensor along its slanted ray (flight strips at `altitude` over the ground, a rotating-mirror
scan of +-`half_angle`, the aircraft's roll, pitch and crab). Along it:
- an opaque solid face or the terrain stops it: the last possible return;
- a face narrower than the footprint (a post's top, a fence's end, a sign's edge) and the footprint's rim
  around every solid (roof edges, car edges) take part of its energy and let the rest go on;
- a porous volume takes energy at random depths (a Poisson process of `rate` interceptions per metre, each
  taking a fraction of what is left): crowns give first and intermediate returns, and what passes lights
  the ground, low vegetation or car roofs beneath.
An interception is recorded when its energy (fraction x reflectance x orientation) passes a threshold and
it lies `min_separation` m beyond the previous return (the detector's dead time); at most `max_returns`.
Intensity is that energy, times the material's near-infrared reflectance at 1064 nm, with speckle and a
gain per strip. Walls get points from the strips that face them only (at grazing incidence, so few), and
the far side of a building from the strip lies in its shadow.

Everything is vectorized over pulses: loops run over strips, chunks of scan lines and return numbers.
"""

from dataclasses import dataclass

import numpy as np

from pointseg.constants import IGNORE_LABEL
from pointseg.synthetic.geometry import SceneGeometry, scene_geometry
from pointseg.synthetic.layout import MATERIALS, object_tints

# Near-infrared (1064 nm) reflectance of each material: (mean, spread of one object's value around it).
REFLECTANCE: dict[str, tuple[float, float]] = {
    "asphalt": (0.11, 0.03), "concrete": (0.34, 0.05), "grass": (0.52, 0.06), "dry_grass": (0.42, 0.05), "soil": (0.26, 0.04),
    "roof_red": (0.42, 0.06), "roof_grey": (0.2, 0.04), "roof_dark": (0.08, 0.02), "roof_light": (0.58, 0.08),
    "wall_beige": (0.45, 0.06), "wall_white": (0.65, 0.06), "wall_grey": (0.3, 0.05),
    "foliage": (0.48, 0.06), "foliage_light": (0.52, 0.06), "foliage_dark": (0.4, 0.06),
    "paint_white": (0.6, 0.06), "paint_black": (0.05, 0.02), "paint_silver": (0.45, 0.06), "paint_red": (0.45, 0.06),
    "paint_blue": (0.15, 0.04), "paint_green": (0.25, 0.05), "olive": (0.2, 0.04), "sand": (0.4, 0.05),
    "metal": (0.35, 0.08), "wood": (0.4, 0.06), "glass": (0.05, 0.02), "retroreflective": (1.6, 0.3),
}

# ASPRS LAS codes of pointseg's classes (ground 2, building 6, low/medium/high vegetation 3/4/5); classes without
# an ASPRS code (vehicle .. fence) get 64 + class id, in the user-definable range. Noise: 7 low, 18 high.
ASPRS_OF_CLASS = np.array([2, 6, 3, 4, 5] + [64 + c for c in range(5, 15)], np.uint8)
LOW_NOISE, HIGH_NOISE = 7, 18

_FACES = 7  # planes per convex solid: 4 sides, bottom, 2 roof planes (equal for a flat top)
_BIG = 1e5  # metres: per-pulse keys are pulse * _BIG + range


@dataclass(frozen=True)
class Flight:
    """The survey: strips, scanner and sensor. density: pulses per m^2 of one strip on open flat ground (a
    programme's nominal density; strip overlaps hold more, roofs under slanted rays a little more)."""

    density: float = 10.0
    altitude: float = 1000.0  # m above the scene's mean ground
    half_angle: float = 20.0  # degrees either side of nadir
    overlap: float = 0.3  # share of a strip's swath its neighbour covers as well
    heading: float | None = None  # degrees clockwise from north; None: north-south or east-west, drawn per scene
    speed: float = 60.0  # m/s
    divergence: float = 0.3e-3  # rad, full angle: a 0.3 m footprint from 1000 m
    min_separation: float = 1.5  # m between two returns of one pulse
    max_returns: int = 5
    range_noise: float = 0.03  # m, one sigma along the ray
    threshold: float = 0.02  # weakest energy recorded (a fraction of a full return from a white surface)
    intensity_scale: float = 40000.0  # the stored intensity of a full return from a white surface at nadir
    low_noise: float = 2e-4  # share of points that are low outliers (multipath), ASPRS 7
    high_noise: float = 5e-5  # share of points that are high outliers (birds, haze), ASPRS 18

    def check(self) -> None:
        problems = []
        if not 0.5 <= self.density <= 200:
            problems.append(f"density {self.density}: expected 0.5..200 pulses per m^2")
        if not 100 <= self.altitude <= 6000:
            problems.append(f"altitude {self.altitude}: expected 100..6000 m")
        if not 1 <= self.half_angle <= 40:
            problems.append(f"half_angle {self.half_angle}: expected 1..40 degrees")
        if not 0 <= self.overlap < 0.9:
            problems.append(f"overlap {self.overlap}: expected 0..0.9")
        if not 1 <= self.max_returns <= 15:
            problems.append(f"max_returns {self.max_returns}: expected 1..15 (LAS 1.4)")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass
class LidarScan:
    """The points of one scan, strip after strip in time order, in the scene's local metres [0, size]^2 (the
    writer, las_scene.write_lidar_las, adds the georeferenced origin).

    xyz (N, 3) float64; labels (N,) int64, -100 for noise; codes (N,) uint8 ASPRS classification; instance (N,)
    int64 (-100 on ground and noise); intensity (N,) uint16; return_number, number_of_returns (N,) uint8;
    gps_time (N,) float64 (adjusted standard GPS time, s); scan_angle (N,) float32 degrees (+ right of the
    flight direction); strip (N,) uint16 (point_source_id); edge (N,) bool (last pulse of a scan line);
    overlap (N,) bool (another strip saw this place nearer its nadir); pulse (N,) int64, one id per pulse
    (noise: -1); rgb (N, 3) uint8 or None; strip_lines: per strip (a point of its flight line (2,), the line's direction (2,)).
    """

    xyz: np.ndarray
    labels: np.ndarray
    codes: np.ndarray
    instance: np.ndarray
    intensity: np.ndarray
    return_number: np.ndarray
    number_of_returns: np.ndarray
    gps_time: np.ndarray
    scan_angle: np.ndarray
    strip: np.ndarray
    edge: np.ndarray
    overlap: np.ndarray
    pulse: np.ndarray
    rgb: np.ndarray | None
    strip_lines: list
    size: float

    def __len__(self) -> int:
        return len(self.xyz)


# ---------------------------------------------------------------------------------------------- the shapes


@dataclass
class _Shapes:
    """Convex solids (S) and crown volumes (C), with what a pulse that meets them does.

    planes (7, 4, S): per face, n (unit) and w of n.x <= w (face-major: a face's values for all solids lie together); lo, hi (S, 3) bounds; cls, obj (S,); refl, rgb per face
    group: refl (S, 2) (sides, top), rgb (S, 2, 3); opacity (S, 7): share of a footprint a face blocks
    (1: stops the pulse); rate (S,): porous interceptions per metre (0: a surface); take (S, 2) the range
    of the share of energy a porous interception takes.
    Crowns: centre (C, 3), radius (C,), semi (C,) vertical semi-axis (spheroid) or height (cone apex above
    the bottom), cone (C,) bool, bottom, top (C,), rate, take (C, 2), cls, obj, refl, rgb.
    """

    planes: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    cls: np.ndarray
    obj: np.ndarray
    refl: np.ndarray
    rgb: np.ndarray
    opacity: np.ndarray
    rate: np.ndarray
    take: np.ndarray
    c_centre: np.ndarray
    c_radius: np.ndarray
    c_semi: np.ndarray
    c_cone: np.ndarray
    c_bottom: np.ndarray
    c_top: np.ndarray
    c_rate: np.ndarray
    c_take: np.ndarray
    c_cls: np.ndarray
    c_obj: np.ndarray
    c_refl: np.ndarray
    c_rgb: np.ndarray


def _prism_planes(centre: np.ndarray, yaw: np.ndarray, u: np.ndarray, v: np.ndarray, z: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """(K, 7, 4) planes of K prisms: local u in u (K, 2), v in v (K, 2), z in z (K, 2) (bottom, eaves) about
    centre (K, 2) turned by yaw (K,); a gable roof rising `pitch` (K,) m per m to a ridge along u at v = 0."""
    k = len(centre)
    local = np.zeros((k, _FACES, 4))
    local[:, 0] = np.c_[np.ones(k), np.zeros(k), np.zeros(k), u[:, 1]]
    local[:, 1] = np.c_[-np.ones(k), np.zeros(k), np.zeros(k), -u[:, 0]]
    local[:, 2] = np.c_[np.zeros(k), np.ones(k), np.zeros(k), v[:, 1]]
    local[:, 3] = np.c_[np.zeros(k), -np.ones(k), np.zeros(k), -v[:, 0]]
    local[:, 4] = np.c_[np.zeros(k), np.zeros(k), -np.ones(k), -z[:, 0]]
    half = np.maximum(np.abs(v[:, 0]), np.abs(v[:, 1]))  # the ridge at v = 0, the eaves at the far edge
    ridge = z[:, 1] + pitch * half
    norm = np.sqrt(1 + pitch**2)
    local[:, 5] = np.c_[np.zeros(k), pitch, np.ones(k), ridge] / norm[:, None]
    local[:, 6] = np.c_[np.zeros(k), -pitch, np.ones(k), ridge] / norm[:, None]
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    out = local.copy()
    out[..., 0] = c * local[..., 0] - s * local[..., 1]
    out[..., 1] = s * local[..., 0] + c * local[..., 1]
    out[..., 3] = local[..., 3] + out[..., 0] * centre[:, None, 0] + out[..., 1] * centre[:, None, 1]
    return out


def _prism_bounds(centre, yaw, u, v, z, pitch) -> tuple[np.ndarray, np.ndarray]:
    corners = []
    for a in (0, 1):
        for b in (0, 1):
            c, s = np.cos(yaw), np.sin(yaw)
            corners.append(np.c_[centre[:, 0] + c * u[:, a] - s * v[:, b], centre[:, 1] + s * u[:, a] + c * v[:, b]])
    corners = np.stack(corners)
    top = z[:, 1] + pitch * np.maximum(np.abs(v[:, 0]), np.abs(v[:, 1]))
    return np.c_[corners.min(axis=0), z[:, 0]], np.c_[corners.max(axis=0), top]


def _face_widths(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(K, 7) horizontal width of each face: the sides' lengths, the top's narrower side."""
    lu, lv = u[:, 1] - u[:, 0], v[:, 1] - v[:, 0]
    narrow = np.minimum(lu, lv)
    return np.c_[lv, lv, lu, lu, narrow, narrow, narrow]


def _materials(rng: np.random.Generator, kind: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For n objects of an OBJECT_MATERIALS kind: (names (n,), reflectance (n,), rgb (n, 3))."""
    names, rgb = object_tints(rng, kind, n)
    return names, _reflectance(rng, names, per_object=True), rgb


def _reflectance(rng: np.random.Generator, names: np.ndarray, per_object: bool = False) -> np.ndarray:
    mean = np.array([REFLECTANCE[str(n)][0] for n in np.unique(names)])
    spread = np.array([REFLECTANCE[str(n)][1] for n in np.unique(names)])
    idx = np.searchsorted(np.unique(names), names)
    value = mean[idx] + spread[idx] * rng.normal(0, 1, len(names)) * (1.0 if per_object else 0.5)
    return np.clip(value, 0.02, 3.0)


class _Builder:
    """Collects solids and crowns from a SceneGeometry."""

    def __init__(self, rng: np.random.Generator, geometry: SceneGeometry, footprint: float):
        self.rng, self.geo, self.footprint = rng, geometry, footprint
        self.solids: list[dict] = []
        self.crowns: list[dict] = []
        self.next_obj = 1
        self.by_class: dict[int, tuple] = {}  # class -> (first object id, names, reflectance, rgb): a class's parts share objects

    def objects(self, n: int) -> np.ndarray:
        ids = np.arange(self.next_obj, self.next_obj + n)
        self.next_obj += n
        return ids

    def add_solids(self, centre, yaw, u, v, z, pitch, cls, obj, refl, rgb, opacity=1.0, rate=0.0, take=(0.0, 0.0)):
        k = len(centre)
        widths = _face_widths(u, v)
        lo, hi = _prism_bounds(centre, yaw, u, v, z, pitch)
        # a face narrower than the footprint blocks only part of it
        op = np.minimum(1.0, widths / (2 * self.footprint)) * np.broadcast_to(np.asarray(opacity, float), (k,))[:, None]
        self.solids.append(dict(
            planes=_prism_planes(centre, yaw, u, v, z, pitch), lo=lo, hi=hi, cls=np.full(k, cls), obj=obj, refl=refl, rgb=rgb,
            opacity=op, rate=np.broadcast_to(np.asarray(rate, float), (k,)).copy(), take=np.tile(np.asarray(take, float), (k, 1)),
        ))

    def add_crowns(self, centre, radius, semi, cone, bottom, top, rate, take, cls, obj, refl, rgb):
        k = len(centre)
        self.crowns.append(dict(centre=centre, radius=radius, semi=semi, cone=cone, bottom=bottom, top=top, rate=rate,
                                take=np.tile(np.asarray(take, float), (k, 1)) if np.ndim(take) == 1 else take,
                                cls=np.full(k, cls), obj=obj, refl=refl, rgb=rgb))

    def shapes(self) -> _Shapes:
        def cat(items, key, empty_shape):
            return np.concatenate([it[key] for it in items]) if items else np.zeros(empty_shape)
        s, c = self.solids, self.crowns
        return _Shapes(
            planes=np.ascontiguousarray(cat(s, "planes", (0, _FACES, 4)).transpose(1, 2, 0)), lo=cat(s, "lo", (0, 3)), hi=cat(s, "hi", (0, 3)), cls=cat(s, "cls", (0,)).astype(np.int64),
            obj=cat(s, "obj", (0,)).astype(np.int64), refl=cat(s, "refl", (0, 2)), rgb=cat(s, "rgb", (0, 2, 3)), opacity=cat(s, "opacity", (0, _FACES)),
            rate=cat(s, "rate", (0,)), take=cat(s, "take", (0, 2)),
            c_centre=cat(c, "centre", (0, 3)), c_radius=cat(c, "radius", (0,)), c_semi=cat(c, "semi", (0,)), c_cone=cat(c, "cone", (0,)).astype(bool),
            c_bottom=cat(c, "bottom", (0,)), c_top=cat(c, "top", (0,)), c_rate=cat(c, "rate", (0,)), c_take=cat(c, "take", (0, 2)),
            c_cls=cat(c, "cls", (0,)).astype(np.int64), c_obj=cat(c, "obj", (0,)).astype(np.int64), c_refl=cat(c, "refl", (0,)), c_rgb=cat(c, "rgb", (0, 3)),
        )


def _build_shapes(rng: np.random.Generator, geo: SceneGeometry, footprint: float) -> _Shapes:
    """The scene's solids and crowns, with materials drawn per object."""
    bld = _Builder(rng, geo, footprint)
    _add_buildings(bld)
    for prim in geo.primitives:
        _add_primitives(bld, prim)
    return bld.shapes()


def _add_buildings(bld: _Builder) -> None:
    """Rectangles (flat or gabled) as one prism, L shapes as two, courtyards as four; roofs and walls of a building
    share its materials."""
    b, rng = bld.geo.buildings, bld.rng
    k = len(b.xy)
    obj = bld.objects(k)
    _, roof_refl, roof_rgb = _materials(rng, "roof", k)
    _, wall_refl, wall_rgb = _materials(rng, "wall", k)
    a, w = b.length / 2, b.width / 2
    pieces = []  # (building, u0, u1, v0, v1)
    for i in range(k):  # a loop over buildings
        if b.shape[i] == 1:
            cu, cv = b.cut[i]
            pieces += [(i, -a[i], a[i], -w[i], cv), (i, -a[i], cu, cv, w[i])]
        elif b.shape[i] == 2:
            hu, hv = b.hole[i]
            pieces += [(i, -a[i], a[i], -w[i], -hv), (i, -a[i], a[i], hv, w[i]), (i, -a[i], -hu, -hv, hv), (i, hu, a[i], -hv, hv)]
        else:
            pieces.append((i, -a[i], a[i], -w[i], w[i]))
    p = np.array(pieces)
    i = p[:, 0].astype(np.int64)
    z = np.c_[b.base[i], b.base[i] + b.height[i]]
    refl = np.c_[wall_refl[i], roof_refl[i]]
    rgb = np.stack([wall_rgb[i], roof_rgb[i]], axis=1)
    bld.add_solids(b.xy[i], b.yaw[i], p[:, 1:3], p[:, 3:5], z, b.pitch[i], 1, obj[i], refl, rgb)
    _add_roof_fixtures(bld, obj)


def _add_roof_fixtures(bld: _Builder, obj: np.ndarray) -> None:
    """What stands on real roofs: air-conditioning and lift housings on flat roofs, chimneys on pitched ones
    (about one per 120 m^2 of roof), so roofs are not bare planes. Building `obj` (K,) ids; class building."""
    b, rng = bld.geo.buildings, bld.rng
    n = rng.poisson(b.length * b.width / 120.0)
    k = np.repeat(np.arange(len(b.xy)), n)
    if len(k) == 0:
        return
    gable = b.pitch[k] > 0
    size = np.where(gable[:, None], rng.uniform(0.5, 0.9, (len(k), 2)), rng.uniform(0.8, 4.0, (len(k), 2)))
    u = rng.uniform(-0.5, 0.5, len(k)) * np.maximum(b.length[k] - size[:, 0] - 1.0, 0)
    v = rng.uniform(-0.5, 0.5, len(k)) * np.maximum(b.width[k] - size[:, 1] - 1.0, 0)
    k, u, v, size, gable = (x[b.inside(u, v, k)] for x in (k, u, v, size, gable))  # not over an L's cut or a courtyard
    roof = b.base[k] + b.height[k] + b.pitch[k] * (b.width[k] / 2 - np.abs(v) - size[:, 1] / 2)  # its lowest corner's roof
    top = roof + np.where(gable, rng.uniform(1.0, 1.8, len(k)), rng.uniform(0.4, 2.2, len(k)))
    x, y = np.cos(b.yaw[k]) * u - np.sin(b.yaw[k]) * v, np.sin(b.yaw[k]) * u + np.cos(b.yaw[k]) * v
    names = np.where(gable, rng.choice(["roof_red", "wall_beige", "concrete"], len(k)), rng.choice(["metal", "concrete", "paint_white"], len(k)))
    refl = _reflectance(rng, names, per_object=True)
    rgb = np.array([MATERIALS[str(m)][0] for m in names], float).reshape(-1, 3)
    half = size / 2
    bld.add_solids(b.xy[k] + np.c_[x, y], b.yaw[k], np.c_[-half[:, 0], half[:, 0]], np.c_[-half[:, 1], half[:, 1]], np.c_[roof - 0.3, top],
                   np.zeros(len(k)), 1, obj[k], np.c_[refl, refl], np.stack([rgb, rgb], axis=1))


def _add_primitives(bld: _Builder, prim) -> None:
    """Boxes and posts as solids (hedges, bikes and motorcycles porous), crowns as porous volumes."""
    rng, geo, pr = bld.rng, bld.geo, prim.params
    if prim.cls not in bld.by_class:  # city.py makes each class in one part: its helpers' objects are shared
        n_obj = int(max(p.object.max() for p in geo.primitives if p.cls == prim.cls)) + 1
        bld.by_class[prim.cls] = (bld.objects(n_obj), *_materials(rng, prim.kind, n_obj))
    ids, names, refl, rgb = bld.by_class[prim.cls]
    obj, names, refl, rgb = ids[prim.object], names[prim.object], refl[prim.object], rgb[prim.object]
    k = len(prim.object)
    if prim.shape == "crown":
        _add_crown_volumes(bld, prim, obj, refl, rgb)
        return
    if prim.shape == "pole":
        base, radius, height = pr["base"], pr["radius"], pr["height"]
        half = radius * np.sqrt(np.pi) / 2  # a square post of the pole's cross-section
        hw = np.c_[-half, half]
        bld.add_solids(base[:, :2], rng.uniform(0, np.pi / 2, k), hw, hw, np.c_[base[:, 2], base[:, 2] + height], np.zeros(k), prim.cls, obj,
                       np.c_[refl, refl], np.stack([rgb, rgb], axis=1))
        return
    centre, dims, yaw = pr["centre"], pr["dims"], pr["yaw"]
    u, v = np.c_[-dims[:, 0], dims[:, 0]] / 2, np.c_[-dims[:, 1], dims[:, 1]] / 2
    z = np.c_[centre[:, 2], centre[:, 2] + dims[:, 2]]
    side, top = refl.copy(), refl.copy()
    opacity, rate, take = 1.0, 0.0, (0.0, 0.0)
    if prim.cls == 5:  # a car's cabin (the box on the body) has windows for sides
        cabin = centre[:, 2] - geo.terrain(centre[:, 0], centre[:, 1]) > 0.4
        side[cabin] = _reflectance(rng, np.full(int(cabin.sum()), "glass"))
    elif prim.cls == 12:  # sign plates: retroreflective faces
        side = _reflectance(rng, np.full(k, "retroreflective"))
    elif prim.cls == 14:  # wire-mesh (metal) fences let most of a pulse through
        opacity = np.where(names == "metal", 0.3, 1.0)
    elif prim.cls == 2:  # hedges: dense foliage
        rate, take = rng.uniform(2.0, 4.0, k), (0.3, 0.8)
    elif prim.cls in (9, 10):  # bike and motorcycle frames: mostly air
        rate, take = (1.0, (0.1, 0.4)) if prim.cls == 9 else (2.5, (0.2, 0.6))
    bld.add_solids(centre[:, :2], yaw, u, v, z, np.zeros(k), prim.cls, obj, np.c_[side, top], np.stack([rgb, rgb], axis=1), opacity, rate, take)


def _add_crown_volumes(bld: _Builder, prim, obj, refl, rgb) -> None:
    """Crowns over `base`: a spheroid (0 ellipsoid, 2 umbrella: flatter) or a cone (1), topped at base + height.
    Tree crowns reach below the trunk's top (at most to 0.5 m above the ground); bushes and beds stand on it."""
    rng, pr = bld.rng, prim.params
    base, radius, height, shape = pr["base"], pr["radius"], pr["height"], pr["shape"]
    k = len(base)
    ground = bld.geo.terrain(base[:, 0], base[:, 1])
    top = base[:, 2] + height
    on_ground = base[:, 2] - ground < 0.3
    reach = np.where(shape == 2, 0.5, 0.65) * height
    semi = np.where(on_ground, height / 2, np.minimum(reach, (top - ground - 0.5) / 2))
    cone = shape == 1
    bottom = np.where(cone, np.maximum(np.where(on_ground, base[:, 2], base[:, 2] - 0.15 * height), ground + np.where(on_ground, 0.0, 0.3)), top - 2 * semi)
    semi = np.where(cone, top - bottom, semi)
    centre = np.c_[base[:, :2], np.where(cone, bottom, top - semi)]
    if prim.cls == 4:  # trees: leaf-on broadleaves and denser conifers, each its own density
        rate, take = rng.uniform(0.6, 1.5, k) * np.where(cone, 1.4, 1.0), (0.15, 0.55)
    elif prim.cls == 3:  # bushes
        rate, take = rng.uniform(0.9, 1.8, k), (0.2, 0.6)
    else:  # flower beds and low plants
        rate, take = rng.uniform(3.0, 6.0, k), (0.4, 0.9)
    radius_out = radius * np.where(cone, (top - bottom) / np.maximum(height, 1e-6), 1.0)  # a cone's radius at its bottom
    bld.add_crowns(centre, radius_out, semi, cone, bottom, top, rate, np.asarray(take), prim.cls, obj, refl, rgb)


# --------------------------------------------------------------------------------------------- ray tracing


def _pairs(pxy: np.ndarray, lo: np.ndarray, hi: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """All (ray, shape) with the ray's point pxy (P, 2) inside the shape's box [lo, hi] (S, 2): (ray (M,), shape (M,))."""
    if len(pxy) == 0 or len(lo) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    base = pxy.min(axis=0)
    n = np.floor((pxy.max(axis=0) - base) / cell).astype(np.int64) + 1
    ij = np.floor((pxy - base) / cell).astype(np.int64)
    cid = ij[:, 0] * n[1] + ij[:, 1]
    order = np.argsort(cid, kind="stable")
    count = np.bincount(cid, minlength=n[0] * n[1])
    start = np.r_[0, np.cumsum(count)[:-1]]
    c0 = np.clip(np.floor((lo - base) / cell).astype(np.int64), 0, n - 1)
    c1 = np.clip(np.floor((hi - base) / cell).astype(np.int64), 0, n - 1)
    inside = (hi >= base).all(axis=1) & (lo <= base + n * cell).all(axis=1)
    ni, nj = np.where(inside, c1[:, 0] - c0[:, 0] + 1, 0), c1[:, 1] - c0[:, 1] + 1
    nc = ni * nj
    s = np.repeat(np.arange(len(lo)), nc)
    local = np.arange(len(s)) - np.repeat(np.cumsum(nc) - nc, nc)
    cells = (c0[s, 0] + local // nj[s]) * n[1] + c0[s, 1] + local % nj[s]
    m = count[cells]
    shape = np.repeat(s, m)
    ray = order[np.arange(len(shape)) - np.repeat(np.cumsum(m) - m, m) + np.repeat(start[cells], m)]
    px, py = pxy[ray, 0], pxy[ray, 1]
    keep = (px >= lo[shape, 0]) & (px <= hi[shape, 0]) & (py >= lo[shape, 1]) & (py <= hi[shape, 1])
    return ray[keep], shape[keep]


def _convex(o: np.ndarray, d: np.ndarray, planes: np.ndarray, grow: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rays o + t d (M, 3) against convex solids, planes (F, 4, M), each face pushed out by `grow` m sideways
    (grown by a horizontal disc): (hit (M,), t_in, t_out, entering face (M,))."""
    nx, ny, nz, w = planes[:, 0], planes[:, 1], planes[:, 2], planes[:, 3]
    nd = nx * d[:, 0] + ny * d[:, 1] + nz * d[:, 2]
    num = w - (nx * o[:, 0] + ny * o[:, 1] + nz * o[:, 2])
    if grow:
        num += grow * np.hypot(nx, ny)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = num / nd
    t_enter = np.where(nd < 0, t, -np.inf)
    face = t_enter.argmax(axis=0)
    t_in = np.take_along_axis(t_enter, face[None], axis=0)[0]
    t_out = np.where(nd > 0, t, np.inf).min(axis=0)
    blocked = ((nd == 0) & (num < 0)).any(axis=0)
    return (t_in <= t_out) & ~blocked & (t_out > 0), t_in, t_out, face


def _face_normal(planes: np.ndarray, face: np.ndarray) -> np.ndarray:
    """(M, 3) the normal of each solid's face `face` (M,), planes (F, 4, M)."""
    m = np.arange(planes.shape[2])
    return np.stack([planes[face, c, m] for c in range(3)], axis=1)


def _crown_chords(o: np.ndarray, d: np.ndarray, sh: _Shapes, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rays (M, 3) through crowns c (M,): (hit (M,), t_in, t_out) of the chord inside the crown."""
    rel = o - sh.c_centre[c]
    r, semi, cone = sh.c_radius[c], sh.c_semi[c], sh.c_cone[c]
    # spheroid: scale z so it is a sphere of radius r
    sz = r / np.maximum(semi, 1e-6)
    a = d[:, 0] ** 2 + d[:, 1] ** 2 + (d[:, 2] * sz) ** 2
    b = rel[:, 0] * d[:, 0] + rel[:, 1] * d[:, 1] + rel[:, 2] * sz * d[:, 2] * sz
    q = rel[:, 0] ** 2 + rel[:, 1] ** 2 + (rel[:, 2] * sz) ** 2 - r**2
    disc = b * b - a * q
    root = np.sqrt(np.maximum(disc, 0))
    s_in, s_out = (-b - root) / a, (-b + root) / a
    # cone: apex at top, radius r at the bottom (the centre's z); inside where radial^2 <= k^2 (apex - z)^2
    k2 = (r / np.maximum(semi, 1e-6)) ** 2
    apex = sh.c_top[c] - sh.c_centre[c, 2]  # apex height above the centre (= bottom)
    h0 = apex - rel[:, 2]
    ca = d[:, 0] ** 2 + d[:, 1] ** 2 - k2 * d[:, 2] ** 2
    cb = rel[:, 0] * d[:, 0] + rel[:, 1] * d[:, 1] + k2 * h0 * d[:, 2]
    cq = rel[:, 0] ** 2 + rel[:, 1] ** 2 - k2 * h0**2
    cdisc = cb * cb - ca * cq
    croot = np.sqrt(np.maximum(cdisc, 0))
    ca_safe = np.where(np.abs(ca) < 1e-12, 1e-12, ca)
    r1, r2 = (-cb - croot) / ca_safe, (-cb + croot) / ca_safe
    t1, t2 = np.minimum(r1, r2), np.maximum(r1, r2)
    # the z slab [bottom, top] along the ray (rays go down: d_z < 0)
    ta = (sh.c_top[c] - o[:, 2]) / d[:, 2]
    tb = (sh.c_bottom[c] - o[:, 2]) / d[:, 2]
    slab_in, slab_out = np.minimum(ta, tb), np.maximum(ta, tb)
    c_in = np.where(ca < 0, np.maximum(slab_in, t2), np.maximum(slab_in, t1))
    c_out = np.where(ca < 0, slab_out, np.minimum(slab_out, t2))
    t_in = np.where(cone, c_in, np.maximum(s_in, slab_in))
    t_out = np.where(cone, c_out, np.minimum(s_out, slab_out))
    hit = np.where(cone, cdisc >= 0, disc > 0) & (t_in < t_out) & (t_out > 0)
    return hit, t_in, t_out


class _TerrainGrid:
    """The scene's terrain tabulated every `step` m over the scene and `margin` m around it, read bilinearly
    (its wavelengths are 24 m and more: the table is within 2 mm of the function)."""

    def __init__(self, geo: SceneGeometry, margin: float = 60.0, step: float = 0.5):
        self.lo, self.step = -margin, step
        axis = np.arange(-margin, geo.size + margin + step, step)
        x, y = np.meshgrid(axis, axis, indexing="ij")
        self.z = geo.terrain(x.ravel(), y.ravel()).reshape(x.shape)

    def _cell(self, x: np.ndarray, y: np.ndarray):
        n = self.z.shape[0] - 2
        fx, fy = (x - self.lo) / self.step, (y - self.lo) / self.step
        i, j = np.clip(fx.astype(np.int64), 0, n), np.clip(fy.astype(np.int64), 0, n)
        return i, j, fx - i, fy - j

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        i, j, u, v = self._cell(x, y)
        z = self.z
        return (z[i, j] * (1 - u) + z[i + 1, j] * u) * (1 - v) + (z[i, j + 1] * (1 - u) + z[i + 1, j + 1] * u) * v

    def normal(self, xy: np.ndarray) -> np.ndarray:
        """(N, 3) unit normals at xy (N, 2), from the table's cell gradients."""
        i, j, u, v = self._cell(xy[:, 0], xy[:, 1])
        z = self.z
        gx = ((z[i + 1, j] - z[i, j]) * (1 - v) + (z[i + 1, j + 1] - z[i, j + 1]) * v) / self.step
        gy = ((z[i, j + 1] - z[i, j]) * (1 - u) + (z[i + 1, j + 1] - z[i + 1, j]) * u) / self.step
        n = np.c_[-gx, -gy, np.ones(len(xy))]
        return n / np.sqrt(gx**2 + gy**2 + 1)[:, None]

    def hit(self, o: np.ndarray, d: np.ndarray, z_start: float) -> np.ndarray:
        """(P,) range at which rays (P, 3) meet the terrain: a fixed-point iteration from the plane z = z_start,
        which shrinks the error at least 6-fold a step (slopes up to 15 degrees, rays up to 40 degrees off nadir;
        4 steps: under 1 cm from 50 m of relief)."""
        t = (o[:, 2] - z_start) / -d[:, 2]
        for _ in range(4):
            t = (o[:, 2] - self(o[:, 0] + t * d[:, 0], o[:, 1] + t * d[:, 1])) / -d[:, 2]
        return t


@dataclass
class _Events:
    """Interceptions along rays: ray (E,), t (E,), share of the arriving energy taken (E,), reflectance x orientation
    factor (E,), cls, obj (E,), stops (E,) bool (opaque: the pulse ends), cos_incidence (E,)."""

    ray: np.ndarray
    t: np.ndarray
    take: np.ndarray
    gain: np.ndarray
    cls: np.ndarray
    obj: np.ndarray
    stops: np.ndarray
    cos_inc: np.ndarray
    rim: np.ndarray

    @staticmethod
    def join(parts: list["_Events"]) -> "_Events":
        return _Events(*(np.concatenate([getattr(p, f) for p in parts]) for f in _Events.__dataclass_fields__))


def _empty_events() -> _Events:
    z = np.zeros(0)
    return _Events(np.zeros(0, np.int64), z, z, z, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool), z, np.zeros(0, bool))


def _trace(rng: np.random.Generator, terrain: _TerrainGrid, sh: _Shapes, o: np.ndarray, d: np.ndarray, pxy: np.ndarray,
           solid_box: tuple[np.ndarray, np.ndarray], crown_box: tuple[np.ndarray, np.ndarray], footprint: float, z_mean: float,
           ground_refl) -> _Events:
    """Every interception of rays o + t d (P, 3) (pxy (P, 2): where each crosses the reference plane; the shapes'
    boxes there) with the scene, before and at the opaque surface that ends each ray."""
    n = len(o)
    # the terrain ends every ray
    t_ground = terrain.hit(o, d, z_mean)
    gp = o + t_ground[:, None] * d
    normal = terrain.normal(gp[:, :2])
    stop_t, stop_cos = t_ground, np.abs((normal * d).sum(axis=1))
    stop_gain, stop_cls, stop_obj = np.zeros(n), np.zeros(n, np.int64), np.full(n, IGNORE_LABEL, np.int64)
    partial = []
    # solids: cores stop the ray (or take a share where a face is narrower than the footprint); rims take a share
    ray, s = _pairs(pxy, *solid_box, cell=2.5)
    for lo_i in range(0, len(ray), 60_000):  # chunks of pairs: memory stays small
        r, k = ray[lo_i : lo_i + 60_000], s[lo_i : lo_i + 60_000]
        planes = sh.planes[:, :, k]
        ro, rd = o[r], d[r]
        hit, t_in, t_out, face = _convex(ro, rd, planes)
        porous = sh.rate[k] > 0
        surface = hit & ~porous & (t_in > 0)
        nrm = _face_normal(planes, face)
        cos_inc = np.abs((nrm * d[r]).sum(axis=1))
        is_top = face >= 5
        gain = np.where(is_top, sh.refl[k, 1], sh.refl[k, 0])
        opacity = np.take_along_axis(sh.opacity[k], face[:, None], axis=1)[:, 0]
        full = surface & (opacity >= 0.999)
        if full.any():  # the nearest opaque face per ray
            fr, ft = r[full], t_in[full]
            closer = ft < stop_t[fr]
            order = np.lexsort((-ft[closer], fr[closer]))  # per ray, the nearest written last
            idx = np.flatnonzero(full)[closer][order]
            stop_t[r[idx]], stop_cos[r[idx]], stop_gain[r[idx]] = t_in[idx], cos_inc[idx], gain[idx]
            stop_cls[r[idx]], stop_obj[r[idx]] = sh.cls[k[idx]], sh.obj[k[idx]]
        part = surface & (opacity < 0.999)
        if part.any():
            i = np.flatnonzero(part)
            take = opacity[i] * rng.uniform(0.6, 1.0, len(i))
            partial.append(_Events(r[i], t_in[i], take, gain[i], sh.cls[k[i]], sh.obj[k[i]], np.zeros(len(i), bool), cos_inc[i], np.zeros(len(i), bool)))
        # rims: the footprint's edge on a solid the central ray misses
        rhit, rt_in, _, rface = _convex(ro, rd, planes, grow=footprint)
        rim = rhit & ~hit & ~porous & (rt_in > 0)
        if rim.any():
            i = np.flatnonzero(rim)
            rn = _face_normal(planes[:, :, i], rface[i])
            rgain = np.where(rface[i] >= 5, sh.refl[k[i], 1], sh.refl[k[i], 0])
            partial.append(_Events(r[i], rt_in[i], rng.uniform(0.03, 0.35, len(i)), rgain, sh.cls[k[i]], sh.obj[k[i]], np.zeros(len(i), bool),
                                   np.abs((rn * d[r[i]]).sum(axis=1)), np.ones(len(i), bool)))
        vol = hit & porous
        if vol.any():
            i = np.flatnonzero(vol)
            partial.append(_porous(rng, r[i], np.maximum(t_in[i], 0), t_out[i], sh.rate[k[i]], sh.take[k[i]], sh.refl[k[i], 1], sh.cls[k[i]], sh.obj[k[i]]))
    # crowns
    ray, c = _pairs(pxy, *crown_box, cell=2.5)
    for lo_i in range(0, len(ray), 60_000):
        r, k = ray[lo_i : lo_i + 60_000], c[lo_i : lo_i + 60_000]
        hit, t_in, t_out = _crown_chords(o[r], d[r], sh, k)
        i = np.flatnonzero(hit)
        partial.append(_porous(rng, r[i], np.maximum(t_in[i], 0), t_out[i], sh.c_rate[k[i]], sh.c_take[k[i]], sh.c_refl[k[i]], sh.c_cls[k[i]], sh.c_obj[k[i]]))
    on_ground = stop_cls == 0
    stop_gain[on_ground] = ground_refl(gp[on_ground, :2])
    ev = _Events.join(partial) if partial else _empty_events()
    # what lies beyond the opaque surface is never reached; a rim of the object the ray stops on merges into it
    keep = ev.t < stop_t[ev.ray]
    keep &= ~(ev.rim & (ev.obj == stop_obj[ev.ray]))
    ev = _Events(*(getattr(ev, f)[keep] for f in _Events.__dataclass_fields__))
    final = _Events(np.arange(n), stop_t, np.ones(n), stop_gain, stop_cls, stop_obj, np.ones(n, bool), stop_cos, np.zeros(n, bool))
    return _Events.join([ev, final])


def _porous(rng, ray, t_in, t_out, rate, take, refl, cls, obj) -> _Events:
    """Poisson interceptions along chords [t_in, t_out] of porous volumes; leaves face the beam at random angles."""
    m = rng.poisson(rate * np.maximum(t_out - t_in, 0))
    j = np.repeat(np.arange(len(ray)), m)
    t = t_in[j] + rng.random(len(j)) * (t_out[j] - t_in[j])
    share = take[j, 0] + rng.random(len(j)) * (take[j, 1] - take[j, 0])
    cos_inc = rng.uniform(0.3, 1.0, len(j))
    return _Events(ray[j], t, share, refl[j], cls[j], obj[j], np.zeros(len(j), bool), cos_inc, np.zeros(len(j), bool))


def _returns(ev: _Events, n_rays: int, fl: Flight) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The recorded returns of each ray: (event index (R,), return number (R,), energy (R,)), in ray then range order.

    Energy: the share an interception takes of what arrives, times reflectance and orientation; recorded
    above `threshold`, at least `min_separation` beyond the previous return, at most `max_returns`."""
    order = np.argsort(ev.ray * _BIG + ev.t)
    ray = ev.ray[order]
    first = np.r_[True, ray[1:] != ray[:-1]]
    log_left = np.log(np.clip(1 - ev.take[order], 1e-9, 1))
    cum = np.cumsum(log_left)
    start = np.maximum.accumulate(np.where(first, np.arange(len(ray)), 0))
    before = cum - log_left - (cum[start] - log_left[start])  # what earlier interceptions of the ray took (log)
    energy = np.exp(before) * ev.take[order] * ev.gain[order] * ev.cos_inc[order]
    seen = energy >= fl.threshold
    cand = order[seen]
    key = ev.ray[cand] * _BIG + ev.t[cand]
    active = np.unique(ev.ray[cand])
    last = np.full(n_rays, -np.inf)
    out_ev, out_n = [], []
    for number in range(1, fl.max_returns + 1):  # a loop over return numbers
        query = active * _BIG + np.maximum(last[active] + fl.min_separation, 0)
        pos = np.searchsorted(key, query)
        ok = pos < len(key)
        ok[ok] = ev.ray[cand[pos[ok]]] == active[ok]
        active, pos = active[ok], pos[ok]
        if len(active) == 0:
            break
        out_ev.append(cand[pos])
        out_n.append(np.full(len(pos), number))
        last[active] = ev.t[cand[pos]]
    idx = np.concatenate(out_ev) if out_ev else np.zeros(0, np.int64)
    num = np.concatenate(out_n) if out_n else np.zeros(0, np.int64)
    energy_of = np.empty(len(ev.ray))
    energy_of[order] = energy
    o = np.argsort(ev.ray[idx] * _BIG + ev.t[idx])
    return idx[o], num[o], energy_of[idx[o]]


# ----------------------------------------------------------------------------------------------- the flight


def _strip_plan(rng: np.random.Generator, size: float, fl: Flight) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """(along unit vector (2,), right unit vector (2,), the strips' cross positions from the scene centre)."""
    heading = fl.heading if fl.heading is not None else float(rng.choice([0.0, 90.0]) + rng.normal(0, 3.0))
    h = np.radians(heading)
    along = np.array([np.sin(h), np.cos(h)])
    right = np.array([along[1], -along[0]])
    swath = 2 * fl.altitude * np.tan(np.radians(fl.half_angle))
    spacing = swath * (1 - fl.overlap)
    corners = (np.array([[0, 0], [0, 1], [1, 0], [1, 1]]) - 0.5) * size
    cross = corners @ right
    first = rng.uniform(-spacing / 2, spacing / 2)
    k = np.arange(np.floor((cross.min() - swath / 2 - first) / spacing), np.ceil((cross.max() + swath / 2 - first) / spacing) + 1)
    lines = [float(first + i * spacing) for i in k if abs(first + i * spacing) < swath / 2 + size]
    return along, right, lines


def _strip_pulses(rng, size, fl: Flight, along, right, line, direction, z_sensor, z_top, z_ref):
    """The pulses of one strip that can reach the scene: origins (P, 3), directions (P, 3), time from the strip's
    start (P,), scan angle (P,) degrees, edge (P,) bool; in time order. `direction` +1/-1: the way it flies."""
    h_ref = z_sensor - z_ref
    spacing = 1 / np.sqrt(fl.density)
    half = np.radians(fl.half_angle)
    mean_cos2 = 0.5 * (1 + np.sin(2 * half) / (2 * half))
    dtheta = spacing / fl.altitude * mean_cos2  # on the mean ground the spacing across, averaged over the swath, is `spacing`
    n_line = int(np.ceil(2 * half / dtheta))
    theta = -half + (np.arange(n_line) + 0.5) * dtheta
    fwd = along * direction
    rgt = np.array([fwd[1], -fwd[0]])
    centre = np.array([size / 2, size / 2])
    corners = (np.array([[0, 0], [0, 1], [1, 0], [1, 1]]) - 0.5) * size
    a_rng = corners @ fwd
    margin = (z_top - z_ref) * np.tan(half) + 30.0
    line_dt = spacing / fl.speed
    n_lines = int(np.ceil((a_rng.max() - a_rng.min() + 2 * margin) / spacing))
    t_line = np.arange(n_lines) * line_dt
    # attitude: slow roll and pitch (the IMU's, so positions stay true), a constant crab into the wind
    roll_a, pitch_a = np.radians(rng.uniform(0.2, 0.8)), np.radians(rng.uniform(0.1, 0.4))
    per_r, per_p = rng.uniform(6, 15), rng.uniform(5, 12)
    ph = rng.uniform(0, 2 * np.pi, 4)
    crab = np.radians(rng.normal(0, 2.0))
    # the sensor's cross position of this strip; it sits `line` m right of the scene centre (in `along`'s frame)
    line_xy = centre + right * line
    cross_lo, cross_hi = (corners @ rgt).min() - margin, (corners @ rgt).max() + margin
    line_cross = (line_xy - centre) @ rgt
    # the mirror angles that can reach the scene whatever the roll (at most 1.3 x its amplitude)
    reach = np.arctan((np.array([cross_lo, cross_hi]) - line_cross) / h_ref) + np.array([-1.3, 1.3]) * roll_a
    i0 = int(np.clip(np.floor((reach[0] + half) / dtheta) - 1, 0, n_line))
    i1 = int(np.clip(np.ceil((reach[1] + half) / dtheta) + 1, 0, n_line))
    out = []
    for j0 in range(0, n_lines if i1 > i0 else 0, 2000):  # chunks of scan lines
        tj = t_line[j0 : j0 + 2000]
        roll = roll_a * (np.sin(2 * np.pi * tj / per_r + ph[0]) + 0.3 * np.sin(2 * np.pi * tj / (per_r / 3.7) + ph[1]))
        pitch = pitch_a * (np.sin(2 * np.pi * tj / per_p + ph[2]) + 0.3 * np.sin(2 * np.pi * tj / (per_p / 2.9) + ph[3]))
        ang = theta[None, i0:i1] + roll[:, None]
        ground_c = line_cross + h_ref * np.tan(ang)  # rough cross position at the reference plane
        ok = (ground_c > cross_lo) & (ground_c < cross_hi) & (np.abs(ang) < np.radians(40))
        jj, ii = np.nonzero(ok)
        if len(jj) == 0:
            continue
        ang_p, pit = ang[jj, ii], pitch[jj]
        ii = ii + i0
        t = tj[jj] + (ii + 0.5) / n_line * line_dt  # the mirror sweeps the line while the aircraft flies on
        a_pos = a_rng.min() - margin + t * fl.speed
        sensor = line_xy + fwd * a_pos[:, None]
        dc, da, dz = np.sin(ang_p), np.cos(ang_p) * np.sin(pit), -np.cos(ang_p) * np.cos(pit)
        cc, sc = np.cos(crab), np.sin(crab)
        dc, da = cc * dc - sc * da, sc * dc + cc * da
        d = np.c_[dc[:, None] * rgt + da[:, None] * fwd, dz]
        o = np.c_[sensor, np.full(len(t), z_sensor)]
        out.append((o, d, t, np.degrees(ang_p).astype(np.float32), ii == n_line - 1))
    lean = abs(np.tan(crab)), np.tan(pitch_a * 1.3)
    if not out:
        return np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0, np.float32), np.zeros(0, bool), lean
    return (*(np.concatenate([x[i] for x in out]) for i in range(5)), lean)


def _projected_boxes(lo: np.ndarray, hi: np.ndarray, line_xy: np.ndarray, rgt: np.ndarray, z_sensor: float, z_ref: float, slack: float,
                     lean: tuple[float, float]):
    """Each shape's xy box (S, 2) where the rays through it cross the reference plane: stretched away from the
    strip's line by (z - z_ref) / (z_sensor - z), grown by what crab and pitch (lean: their tangents) add, plus `slack` m."""
    corners = np.stack([np.c_[x, y] for x in (lo[:, 0], hi[:, 0]) for y in (lo[:, 1], hi[:, 1])])  # (4, S, 2)
    out_lo, out_hi = lo[:, :2].copy(), hi[:, :2].copy()
    for z in (lo[:, 2], hi[:, 2]):
        k = np.maximum(z - z_ref, 0) / np.maximum(z_sensor - z, 1.0)
        off = ((corners - line_xy) @ rgt)[..., None] * rgt  # cross offset from the line, as a vector
        p = corners + k[None, :, None] * off
        out_lo, out_hi = np.minimum(out_lo, p.min(axis=0)), np.maximum(out_hi, p.max(axis=0))
    far = np.abs((corners - line_xy) @ rgt).max(axis=0)
    k = np.maximum(hi[:, 2] - z_ref, 0) / np.maximum(z_sensor - hi[:, 2], 1.0)
    grow = slack + k * (far * lean[0] + (z_sensor - z_ref) * lean[1])
    return out_lo - grow[:, None], out_hi + grow[:, None]


def simulate_scan(geo: SceneGeometry, seed: int, flight: Flight = Flight(), colour: str | None = None) -> LidarScan:
    """Fly `flight` over a scene's geometry: every strip's pulses traced, returns recorded, noise points added.
    colour: None, or "ortho" (each point the colour of the top-most surface at its xy, as from an orthophoto)."""
    flight.check()
    if colour not in (None, "ortho"):
        raise ValueError(f"colour '{colour}': expected None or 'ortho'")
    rng = np.random.default_rng([seed, 1064])
    size = geo.size
    footprint = flight.altitude * flight.divergence / 2
    sh = _build_shapes(rng, geo, footprint)
    grid = np.linspace(0, size, 41)
    gx, gy = np.meshgrid(grid, grid)
    ground = geo.terrain(gx.ravel(), gy.ravel())
    z_ref, z_mean = float(ground.min()) - 1.0, float(ground.mean())
    z_top = float(max(sh.hi[:, 2].max(initial=z_mean), sh.c_top.max(initial=z_mean)))
    z_sensor = z_mean + flight.altitude
    terrain = _TerrainGrid(geo)
    along, right, lines = _strip_plan(np.random.default_rng([seed, 1064, 0]), size, flight)  # its own stream: the plan stays when shapes change
    centre = np.array([size / 2, size / 2])
    ground_refl = _ground_reflectance(rng, geo)
    scene_gain = rng.uniform(0.8, 1.25)
    t_start = 3.6e8 + rng.uniform(0, 3e7)  # adjusted standard GPS time (GPS seconds - 1e9): a day in 2021-2022
    pieces, pulse_base = [], 0
    for k, line in enumerate(lines):  # a loop over strips
        direction = 1 if k % 2 == 0 else -1
        srng = np.random.default_rng([seed, 1064, k])  # each strip its own stream: strips do not shift each other
        o, d, t, angle, edge, lean = _strip_pulses(srng, size, flight, along, right, line, direction, z_sensor, z_top, z_ref)
        if len(o) == 0:
            continue
        line_xy = np.array([size / 2, size / 2]) + right * line
        rgt = np.array([along[1], -along[0]]) * direction
        pxy = (o + ((z_ref - o[:, 2]) / d[:, 2])[:, None] * d)[:, :2]
        # only pulses that can return a point inside the scene: tall things lean out from the line by up to `reach`
        reach = (z_top - z_ref) / (z_sensor - z_top) * (np.abs((pxy - line_xy) @ rgt).max(initial=0) + 1) + 2.0
        inside = ((pxy > -reach) & (pxy < size + reach)).all(axis=1)
        o, d, t, angle, edge, pxy = o[inside], d[inside], t[inside], angle[inside], edge[inside], pxy[inside]
        solid_box = _projected_boxes(sh.lo, sh.hi, line_xy, rgt, z_sensor, z_ref, 0.3 + footprint, lean)
        c_lo = np.c_[sh.c_centre[:, :2] - sh.c_radius[:, None], sh.c_bottom]
        c_hi = np.c_[sh.c_centre[:, :2] + sh.c_radius[:, None], sh.c_top]
        crown_box = _projected_boxes(c_lo, c_hi, line_xy, rgt, z_sensor, z_ref, 0.3, lean)
        strip_gain = scene_gain * srng.normal(1.0, 0.04)
        offset = np.r_[srng.normal(0, 0.04, 2), srng.normal(0, 0.03)]  # the strip's residual misalignment
        for p0 in range(0, len(o), 50_000):  # chunks of pulses
            sl = slice(p0, p0 + 50_000)
            ev = _trace(srng, terrain, sh, o[sl], d[sl], pxy[sl], solid_box, crown_box, footprint, z_mean, ground_refl)
            idx, number, energy = _returns(ev, len(o[sl]), flight)
            r = ev.ray[idx]
            n_ret = np.bincount(r, minlength=len(o[sl]))[r]
            rng_t = ev.t[idx]
            sigma = flight.range_noise + np.minimum(footprint * np.sqrt(np.maximum(1 / np.maximum(ev.cos_inc[idx], 0.05) ** 2 - 1, 0)) * 0.5, 0.3)
            rng_t = rng_t + srng.normal(0, 1, len(idx)) * sigma
            xyz = o[sl][r] + rng_t[:, None] * d[sl][r] + offset
            slant = (flight.altitude / np.maximum(rng_t, 1.0)) ** 2  # range loss (1 / R^2), 1 at nadir from the altitude
            inten = flight.intensity_scale * strip_gain * energy * slant * srng.lognormal(0, 0.15, len(idx))
            keep = (xyz[:, 0] >= 0) & (xyz[:, 0] <= size) & (xyz[:, 1] >= 0) & (xyz[:, 1] <= size)
            own = np.abs((xyz[keep, :2] - line_xy) @ rgt)
            nearest = np.min([np.abs((xyz[keep, :2] - centre - right * ln) @ right) for ln in lines], axis=0)
            pieces.append(dict(  # compact types: a 500 m scene holds millions of points
                xyz=xyz[keep], cls=ev.cls[idx][keep].astype(np.int8), obj=ev.obj[idx][keep].astype(np.int32),
                intensity=np.clip(np.rint(inten[keep]), 0, 65535).astype(np.uint16), number=number[keep].astype(np.uint8),
                n_ret=n_ret[keep].astype(np.uint8), time=t_start + k * 400.0 + t[sl][r][keep], angle=angle[sl][r][keep],
                strip=np.full(int(keep.sum()), k + 1, np.uint16), edge=edge[sl][r][keep],
                overlap=nearest < own - 1e-6,  # another strip's line is nearer: this is not the place's nadir-most strip
                pulse=(pulse_base + p0 + r[keep]).astype(np.int64),
            ))
        pulse_base += len(o)
    scan = _collect(rng, terrain, pieces, lines, along, right, flight, size)
    if colour == "ortho":
        scan.rgb = _ortho_colours(rng, geo, sh, scan.xyz[:, :2], z_top)
    return scan


def _ground_reflectance(rng: np.random.Generator, geo: SceneGeometry):
    """A function xy (N, 2) -> (N,) ground reflectance: the material's, varied in patches of a few metres (wear)."""
    salt = int(rng.integers(1 << 30))

    def refl(xy: np.ndarray) -> np.ndarray:
        names = geo.ground_materials(xy)
        value = np.zeros(len(xy))
        for name in ("asphalt", "concrete", "grass", "dry_grass", "soil"):  # the ground's materials
            value[names == name] = REFLECTANCE[name][0]
        cell = (np.floor(xy / 3.0).astype(np.int64) * [73856093, 19349663]).sum(axis=1) ^ salt
        wear = 1 + 0.15 * ((cell * 2654435761 % 1000) / 1000.0 - 0.5)
        return value * wear

    return refl


def _collect(rng, terrain: "_TerrainGrid", pieces: list[dict], lines, along, right, fl: Flight, size: float) -> LidarScan:
    """Join the strips' returns (each in time order, strips one after another), add noise points, set codes."""
    cat = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]} if pieces else None
    if cat is None:
        raise ValueError("no pulse reached the scene: check the flight's altitude, scan angle and overlap")
    n = len(cat["xyz"])
    # outliers: low points (multipath) under the ground, high points (birds, haze) far above it, at a pulse's time
    n_low, n_high = rng.poisson(fl.low_noise * n), rng.poisson(fl.high_noise * n)
    m = n_low + n_high
    pick = np.sort(rng.integers(0, max(n, 1), m))
    nxy = rng.uniform(0, size, (m, 2))
    nz = terrain(nxy[:, 0], nxy[:, 1]) + np.r_[-rng.uniform(0.5, 15, n_low), rng.uniform(20, 250, n_high)][rng.permutation(m)]
    noise = dict(
        xyz=np.c_[nxy, nz], cls=np.where(nz < terrain(nxy[:, 0], nxy[:, 1]), -1, -2).astype(np.int8), obj=np.full(m, IGNORE_LABEL, np.int32),
        intensity=rng.uniform(50, 2000, m).astype(np.uint16), number=np.ones(m, np.uint8), n_ret=np.ones(m, np.uint8),
        time=cat["time"][pick], angle=cat["angle"][pick], strip=cat["strip"][pick], edge=np.zeros(m, bool),
        overlap=np.zeros(m, bool), pulse=np.full(m, -1, np.int64),
    )
    at = pick + 1  # each just after the return whose time it takes: the file stays in time order
    cat = {k: np.insert(cat[k], at, noise[k], axis=0) for k in cat}
    cls = cat["cls"].astype(np.int64)
    labels = np.where(cls >= 0, cls, IGNORE_LABEL)
    codes = np.where(cls >= 0, ASPRS_OF_CLASS[np.clip(cls, 0, 14)], np.where(cls == -1, LOW_NOISE, HIGH_NOISE)).astype(np.uint8)
    centre = np.array([size / 2, size / 2])
    return LidarScan(
        xyz=cat["xyz"], labels=labels, codes=codes, instance=np.where(labels > 0, cat["obj"], IGNORE_LABEL).astype(np.int64),
        intensity=cat["intensity"], return_number=cat["number"], number_of_returns=cat["n_ret"], gps_time=cat["time"],
        scan_angle=cat["angle"].astype(np.float32), strip=cat["strip"], edge=cat["edge"].astype(bool), overlap=cat["overlap"],
        pulse=cat["pulse"], rgb=None, strip_lines=[(centre + right * ln, along) for ln in lines], size=size,
    )


def _ortho_colours(rng, geo: SceneGeometry, sh: _Shapes, xy: np.ndarray, z_top: float) -> np.ndarray:
    """(N, 3) uint8: the colour of the top-most surface at each xy (N, 2), as a true orthophoto shows it:
    crowns over the ground under them, roofs, car roofs, the ground's material colour."""
    n = len(xy)
    o = np.c_[xy, np.full(n, z_top + 10.0)]
    d = np.tile([0.0, 0.0, -1.0], (n, 1))
    rgb = _ground_colours(geo, xy)
    best = np.full(n, np.inf)
    ray, s = _pairs(xy, sh.lo[:, :2], sh.hi[:, :2], 4.0)
    for lo_i in range(0, len(ray), 60_000):
        r, k = ray[lo_i : lo_i + 60_000], s[lo_i : lo_i + 60_000]
        hit, t_in, _, face = _convex(o[r], d[r], sh.planes[:, :, k])
        hit &= t_in < best[r]
        order = np.lexsort((-t_in[hit], r[hit]))
        i = np.flatnonzero(hit)[order]
        best[r[i]] = t_in[i]
        rgb[r[i]] = sh.rgb[k[i], np.where(face[i] >= 5, 1, 0)]
    c_lo, c_hi = sh.c_centre[:, :2] - sh.c_radius[:, None], sh.c_centre[:, :2] + sh.c_radius[:, None]
    ray, c = _pairs(xy, c_lo, c_hi, 4.0)
    for lo_i in range(0, len(ray), 60_000):
        r, k = ray[lo_i : lo_i + 60_000], c[lo_i : lo_i + 60_000]
        hit, t_in, _ = _crown_chords(o[r], d[r], sh, k)
        hit &= t_in < best[r]
        order = np.lexsort((-t_in[hit], r[hit]))
        i = np.flatnonzero(hit)[order]
        best[r[i]] = t_in[i]
        rgb[r[i]] = sh.c_rgb[k[i]]
    rgb = rgb * rng.uniform(0.9, 1.1) + rng.normal(0, 6.0, rgb.shape)  # the photo's light; per-pixel noise
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _ground_colours(geo: SceneGeometry, xy: np.ndarray) -> np.ndarray:
    names = geo.ground_materials(xy)
    uniq = np.unique(names)
    mean = np.array([MATERIALS[str(u)][0] for u in uniq], float)
    return mean[np.searchsorted(uniq, names)].copy()


def make_lidar_scene(seed: int, size: float = 500.0, flight: Flight = Flight(), colour: str | None = None) -> LidarScan:
    """A seeded airborne LiDAR scan of the city make_scene(seed, size) draws (the same plan and objects)."""
    return simulate_scan(scene_geometry(seed, size), seed, flight, colour)


__all__ = ["ASPRS_OF_CLASS", "HIGH_NOISE", "LOW_NOISE", "REFLECTANCE", "Flight", "LidarScan", "make_lidar_scene", "simulate_scan"]
