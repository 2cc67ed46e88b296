"""An oblique perspective view through Open3D's offscreen renderer (Filament), where it works.

Open3D's pip wheels render offscreen through Vulkan: on a machine without a GPU that needs the Vulkan
loader and Mesa's software driver (Debian: `apt-get install libvulkan1 mesa-vulkan-drivers`). Without
them the renderer cannot start; `render_oblique` then raises OffscreenUnavailable with that advice.
"""

import numpy as np

ADVICE = "install the Vulkan loader and Mesa's software driver (Debian/Ubuntu: apt-get install libvulkan1 mesa-vulkan-drivers)"


class OffscreenUnavailable(RuntimeError):
    """Open3D's offscreen renderer cannot run on this machine."""


def render_oblique(xyz: np.ndarray, colours: np.ndarray, width: int = 900, height: int = 600,
                   background: tuple[int, int, int] = (24, 24, 28), point_size: float = 3.0) -> np.ndarray:
    """(height, width, 3) uint8: the cloud xyz (N, 3) in colours (N, 3) uint8, seen from the south-west, 40° down."""
    try:
        import open3d as o3d

        renderer = o3d.visualization.rendering.OffscreenRenderer(width, height)
    except Exception as err:  # ImportError, or RuntimeError('Failed to load vulkan library!') and the like
        raise OffscreenUnavailable(f"Open3D offscreen rendering does not work here ({err}); {ADVICE}") from None
    local = np.asarray(xyz, np.float64) - np.asarray(xyz, np.float64).min(axis=0)
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
