"""The ground plan of a synthetic city scene: terrain relief, a road grid, blocks with uses, and materials.

Everything here works on arrays of positions; nothing loops over points. Positions are local metres
in [0, size] x [0, size].
"""

from dataclasses import dataclass

import numpy as np

# Materials: mean rgb (0..255) and the spread of one object's tint around it. Several classes share each
# material, as in real photogrammetry: roads and grey roofs are both grey, grass ground and all
# vegetation green, wooden fences and soil brown.
MATERIALS: dict[str, tuple[tuple[int, int, int], float]] = {
    "asphalt": ((92, 92, 96), 12),
    "concrete": ((158, 155, 148), 16),
    "grass": ((92, 122, 62), 16),
    "dry_grass": ((138, 132, 82), 16),
    "soil": ((128, 104, 80), 16),
    "roof_red": ((150, 74, 60), 18),
    "roof_grey": ((104, 104, 108), 18),
    "roof_dark": ((72, 72, 78), 12),
    "roof_light": ((178, 176, 170), 14),
    "wall_beige": ((196, 182, 156), 16),
    "wall_white": ((212, 210, 204), 10),
    "wall_grey": ((140, 138, 134), 14),
    "foliage": ((72, 102, 52), 16),
    "foliage_light": ((104, 132, 70), 16),
    "foliage_dark": ((48, 74, 42), 12),
    "paint_white": ((222, 222, 222), 10),
    "paint_black": ((38, 38, 42), 8),
    "paint_silver": ((166, 168, 172), 12),
    "paint_red": ((160, 42, 40), 20),
    "paint_blue": ((44, 62, 138), 20),
    "paint_green": ((60, 110, 62), 16),
    "olive": ((88, 92, 58), 10),
    "sand": ((172, 152, 112), 12),
    "metal": ((138, 140, 144), 16),
    "wood": ((128, 96, 62), 16),
}

# The materials each kind of object is made of (one drawn per object).
OBJECT_MATERIALS: dict[str, tuple[str, ...]] = {
    "roof": ("roof_red", "roof_grey", "roof_grey", "roof_dark", "roof_light", "concrete"),
    "wall": ("wall_beige", "wall_white", "wall_grey", "concrete"),
    "vegetation": ("foliage", "foliage_light", "foliage_dark", "grass", "dry_grass"),
    "vehicle": ("paint_white", "paint_black", "paint_silver", "paint_red", "paint_blue", "paint_green", "roof_grey"),
    "truck": ("paint_white", "paint_silver", "paint_red", "paint_blue", "roof_grey", "concrete"),
    "military": ("olive", "sand", "foliage_dark", "roof_grey"),
    "aircraft": ("paint_white", "paint_silver", "concrete"),
    "bike": ("paint_black", "paint_silver", "paint_red", "paint_blue", "metal"),
    "street": ("metal", "metal", "roof_grey", "concrete", "wood"),
    "sign": ("paint_white", "paint_blue", "paint_red", "paint_green", "metal"),
    "fence": ("wood", "metal", "concrete", "wall_white", "foliage_dark"),
    "clutter": ("metal", "wood", "concrete", "paint_green", "paint_blue", "soil"),
}

ROAD, SIDEWALK, BLOCK = 0, 1, 2
BUILT, PARK, PARKING, APRON = 0, 1, 2, 3  # block uses


def material_colours(rng: np.random.Generator, names: np.ndarray, per_point_noise: float = 9.0) -> np.ndarray:
    """(N, 3) float rgb for N points given each point's material name (N,) str, with per-point noise."""
    out = np.empty((len(names), 3))
    for name in np.unique(names):  # a loop over materials (tens), not points
        sel = names == name
        out[sel] = MATERIALS[str(name)][0]
    return out + rng.normal(0, per_point_noise, out.shape)


