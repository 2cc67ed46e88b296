"""The SMRF ground filter on hand-made terrain, and the LiDAR features (return numbers, height above ground, intensity
by the scene's own scale) through prepare, the training dataset and inference."""

import numpy as np
import pytest
import torch

from pointseg.baselines.smrf import last_or_only, smrf
from pointseg.config import load_config
from pointseg.data.features import PointAttributes, point_features


def hand_made_terrain(seed=0):
    """A 60 m x 60 m slope (5 %) sampled every 0.5 m, a 20 m x 20 m building 10 m tall, a tree crown 5-15 m above the
    ground, and one low outlier 5 m under the ground. Returns xyz (N, 3) and the kind of each point
    (0 ground, 1 roof, 2 tree, 3 outlier)."""
    rng = np.random.default_rng(seed)
    g = np.arange(0, 60, 0.5)
    x, y = np.meshgrid(g, g)
    x, y = x.ravel(), y.ravel()
    terrain = 0.05 * x
    on_building = (x >= 20) & (x < 40) & (y >= 20) & (y < 40)
    ground = np.c_[x[~on_building], y[~on_building], terrain[~on_building] + rng.normal(0, 0.02, (~on_building).sum())]
    roof = np.c_[x[on_building], y[on_building], np.full(on_building.sum(), terrain[on_building].max() + 10)]
    t = rng.uniform(0, 2 * np.pi, 400)
    r = rng.uniform(0, 4, 400)
    tree = np.c_[8 + r * np.cos(t), 50 + r * np.sin(t), 0.05 * 8 + rng.uniform(5, 15, 400)]
    outlier = np.array([[45.0, 10.0, 0.05 * 45 - 5]])
    xyz = np.concatenate([ground, roof, tree, outlier])
    kind = np.repeat([0, 1, 2, 3], [len(ground), len(roof), len(tree), 1])
    return xyz, kind


@pytest.mark.parametrize("footprint", ["disk", "square"])
def test_smrf_finds_the_ground_of_a_hand_made_scene(footprint):
    xyz, kind = hand_made_terrain()
    g = smrf(xyz, footprint=footprint)
    assert g.ground[kind == 0].mean() > 0.995  # the slope is ground
    assert not g.ground[kind > 0].any()  # roof, tree and the low outlier are not
    hag = g.height(xyz[:, 2])
    np.testing.assert_allclose(np.median(hag[kind == 1]), 10 + (0.05 * 39.5 - 0.05 * 29.75), atol=0.6)  # roof over the surface under it
    assert (hag[kind == 2] > 4).all() and np.abs(hag[kind == 0]).max() < 0.6


def test_last_or_only_returns_may_be_ground():
    np.testing.assert_array_equal(last_or_only(np.array([1, 1, 2, 3]), np.array([1, 3, 3, 3])), [True, False, False, True])
    assert last_or_only(np.ones(3, int), np.ones(3, int)) is None  # single returns only: every point may be ground


def test_lidar_feature_values():
    cfg = load_config(None, ["features.rgb=false", "features.intensity=true", "features.intensity_norm=scene", "features.returns=true",
                             "features.hag=true", "data.hag=true"]).features
    assert cfg.channels == 3 + 1 + 2 + 1
    attributes = PointAttributes(intensity=torch.tensor([100.0, 200.0, 400.0]), returns=torch.tensor([[1, 1], [1, 3], [3, 3]]),
                                 hag=torch.tensor([0.0, 10.0, 80.0]), intensity_reference=100.0)
    f = point_features(torch.zeros(3, 3), torch.zeros(3, dtype=torch.int64), torch.zeros(1, 2), 25.0, cfg, attributes)
    np.testing.assert_allclose(f[:, 3].numpy(), [0.5, 1.0, 1.0])  # I / (2 x the scene's 99th percentile), clipped
    np.testing.assert_allclose(f[:, 4:6].numpy(), [[0, 0], [0, 0.5], [1, 0.5]])  # position in the pulse, pulse complexity
    np.testing.assert_allclose(f[:, 6].numpy(), [0.0, 0.4, 2.0])  # height / 25, clipped at 2
    # z above the ground under each point, not above the patch's lowest point: a low noise point 60 m down changes nothing
    ground_z = load_config(None, ["features.rgb=false", "features.z_reference=ground", "data.hag=true"]).features
    xyz = torch.tensor([[0.0, 0.0, 100.0], [5.0, 0.0, 110.0], [9.0, 0.0, 40.0]])
    g = point_features(xyz, torch.zeros(3, dtype=torch.int64), torch.zeros(1, 2), 25.0, ground_z,
                       PointAttributes(hag=torch.tensor([0.0, 10.0, -60.0])))
    np.testing.assert_allclose(g.numpy(), [[0, 0, 0.0], [0.2, 0, 0.4], [0.36, 0, -1.0]], atol=1e-6)
    with pytest.raises(ValueError, match="need data.hag: true"):
        load_config(None, ["features.z_reference=ground"])


def test_a_lidar_scan_is_prepared_with_heights_and_labelled_without_colour(tmp_path, tiny_cfg):
    from pointseg.config import apply_overrides
    from pointseg.data.dataset import PatchDataset
    from pointseg.data.prepare import prepare_dataset
    from pointseg.models.checkpoint import save_checkpoint
    from pointseg.models.random_weights import random_context_model
    from pointseg.predict.label import label_scenes
    from pointseg.synthetic.las_scene import write_lidar_scenes
    from pointseg.synthetic.lidar import Flight

    write_lidar_scenes(tmp_path / "raw", [1, 2, 5], size=60.0, flight=Flight(density=4.0))
    cfg = apply_overrides(tiny_cfg, ["data.scene_glob='*_lidar.laz'", "data.class_map=synthetic_lidar", "data.hag=true", "data.test_scenes=[5]",
                                     "data.voxel_size=0.5", "data.min_points_per_patch=50", "data.split_mode=paper", "features.rgb=false",
                                     "features.intensity=true", "features.intensity_norm=scene", "features.returns=true", "features.hag=true",
                                     "augment.drop_returns=1.0", "augment.intensity_gain=[0.5,2]"])
    prepare_dataset(tmp_path / "raw", tmp_path / "prep", cfg.data, progress=False)
    hag = np.load(tmp_path / "prep" / "scenes" / "1_lidar" / "hag.npy")
    labels = np.load(tmp_path / "prep" / "scenes" / "1_lidar" / "labels.npy")
    assert np.median(np.abs(hag[labels == 0])) < 0.3 and np.median(hag[labels == 4]) > 3  # ground at 0, high vegetation above it
    sample = PatchDataset(tmp_path / "prep", "train", cfg, train=True)[0]
    assert sample.voxel_feats.shape[1] == 7 and (sample.voxel_feats[:, 4:6] == 0).all()  # returns dropped: all 1 of 1
    save_checkpoint(tmp_path / "m.pt", {"model": random_context_model(cfg).state_dict()}, cfg)
    summary = label_scenes(tmp_path / "m.pt", tmp_path / "raw" / "5_lidar.laz", tmp_path / "out", torch.device("cpu"), progress=False)
    assert summary["scenes"] == 1 and (tmp_path / "out" / "5_lidar_pred.laz").is_file()
