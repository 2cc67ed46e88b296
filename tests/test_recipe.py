"""Recipe knobs: lr schedules, class-weight modes, the time budget, test-time augmentation."""

import numpy as np
import pytest
import torch

from pointseg.config import apply_overrides, load_config
from pointseg.errors import ConfigError
from pointseg.predict.stitch import predict_scene
from pointseg.predict.views import tta_views, view_of
from pointseg.train.schedules import lr_multiplier
from pointseg.losses.class_weights import loss_class_weights
from pointseg.train.loop import train
from pointseg.io.scene import Scene


def test_schedules_at_known_points():
    none, cosine, onecycle = lr_multiplier("none"), lr_multiplier("cosine", 0.1), lr_multiplier("onecycle")
    assert none(0.0) == none(0.7) == 1.0
    assert cosine(0.0) == 0.0 and cosine(0.05) == pytest.approx(0.5) and cosine(0.1) == pytest.approx(1.0)
    assert cosine(0.55) == pytest.approx(0.5) and cosine(1.0) == pytest.approx(0.0, abs=1e-12)
    assert onecycle(0.0) == pytest.approx(1 / 25) and onecycle(0.3) == pytest.approx(1.0)
    assert onecycle(0.65) == pytest.approx(1e-4 + (1 - 1e-4) * 0.5) and onecycle(1.0) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="train.scheduler 'step'"):
        lr_multiplier("step")


def test_class_weight_modes():
    counts = [1.0, 4.0, 400.0] + [0.0] * 12

    def weights(*overrides):
        return loss_class_weights(load_config(None, list(overrides)).loss, counts)

    assert weights()[:3].tolist() == [1.0, 4.0, 400.0]
    assert weights("loss.class_weights=sqrt")[:3].tolist() == [1.0, 2.0, 20.0]
    assert weights("loss.class_weights=manifest", "loss.class_weight_cap=50")[:3].tolist() == [1.0, 4.0, 50.0]
    assert weights("loss.class_weights=none") is None


def test_time_budget_stops_after_the_first_step_and_marks_the_run_finished(prepared, tiny_cfg, tmp_path):
    from pointseg.models.checkpoint import load_checkpoint

    cfg = apply_overrides(tiny_cfg, ["train.epochs=5", "train.time_budget_min=1e-6"])  # spent by the first step
    record = train(cfg, prepared, tmp_path, device="cpu", progress=False)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert record["epoch"] == 1 and ckpt["step"] == 1 and ckpt["finished"]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1


def test_views_are_rigid_motions_starting_at_zero():
    rng = np.random.default_rng(0)
    local = rng.uniform(0, 80, (500, 3)).astype(np.float32)
    views = tta_views(4)
    assert views == [(0.0, False), (np.pi / 2, True), (np.pi, False), (3 * np.pi / 2, True)]
    for angle, mirror in views:
        v = view_of(local, angle, mirror, 80.0)
        assert v[:, :2].min() >= 0
        i, j = rng.integers(0, 500, 200), rng.integers(0, 500, 200)
        np.testing.assert_allclose(np.linalg.norm(v[i] - v[j], axis=1), np.linalg.norm(local[i] - local[j], axis=1), rtol=1e-4, atol=1e-3)
        np.testing.assert_array_equal(v[:, 2], local[:, 2])
    with pytest.raises(ConfigError, match="infer.tta: expected a number >= 1, got 0"):
        load_config(None, ["infer.tta=0"])


def test_tta_averages_views_and_keeps_every_point():
    """An oracle in views 0-2 and a know-nothing (uniform) model in view 3: every point is seen in all four
    views, keeps its true label, and its confidence drops below 1 by the uniform view's share."""
    cfg = load_config(None, ["data.voxel_size=0.5", "infer.cpu_batch_size=10000", "infer.tta=4"])  # one forward per view
    rng = np.random.default_rng(1)
    xyz = np.c_[rng.uniform(0, 120, 3000), rng.uniform(0, 90, 3000), rng.uniform(0, 10, 3000)] + [600000.0, 4100000.0, 0]
    labels = rng.integers(0, 15, 3000)
    s = Scene("t.txt", xyz, np.zeros((3000, 3), np.uint8), labels)
    seen = []

    def predict(batch):
        idx = np.concatenate(batch.point_index)
        seen.append(np.unique(idx))
        if len(seen) == 4:
            return torch.full((len(idx), 15), 1 / 15)
        return torch.nn.functional.one_hot(torch.from_numpy(labels[idx]), 15).float()

    out, confidence, _, _ = predict_scene(s, predict, cfg)
    assert len(seen) == 4 and all(len(v) == 3000 for v in seen)
    np.testing.assert_array_equal(out, labels)
    assert (confidence < 1 - 1e-3).all()  # the uniform view took its share of every point's votes


def test_recommended_config_loads():
    from pathlib import Path

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "recommended.yaml")
    assert cfg.loss.class_weights in ("manifest", "sqrt", "none") or isinstance(cfg.loss.class_weights, list)
