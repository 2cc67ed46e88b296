"""Write synthetic scenes as STPLS3D files (`N_points_GTv3.txt`)."""

from pathlib import Path

from pointseg.data.synthetic import make_scene
from pointseg.io import write_stpls3d_txt

# A georeferenced-looking origin (UTM-like metres): float32 would lose centimetres here.
DEFAULT_ORIGIN = (500000.0, 4000000.0, 100.0)


def write_synthetic_scenes(out: str | Path, scenes: list[int], size: float = 500.0, density: float = 9.0, seed: int = 0) -> list[Path]:
    """Write one labelled scene per number in `scenes`; scene n uses seed (seed, n). Returns the paths."""
    out = Path(out)
    paths = []
    for n in scenes:
        s = make_scene(seed * 100003 + n, size, density, DEFAULT_ORIGIN)
        path = out / f"{n}_points_GTv3.txt"
        write_stpls3d_txt(path, s.xyz, s.rgb, s.labels, s.instance)
        paths.append(path)
    return paths
