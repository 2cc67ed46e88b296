import numpy as np
import torch

from pointseg.config import Config, ModelConfig, load_config
from pointseg.data.features import PatchSample, collate
from pointseg.synthetic.city import make_scene
from pointseg.data.voxelize import voxelize
from pointseg.models import SparseUNet, build_model
from pointseg.models.diagnostics import active_neighbours, aspp_neighbour_report


def tiny_batch(n_patches=2, seed=0):
    rng = np.random.default_rng(seed)
    samples = []
    for b in range(n_patches):
        xyz = rng.uniform(0, 4, (300, 3))
        vox = voxelize(xyz, 0.25)
        feats = rng.random((300, 6)).astype(np.float32)
        samples.append(PatchSample.from_points(vox.coords, vox.inverse, feats, rng.integers(0, 15, 300), np.arange(300)))
    return collate(samples)


def test_forward_gives_logits_per_point_in_train_and_eval():
    cfg = load_config(None, ["model.channels=[8,16,24]"])
    model = build_model(cfg)
    batch = tiny_batch()
    assert model(batch).shape == (600, 15)
    model.eval()
    with torch.no_grad():
        assert model(batch).shape == (600, 15)


def dilations_and_keys(model):
    return {(tuple(m.dilation), m.indice_key) for m in model.modules() if hasattr(m, "indice_key") and max(m.dilation) > 1}


def test_aspp_has_three_dilated_branches_with_their_own_keys():
    model = SparseUNet(6, ModelConfig(channels=[8, 16]))
    assert model.bridge is not None and model.bridge.dilations == [6, 12, 18]
    assert dilations_and_keys(model) == {((6, 6, 6), "aspp_d6"), ((12, 12, 12), "aspp_d12"), ((18, 18, 18), "aspp_d18")}


def test_baseline_has_no_bridge():
    model = SparseUNet(6, ModelConfig(channels=[8, 16], aspp=False))
    assert model.bridge is None and dilations_and_keys(model) == set()
    assert model(tiny_batch()).shape == (600, 15)


def test_active_neighbours_on_a_hand_made_grid():
    coords = np.array([[0, 0, 0], [6, 0, 0], [6, 6, 0], [0, 0, 12]])
    np.testing.assert_array_equal(active_neighbours(coords, 6), [2, 2, 2, 0])


def test_default_config_bridge_sees_context_on_an_stpls3d_density_patch():
    s = make_scene(3, size=50.0, density=9.0)
    cfg = Config()
    vox = voxelize(s.xyz, cfg.data.voxel_size)
    report = aspp_neighbour_report(vox.coords, len(cfg.model.channels) - 1, cfg.model.aspp_dilations)
    assert all(v > 0.3 for v in report.values()), report  # the authors' bridge saw ~0
    coarse = aspp_neighbour_report(voxelize(s.xyz, 1 / 3).coords, len(cfg.model.channels) - 1, cfg.model.aspp_dilations)
    assert coarse[18] < report[18]


def test_a_few_steps_overfit_a_tiny_patch():
    torch.manual_seed(0)
    s = make_scene(5, size=20.0, density=4.0)
    vox = voxelize(s.xyz - s.xyz.min(0), 0.25)
    from pointseg.data.features import PointAttributes, point_features
    from pointseg.config import FeatureConfig

    xyz = torch.from_numpy((s.xyz - s.xyz.min(0)).astype(np.float32))
    feats = point_features(xyz, torch.zeros(len(xyz), dtype=torch.int64), torch.tensor([[10.0, 10.0]]), 10.0, FeatureConfig(),
                           PointAttributes(rgb=torch.from_numpy(s.rgb))).numpy()
    batch = collate([PatchSample.from_points(vox.coords, vox.inverse, feats, s.labels, np.arange(len(s.labels)))])
    model = SparseUNet(6, ModelConfig(channels=[16, 32, 48], aspp=True))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(batch), batch.labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    acc = float((model(batch).argmax(1) == batch.labels).float().mean())
    assert losses[-1] < 0.5 * losses[0]
    assert acc >= 0.9, acc
