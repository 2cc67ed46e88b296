import numpy as np
import pytest
import torch

from pointseg.losses import LOSSES, build_loss
from pointseg.config import LossConfig, LossTerm

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 1.5, 0.3], [-0.5, 0.2, 2.2], [1.0, 1.0, 0.0], [0.3, -0.2, 0.9]])
LABELS = torch.tensor([0, 1, 2, 1, 0])
W = torch.tensor([1.0, 2.0, 4.0])


def softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


P = softmax(LOGITS.numpy().astype(np.float64))
G = np.eye(3)[LABELS.numpy()]
PY = P[np.arange(5), LABELS.numpy()]


def value(name, weights=None, **params):
    return float(LOSSES[name](weights, **params)(LOGITS, LABELS))


def test_weighted_dice_is_the_paper_equation():
    w = W.numpy()
    expected = 1 - 2 * (w * (G * P).sum(0)).sum() / (w * (G + P).sum(0)).sum()
    assert value("wdice", W) == pytest.approx(expected, rel=1e-5)


def test_weighted_cross_entropy():
    w = W.numpy()[LABELS.numpy()]
    assert value("wce", W) == pytest.approx((w * -np.log(PY)).sum() / w.sum(), rel=1e-5)


def test_focal():
    assert value("focal", gamma=2.0) == pytest.approx(np.mean(-((1 - PY) ** 2) * np.log(PY)), rel=1e-5)
    alpha = [0.5, 1.0, 2.0]
    expected = np.mean(-np.array(alpha)[LABELS.numpy()] * (1 - PY) ** 2 * np.log(PY))
    assert value("focal", gamma=2.0, alpha=alpha) == pytest.approx(expected, rel=1e-5)


def test_tversky_iou_dice_focal_tversky():
    tp, fp, fn = (P * G).sum(0), (P * (1 - G)).sum(0), ((1 - P) * G).sum(0)
    ti = tp / (tp + 0.3 * fp + 0.7 * fn)
    assert value("tversky", smooth=0.0) == pytest.approx(1 - ti.mean(), rel=1e-5)
    assert value("focal_tversky", smooth=0.0) == pytest.approx(((1 - ti) ** 0.75).mean(), rel=1e-5)
    assert value("iou", smooth=0.0) == pytest.approx(1 - (tp / (tp + fp + fn)).mean(), rel=1e-5)
    assert value("dice", smooth=0.0) == pytest.approx(1 - (2 * tp / (2 * tp + fp + fn)).mean(), rel=1e-5)


def test_topk_cross_entropy_keeps_the_hardest_points():
    ce = -np.log(PY)
    assert value("topk_ce", k=40.0) == pytest.approx(np.sort(ce)[-2:].mean(), rel=1e-5)


def test_topk_dice_with_all_foreground_kept():
    gk, pk = G, P * G  # k = 100%: every foreground point kept, background zeroed in p
    dice = 1 - 2 * (gk * pk).sum(0) / ((gk**2).sum(0) + (pk**2).sum(0))
    expected = dice.mean() + (-np.log(PY)).mean()
    assert value("topk_dice", k=100.0) == pytest.approx(expected, rel=1e-5)


def test_topk_dice_keeps_only_the_hardest_foreground_point_per_class():
    # class 0 has points 0 and 4 (p 0.74, 0.36 -> point 4 is harder); class 1: points 1 and 3
    keep = np.zeros_like(G)
    for c in range(3):
        fg = np.flatnonzero(G[:, c])
        keep[fg[np.argmin(P[fg, c])], c] = 1
    gk, pk = G * keep, P * keep
    dice = 1 - 2 * (gk * pk).sum(0) / ((gk**2).sum(0) + (pk**2).sum(0))
    assert value("topk_dice", k=1.0) == pytest.approx(dice.mean() + (-np.log(PY)).mean(), rel=1e-5)


def test_lovasz_equals_one_minus_iou_for_hard_predictions():
    pred = np.array([0, 1, 1, 1, 2])
    logits = torch.tensor(np.eye(3)[pred] * 60.0, dtype=torch.float32)
    g, q = G, np.eye(3)[pred]
    iou = (g * q).sum(0) / ((g + q) > 0).sum(0)
    assert float(LOSSES["lovasz"]()(logits, LABELS)) == pytest.approx(1 - iou.mean(), abs=1e-5)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_ignored_points_change_nothing(name):
    extra = torch.randn(3, 3) * 5
    a = LOSSES[name](W)(LOGITS, LABELS)
    b = LOSSES[name](W)(torch.cat([LOGITS, extra]), torch.cat([LABELS, torch.full((3,), -100)]))
    assert float(a) == pytest.approx(float(b), rel=1e-5)


@pytest.mark.parametrize("name", ["wce", "wdice", "dice", "iou", "tversky", "lovasz", "focal", "focal_tversky"])
def test_perfect_predictions_give_about_zero_loss(name):
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    logits = torch.eye(3)[labels] * 40.0
    kwargs = {"smooth": 0.0} if name in ("dice", "iou", "tversky", "focal_tversky") else {}
    assert float(LOSSES[name](W, **kwargs)(logits, labels)) == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradients_are_finite_when_classes_are_absent(name):
    logits = torch.randn(20, 15, requires_grad=True)
    labels = torch.tensor([0, 1] * 10)
    loss = LOSSES[name](torch.ones(15))(logits, labels)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_compound_loss_is_the_weighted_sum():
    cfg = LossConfig(terms=[LossTerm("wdice", 1.0), LossTerm("wce", 0.5)])
    total = float(build_loss(cfg, W)(LOGITS, LABELS))
    assert total == pytest.approx(value("wdice", W) + 0.5 * value("wce", W), rel=1e-5)


def test_unknown_loss_name_is_a_clear_error():
    from pointseg.config import load_config

    with pytest.raises(ValueError, match="name: expected one of 'ce', 'wce', 'wdice'.*got 'dicee'"):
        LossConfig(terms=[LossTerm("dicee", 1.0)])
    with pytest.raises(ValueError, match=r"loss.terms\[1\].name: expected one of .*got 'dicee'"):
        load_config(None, ["loss.terms=[{name: wce}, {name: dicee}]"])
    with pytest.raises(ValueError, match=r"loss.terms\[0\].params: .*unexpected keyword argument 'gama'"):
        build_loss(LossConfig(terms=[LossTerm("focal", 1.0, {"gama": 2})]), None)