def object_tints(rng: np.random.Generator, kind: str, n_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """For n objects of a kind: (material name (n,) str, rgb (n, 3) float: material mean plus the object's tint)."""
    names = rng.choice(OBJECT_MATERIALS[kind], n_objects)
    base = np.array([MATERIALS[n][0] for n in names], float).reshape(-1, 3)
    spread = np.array([MATERIALS[n][1] for n in names], float)
    return names, base + rng.normal(0, 1, (n_objects, 3)) * spread[:, None]


class Terrain:
    """Smooth relief: a tilt plus a few sinusoids, scaled so the steepest slope stays under `max_slope_deg`."""

    def __init__(self, rng: np.random.Generator, size: float, max_slope_deg: float = 15.0):
        n = 5
        wavelength = rng.uniform(0.4, 1.5, n) * max(size, 60.0)
        direction = rng.uniform(0, 2 * np.pi, n)
        self.k = (2 * np.pi / wavelength)[:, None] * np.c_[np.cos(direction), np.sin(direction)]
        self.phase = rng.uniform(0, 2 * np.pi, n)
        amp = rng.uniform(0.3, 1.0, n)
        tilt = rng.normal(0, 1, 2)
        # the slope is at most |tilt| + sum a_i |k_i|: scale both to a drawn steepness (flat towns to hills)
        steep = np.tan(np.radians(rng.uniform(0.1, 1.0) * max_slope_deg))
        bound = np.hypot(*tilt) * 0.5 + (amp * np.hypot(self.k[:, 0], self.k[:, 1])).sum()
        self.amp = amp * steep / bound
        self.tilt = tilt * 0.5 * steep / bound

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        h = self.tilt[0] * x + self.tilt[1] * y
        for k, p, a in zip(self.k, self.phase, self.amp):
            h = h + a * np.sin(k[0] * x + k[1] * y + p)
        return h


@dataclass
class RoadGrid:
    """Two families of parallel roads, rotated by `angle` about the scene centre.

    In the rotated frame (u, v), family 0 runs along u at v = v_lines, family 1 along v at u = u_lines.
    """

    centre: np.ndarray
    angle: float
    u_lines: np.ndarray
    v_lines: np.ndarray
    width: float
    sidewalk: float

    def to_frame(self, xy: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.angle), np.sin(self.angle)
        d = xy - self.centre
        return np.c_[c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]]

    def from_frame(self, uv: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.angle), np.sin(self.angle)
        return np.c_[c * uv[:, 0] - s * uv[:, 1], s * uv[:, 0] + c * uv[:, 1]] + self.centre

    def distance(self, xy: np.ndarray) -> np.ndarray:
        """(N,) distance to the nearest road centre line."""
        uv = self.to_frame(xy)
        du = np.abs(uv[:, 0, None] - self.u_lines[None]).min(axis=1)
        dv = np.abs(uv[:, 1, None] - self.v_lines[None]).min(axis=1)
        return np.minimum(du, dv)

    def block_of(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) int: the block (between consecutive road lines) each position lies in."""
        uv = self.to_frame(xy)
        return np.c_[np.searchsorted(self.u_lines, uv[:, 0]), np.searchsorted(self.v_lines, uv[:, 1])]

    def kerb_positions(self, rng: np.random.Generator, n: int, offset: float, half_extent: float) -> tuple[np.ndarray, np.ndarray]:
        """n positions along random roads, `offset` metres from the centre line on a random side:
        (xy (n, 2), heading (n,) along the road)."""
        family = rng.integers(0, 2, n)
        along = rng.uniform(-half_extent, half_extent, n)
        side = rng.choice([-1.0, 1.0], n) * offset
        line_v = self.v_lines[rng.integers(0, len(self.v_lines), n)]
        line_u = self.u_lines[rng.integers(0, len(self.u_lines), n)]
        uv = np.where(family[:, None] == 0, np.c_[along, line_v + side], np.c_[line_u + side, along])
        heading = self.angle + np.where(family == 0, 0.0, np.pi / 2) + rng.choice([0.0, np.pi], n)
        return self.from_frame(uv), heading


def make_roads(rng: np.random.Generator, size: float) -> RoadGrid:
    """A road grid with 60-160 m blocks; at least one road crosses the scene."""
    centre = np.array([size / 2, size / 2])
    half = size * 0.75 + 200
    lines = []
    for _ in range(2):
        spacing = rng.uniform(60, 160)
        first = rng.uniform(-0.3, 0.3) * size  # one line near the centre, so small scenes have a road
        lines.append(np.sort(np.r_[np.arange(first, -half, -spacing), np.arange(first + spacing, half, spacing)]))
    return RoadGrid(centre, rng.uniform(0, np.pi / 2), lines[0], lines[1], rng.uniform(6, 12), rng.uniform(1.5, 3.5))


def block_uses(blocks: np.ndarray, salt: int) -> np.ndarray:
    """(N,) use of each block id (N, 2): mostly built-up, some parks and car parks, rarely an apron.
    The use is a hash of the block id and the scene's salt, so every position in a block agrees."""
    h = (blocks[:, 0] * 73856093 ^ blocks[:, 1] * 19349663 ^ salt) % 1000
    return np.select([h < 600, h < 800, h < 950], [BUILT, PARK, PARKING], APRON)
