"""Clouds that real aerial surveys contain: a stray point, identical points, a flat car park, a far outlier.

A 2x2x2 stride-2 conv shrinks an axis of s cells to (s - 2) // 2 + 1; without the U-Net's grid guard
a patch thinner than 2**(levels - 1) voxels on an axis made spconv abort ("out spatial shape ... ratch zero").
"""

import numpy as np
import pytest
import torch

from pointseg.config import Config, load_config
from pointseg.data.features import PatchSample, collate
from pointseg.data.voxelize import voxelize
from pointseg.predict.stitch import predict_scene
from pointseg.io.scene import Scene
from pointseg.models import build_model

ORIGIN = np.array([500000.0, 4000000.0, 100.0])


def small_cfg():
    # 3 downsamplings: an axis needs 8 cells without the guard
    return load_config(None, ["data.voxel_size=0.25", "model.channels=[8,16,24,32]", "model.head_hidden=8"])


def model_predictor(cfg: Config):
    torch.manual_seed(0)
    model = build_model(cfg).eval()

    @torch.no_grad()
    def predict(batch):
        return torch.softmax(model(batch), dim=1)

    return predict


def town(n: int = 2000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.c_[rng.uniform(0, 40, n), rng.uniform(0, 40, n), rng.uniform(0, 12, n)]


CLOUDS = {
    "one point": np.zeros((1, 3)),
    "identical points": np.zeros((7, 3)) + [3.0, 4.0, 5.0],
    "flat car park (z range 0.3 m)": np.c_[np.random.default_rng(1).uniform(0, 40, (500, 2)), np.random.default_rng(2).uniform(0, 0.3, 500)],
    "outlier 45 m away": np.r_[town(), [[85.0, 20.0, 6.0]]],
    "outlier 45 m above": np.r_[town(), [[20.0, 20.0, 57.0]]],
}


@pytest.mark.parametrize("name", list(CLOUDS))
def test_every_point_of_a_real_world_cloud_gets_a_label(name):
    xyz = CLOUDS[name] + ORIGIN
    rgb = np.random.default_rng(3).integers(0, 256, (len(xyz), 3)).astype(np.uint8)
    cfg = small_cfg()
    labels, confidence, _, _ = predict_scene(Scene(f"{name}.txt", xyz, rgb), model_predictor(cfg), cfg)
    assert labels.shape == (len(xyz),) and labels.max() < 15
    assert np.isfinite(confidence).all() and (confidence > 0).all()


def test_training_step_on_thin_patches():
    """Augmentation can thin a patch; the training forward and backward take the same guard."""
    cfg = small_cfg()
    torch.manual_seed(0)
    model = build_model(cfg).train()
    rng = np.random.default_rng(0)
    samples = []
    for xyz in (CLOUDS["flat car park (z range 0.3 m)"], np.zeros((3, 3)) + [1.0, 1.0, 0.1]):
        v = voxelize(xyz, cfg.data.voxel_size)
        feats = rng.random((len(xyz), 6)).astype(np.float32)
        samples.append(PatchSample.from_points(v.coords, v.inverse, feats, rng.integers(0, 15, len(xyz)), np.arange(len(xyz))))
    batch = collate(samples)
    assert batch.spatial_shape[2] < 8  # thinner than 2**3 voxels in z
    logits = model(batch)
    torch.nn.functional.cross_entropy(logits, batch.labels).backward()
    assert logits.shape == (len(batch.labels), 15) and torch.isfinite(logits).all()
