import numpy as np
import pytest
import torch

from reference import patch_inputs, tent

from pointseg.config import load_config
from pointseg.predict.stitch import predict_scene
from pointseg.io.scene import Scene
from pointseg.metrics import confusion_matrix, scores


def test_metrics_against_a_hand_made_confusion_matrix():
    gt = np.array([0, 0, 1, 1, 2, -100])
    pred = np.array([0, 1, 1, 1, 0, 2])
    conf = confusion_matrix(gt, pred, num_classes=4)
    expected = np.zeros((4, 4), int)
    expected[0, 0], expected[0, 1], expected[1, 1], expected[2, 0] = 1, 1, 2, 1
    np.testing.assert_array_equal(conf, expected)
    s = scores(conf)
    assert s.oa == pytest.approx(3 / 5)
    np.testing.assert_allclose(s.iou[:3], [1 / 3, 2 / 3, 0.0])
    assert np.isnan(s.iou[3])  # absent from ground truth and prediction: left out of mIoU
    assert s.miou == pytest.approx(1 / 3)


def make_scene_points(ex, ey, n, seed=0):
    rng = np.random.default_rng(seed)
    xyz = np.c_[rng.uniform(0, ex, n), rng.uniform(0, ey, n), rng.uniform(0, 10, n)] + [700000.0, 3000000.0, 50.0]
    labels = rng.integers(0, 15, n)
    return Scene.__new__(Scene), xyz, labels


def scene(ex, ey, n=3000, seed=0):
    rng = np.random.default_rng(seed)
    xyz = np.c_[rng.uniform(0, ex, n), rng.uniform(0, ey, n), rng.uniform(0, 10, n)] + [700000.0, 3000000.0, 50.0]
    return Scene("s.txt", xyz, rng.integers(0, 256, (n, 3)).astype(np.uint8), rng.integers(0, 15, n))


def oracle(labels, seen):
    def predict(batch):
        idx = np.concatenate(batch.point_index)
        seen.append(idx)
        return torch.nn.functional.one_hot(torch.from_numpy(labels[idx]), 15).float()

    return predict


@pytest.mark.parametrize("extent, stride", [((150, 100), 25), ((150, 100), 20), ((130, 70), 50), ((30, 20), 25)])
def test_every_point_is_labelled_once_with_an_oracle_model(extent, stride):
    cfg = load_config(None, ["data.voxel_size=0.5", f"infer.stride={stride}", "infer.cpu_batch_size=3"])
    s = scene(*extent)
    seen = []
    labels, confidence, entropy, _ = predict_scene(s, oracle(s.labels, seen), cfg)
    assert labels.shape == (len(s),)
    assert (labels == s.labels).all()  # OA = 1
    np.testing.assert_allclose(confidence, 1.0, rtol=1e-6)
    np.testing.assert_allclose(entropy, 0.0, atol=1e-6)  # one-hot votes: no uncertainty
    assert np.isin(np.arange(len(s)), np.concatenate(seen)).all()


def test_weighted_vote_prefers_the_patch_whose_centre_is_nearer():
    cfg = load_config(None, ["data.voxel_size=0.5"])
    xyz = np.array([[0.5, 0.5, 0], [74.5, 49.5, 0], [30.0, 25.0, 1], [45.0, 25.0, 1]]) + [1000.0, 2000.0, 0]
    s = Scene("two.txt", xyz, np.zeros((4, 3), np.uint8), None)

    def predict(batch):  # patch over x in [0, 50) says class 1, patch over [25, 75) says class 2
        out = []
        for idx in batch.point_index:
            cls = 1 if 0 in idx else 2
            out.append(torch.nn.functional.one_hot(torch.full((len(idx),), cls), 15).float())
        return torch.cat(out)

    labels = predict_scene(s, predict, cfg).labels
    # x=30: weights 0.8 (centre 25) vs 0.2 (centre 50) -> class 1; x=45: 0.2 vs 0.8 -> class 2
    assert labels[2] == 1 and labels[3] == 2


@pytest.mark.parametrize("stride, rgb_range", [(25, "unit"), (20, "symmetric")])
def test_device_batches_hold_each_patch_voxelized_with_its_features_and_tent_weights(stride, rgb_range):
    """PatchBatcher's batches against the patches computed from first principles (tests/reference.py): the same points,
    each in the voxel of its cell, with the mean features of its voxel and the tent weight of its position."""
    from pointseg.data.tiling import tile_scene
    from pointseg.data.features import PointAttributes
    from pointseg.predict.batches import PatchBatcher
    from pointseg.predict.stitch import tent_weights

    cfg = load_config(None, ["data.voxel_size=0.5", f"features.rgb_range={rgb_range}"])
    s = scene(140, 90, n=4000, seed=3)
    keep = ~((s.xyz[:, 0] - s.xyz[:, 0].min() > 60) & (s.xyz[:, 1] - s.xyz[:, 1].min() < 40))  # empty tiles
    s = Scene("l.txt", s.xyz[keep], s.rgb[keep], s.labels[keep])
    local = (s.xyz - s.origin).astype(np.float32)
    tiled = tile_scene(local, cfg.data.voxel_size, cfg.data.patch_size, stride, 0, "keep")
    patches = list(range(tiled.n_patches))[1::2]
    batch, points = PatchBatcher(tiled, local, PointAttributes(rgb=s.rgb), cfg, torch.device("cpu")).batch(patches)
    weights = tent_weights(points, cfg.infer.edge_weight).numpy()
    cells, feats = batch.coords[batch.inverse].numpy(), batch.feats[batch.inverse].numpy()
    start = 0
    for b, p in enumerate(patches):  # a loop over patches
        idx, n = points.index[start : start + batch.points_per_sample[b]].numpy(), batch.points_per_sample[b]
        bounds = tiled.patch_bounds(p)
        inside = (local[:, 0] >= bounds[0]) & (local[:, 0] < bounds[2]) & (local[:, 1] >= bounds[1]) & (local[:, 1] < bounds[3])
        assert sorted(idx.tolist()) == np.flatnonzero(inside).tolist()  # exactly the patch's points, once each
        expected_cells, expected_feats = patch_inputs(local, idx, bounds, 0.5, 25.0, s.rgb, rgb_range=rgb_range)
        assert (cells[start : start + n, 0] == b).all()
        np.testing.assert_array_equal(cells[start : start + n, 1:], expected_cells)
        np.testing.assert_allclose(feats[start : start + n], expected_feats, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(weights[start : start + n], tent(local[idx, :2], bounds, cfg.infer.edge_weight), rtol=1e-5, atol=1e-6)
        start += n
