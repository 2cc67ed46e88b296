"""A synthetic scene as shapes instead of points, for sensors that trace rays (synthetic/lidar.py).

scene_geometry(seed, size) runs city.py's plan and object generators as make_scene does (the same random draws,
so the same city) while the helpers record their calls; the calls are grouped into Primitives per class.
"""

from dataclasses import dataclass

import numpy as np

from pointseg.synthetic import city
from pointseg.synthetic.layout import Terrain


@dataclass
class Primitives:
    """K objects' parts of one shape from one helper call, all of class `cls`.

    shape 'box': centre (K, 3) the middle of the base, dims (K, 3) length along yaw, width, height, yaw (K,);
    'crown': base (K, 3), radius (K,), height (K,) above the base, shape (K,) 0 ellipsoid, 1 cone, 2 umbrella;
    'pole': base (K, 3), radius (K,), height (K,). object (K,): the object each belongs to within its class's
    group (a car's body and cabin share one); kind: its layout.OBJECT_MATERIALS key.
    """

    shape: str
    cls: int
    kind: str
    params: dict[str, np.ndarray]
    object: np.ndarray


@dataclass
class SceneGeometry:
    """What a scene is made of, for sensors that trace rays (synthetic/lidar.py): the plan (terrain, roads,
    buildings in their own frames) and every other object as primitives; positions in local metres."""

    size: float
    plan: city._City  # terrain, roads, buildings and the occupancy rasters
    primitives: list[Primitives]

    @property
    def terrain(self) -> Terrain:
        return self.plan.terrain

    @property
    def buildings(self) -> city._Buildings:
        return self.plan.buildings

    def ground_materials(self, xy: np.ndarray) -> np.ndarray:
        """(N,) layout.MATERIALS name of the ground at positions (N, 2)."""
        return city._ground_materials(self.plan, xy)


def scene_geometry(seed: int, size: float = 500.0, density: float = 9.0) -> SceneGeometry:
    """The geometry of make_scene(seed, size, density): the same city, as shapes instead of points."""
    city._recorded = []
    try:
        plan, _ = city._build(np.random.default_rng(seed), size, density)
        calls = city._recorded
    finally:
        city._recorded = None
    return SceneGeometry(size, plan, _primitives(calls))


def _primitives(calls: list) -> list[Primitives]:
    """Group the helpers' calls by the part that follows them; a part's object index is its helpers'
    indices, each call's shifted by one constant (its points are the calls' points in call order)."""
    out, pending = [], []
    for helper, params, obj in calls:
        if helper != "part":
            pending.append((helper, params, obj))
            continue
        start = 0
        for shape, p, own in pending:
            shift = int(obj[start] - own[0])
            if not np.array_equal(obj[start : start + len(own)], own + shift):
                raise RuntimeError("city.py: a part's points are not its helpers' points in call order")
            out.append(Primitives(shape, int(params["cls"]), str(params["kind"]), p, np.arange(len(next(iter(p.values())))) + shift))
            start += len(own)
        if start != len(obj):
            raise RuntimeError("city.py: a part holds points no helper made")
        pending = []
    return out
