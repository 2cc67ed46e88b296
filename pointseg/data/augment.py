"""Training augmentation on a patch's points (about its centre): rotation about z, flips, scale, colour jitter."""

import numpy as np

from pointseg.config import AugmentConfig


def augment(xyz: np.ndarray, rgb: np.ndarray | None, centre: np.ndarray, cfg: AugmentConfig,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """Return transformed copies of xyz (N, 3) float32 and rgb (N, 3) float32 in 0..255 (None stays None)."""
    xyz = np.asarray(xyz, np.float32).copy()
    x, y = xyz[:, 0] - centre[0], xyz[:, 1] - centre[1]
    if cfg.rotate_z:
        a = rng.uniform(0, 2 * np.pi)
        c, s = np.float32(np.cos(a)), np.float32(np.sin(a))
        x, y = c * x - s * y, s * x + c * y
    if cfg.flip:
        if rng.random() < 0.5:
            x = -x
        if rng.random() < 0.5:
            y = -y
    scale = np.float32(rng.uniform(cfg.scale[0], cfg.scale[1])) if cfg.scale else np.float32(1)
    xyz[:, 0], xyz[:, 1] = x * scale + centre[0], y * scale + centre[1]
    z0 = xyz[:, 2].min()
    xyz[:, 2] = (xyz[:, 2] - z0) * scale + z0
    if rgb is None:
        return xyz, None
    colour = np.asarray(rgb, np.float32)
    if cfg.color_jitter > 0:
        colour = np.clip(colour + rng.normal(0, cfg.color_jitter * 255, colour.shape).astype(np.float32), 0, 255)
    return xyz, colour
