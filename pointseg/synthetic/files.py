"""Write synthetic scenes as STPLS3D files (`N_points_GTv3.txt`)."""

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from pointseg.errors import InputError
from pointseg.io import write_stpls3d_txt
from pointseg.io.ownership import check_replaceable
from pointseg.processes import exit_with_parent
from pointseg.synthetic.city import make_scene

# A georeferenced-looking origin (UTM-like metres): float32 would lose centimetres here.
DEFAULT_ORIGIN = (500000.0, 4000000.0, 100.0)


def write_synthetic_scenes(out: str | Path, scenes: list[int], size: float = 500.0, density: float = 9.0, seed: int = 0,
                           colour: str = "material") -> list[Path]:
    """Write one labelled scene per number in `scenes`; scene n uses seed (seed, n). Returns the paths.
    colour: "material" (realistic, the default) or "class" (each class its own colour: easy scenes)."""
    out = Path(out)
    refuse_existing(out, scenes)
    paths = []
    for n in scenes:
        s = make_scene(seed * 100003 + n, size, density, DEFAULT_ORIGIN, colour)
        path = scene_path(out, n)
        write_stpls3d_txt(path, s.xyz, s.rgb, s.labels, s.instance)
        paths.append(path)
    return paths


def ensure_scenes(out: str | Path, scenes: list[int], size: float = 500.0, density: float = 9.0, seed: int = 0,
                  colour: str = "material", workers: int = 1) -> list[Path]:
    """The scene files of numbers `scenes` in `out`, writing those that are missing (with `workers` processes).
    Scenes already there are used as they are; returns every scene's path."""
    missing = [n for n in scenes if not scene_path(out, n).is_file()]
    if missing:
        refuse_existing(out, missing)  # before any worker writes
        args = [(out, [n], size, density, seed, colour) for n in missing]
        if workers > 1 and len(missing) > 1:
            with ProcessPoolExecutor(min(workers, len(missing)), initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
                list(pool.map(write_synthetic_scenes, *zip(*args)))
        else:
            for a in args:
                write_synthetic_scenes(*a)
    return [scene_path(out, n) for n in scenes]


def scene_path(out: str | Path, n: int) -> Path:
    return Path(out) / f"{n}_points_GTv3.txt"


def refuse_existing(out: str | Path, scenes: list[int], path_of=scene_path) -> None:
    """Raise OutputExistsError if a scene file to be written (path_of(out, n)) exists and pointseg did not write it: it may
    be a user's real scene (checked for all scenes before any is written)."""
    check_replaceable(*(path_of(out, n) for n in scenes),
                      hint="synthetic scenes never replace a scene file pointseg did not write: choose another --out")


def parse_scene_numbers(text: str) -> list[int]:
    """'1-5,10' -> [1, 2, 3, 4, 5, 10]."""
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.strip().partition("-")
        if not a.isdigit() or (b and not b.isdigit()):
            raise InputError(f"scene numbers '{text}': expected a list like '1-5,10'")
        out += list(range(int(a), int(b or a) + 1))
    return out


def write_tiles(scene, n: int, folder: str | Path, size: float, origin: tuple[float, float, float] = DEFAULT_ORIGIN) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Cut a SyntheticScene of side `size` (placed at `origin`) into n x n STPLS3D tiles `tile_<a>_<b>.txt` in folder,
    with edges 0.37 m off the regular cut (off any patch lattice). Returns ({tile name: its point indices (m,)}, edges (n-1,))."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    edges = np.linspace(0, size, n + 1)[1:-1] + 0.37
    ix = np.searchsorted(edges + origin[0], scene.xyz[:, 0])
    iy = np.searchsorted(edges + origin[1], scene.xyz[:, 1])
    members = {}
    for a in range(n):  # a loop over tiles
        for b in range(n):
            idx = np.flatnonzero((ix == a) & (iy == b))
            write_stpls3d_txt(folder / f"tile_{a}_{b}.txt", scene.xyz[idx], scene.rgb[idx], scene.labels[idx], scene.instance[idx])
            members[f"tile_{a}_{b}"] = idx
    return members, edges
