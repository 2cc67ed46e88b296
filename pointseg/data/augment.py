"""Training augmentation on a patch's points (about its centre): rotation about z, flips, scale, colour jitter,
intensity gain, return numbers dropped (as in files whose returns were stripped)."""

import dataclasses

import numpy as np

from pointseg.config import AugmentConfig
from pointseg.data.features import PointAttributes


def augment(xyz: np.ndarray, attributes: PointAttributes, centre: np.ndarray, cfg: AugmentConfig,
            rng: np.random.Generator) -> tuple[np.ndarray, PointAttributes]:
    """Transformed copies of xyz (N, 3) float32 and of the points' attributes (numpy): rgb (N, 3) float32 in 0..255,
    intensity times a gain, returns set to 1 of 1, height above ground scaled with z (None stays None)."""
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
    out = dataclasses.replace(attributes)
    if attributes.rgb is not None:
        out.rgb = np.asarray(attributes.rgb, np.float32)
        if cfg.color_jitter > 0:
            out.rgb = np.clip(out.rgb + rng.normal(0, cfg.color_jitter * 255, out.rgb.shape).astype(np.float32), 0, 255)
    if attributes.hag is not None:
        out.hag = np.asarray(attributes.hag, np.float32) * scale
    if attributes.intensity is not None and cfg.intensity_gain:
        out.intensity = np.asarray(attributes.intensity, np.float32) * np.float32(rng.uniform(*cfg.intensity_gain))
    if attributes.returns is not None and cfg.drop_returns > 0 and rng.random() < cfg.drop_returns:
        out.returns = np.ones_like(attributes.returns)
    return xyz, out
