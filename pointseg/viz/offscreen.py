"""An oblique perspective view through Open3D's offscreen renderer (Filament), where it works.

Open3D's pip wheels render offscreen through Vulkan: on a machine without a GPU that needs the Vulkan
loader and Mesa's software driver (Debian: `apt-get install libvulkan1 mesa-vulkan-drivers`). Without
the loader the renderer raises; with a loader but no usable driver Filament aborts the whole process.
So `render_oblique` renders in a child process (`python -m pointseg.viz.offscreen`) and raises
OffscreenUnavailable, with that advice, whenever the child fails.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ADVICE = "install the Vulkan loader and Mesa's software driver (Debian/Ubuntu: apt-get install libvulkan1 mesa-vulkan-drivers)"


class OffscreenUnavailable(RuntimeError):
    """Open3D's offscreen renderer cannot run on this machine."""


def render_oblique(xyz: np.ndarray, colours: np.ndarray, width: int = 900, height: int = 600,
                   background: tuple[int, int, int] = (24, 24, 28), timeout: float = 600.0) -> np.ndarray:
    """(height, width, 3) uint8: the cloud xyz (N, 3) in colours (N, 3) uint8, seen from the south-west, 40° down,
    rendered in a child process (a crash there cannot take the caller down)."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory(prefix="pointseg-offscreen-") as tmp:
        np.save(Path(tmp) / "xyz.npy", np.asarray(xyz, np.float64) - np.asarray(xyz, np.float64).min(axis=0))
        np.save(Path(tmp) / "colours.npy", np.asarray(colours, np.uint8))
        cmd = [sys.executable, "-m", "pointseg.viz.offscreen", tmp, str(width), str(height), *map(str, background)]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise OffscreenUnavailable(f"Open3D offscreen rendering did not finish within {timeout:g} s; {ADVICE}") from None
        image_path = Path(tmp) / "image.npy"
        if result.returncode != 0 or not image_path.is_file():
            lines = [ln for ln in result.stderr.splitlines() if ln.strip() and not ln.startswith("[Open3D")]
            why = "; ".join(lines[-2:]) or f"exit status {result.returncode}"
            raise OffscreenUnavailable(f"Open3D offscreen rendering does not work here ({why}); {ADVICE}")
        return np.load(image_path)


def _render_here(xyz: np.ndarray, colours: np.ndarray, width: int, height: int, background: tuple[int, int, int],
                 point_size: float = 3.0) -> np.ndarray:
    """The rendering itself, in this process (the child of render_oblique)."""
    try:
        import open3d as o3d

        renderer = o3d.visualization.rendering.OffscreenRenderer(width, height)
    except Exception as err:  # ImportError, or RuntimeError('Failed to load vulkan library!') and the like
        raise OffscreenUnavailable(f"Open3D offscreen rendering does not work here ({err}); {ADVICE}") from None
    local = np.asarray(xyz, np.float64)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(local))
    # Filament treats vertex colours as linear light and encodes sRGB on output: undo that, so the
    # picture shows the palette's own colours
    cloud.colors = o3d.utility.Vector3dVector((np.asarray(colours, np.float64) / 255.0) ** 2.2)
    material = o3d.visualization.rendering.MaterialRecord()
    material.shader, material.point_size = "defaultUnlit", point_size
    renderer.scene.set_background([*((np.array(background) / 255.0) ** 2.2), 1.0])
    renderer.scene.add_geometry("cloud", cloud, material)
    centre = (local.min(axis=0) + local.max(axis=0)) / 2
    reach = float(np.ptp(local[:, :2], axis=0).max())
    renderer.setup_camera(40.0, centre, centre + np.array([-0.5, -0.9, 0.85]) * reach * 1.1, [0.0, 0.0, 1.0])
    image = np.asarray(renderer.render_to_image())[:, :, :3].copy()
    del renderer
    return image


if __name__ == "__main__":  # python -m pointseg.viz.offscreen DIR WIDTH HEIGHT R G B (run by render_oblique)
    folder, w, h = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    bg = tuple(int(v) for v in sys.argv[4:7])
    try:
        picture = _render_here(np.load(folder / "xyz.npy"), np.load(folder / "colours.npy"), w, h, bg)
    except OffscreenUnavailable as err:
        sys.exit(str(err))
    np.save(folder / "image.npy", picture)
