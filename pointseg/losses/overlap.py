"""Overlap losses on softmax probabilities: weighted Dice (the paper), Dice, IoU, Tversky, focal-Tversky, TopK Dice."""

import torch
import torch.nn.functional as F
from torch import nn

from pointseg.losses.common import class_weight_tensor, probs_and_onehot, valid_points


class WeightedDice(nn.Module):
    """The paper's loss: 1 - 2 sum_c W_c sum_i g_ic p_ic / sum_c W_c sum_i (g_ic + p_ic)."""

    def __init__(self, class_weights: torch.Tensor | None = None, eps: float = 1e-6):
        super().__init__()
        self.class_weights, self.eps = class_weights, eps

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        p, g = probs_and_onehot(logits, labels)
        w = class_weight_tensor(self.class_weights, p)
        w = torch.ones(p.shape[1], device=p.device) if w is None else w
        intersection = (w * (g * p).sum(0)).sum()
        total = (w * (g + p).sum(0)).sum()
        return 1 - 2 * intersection / (total + self.eps)


def _per_class(p: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(true positive, false positive, false negative) soft counts per class."""
    tp = (p * g).sum(0)
    return tp, (p * (1 - g)).sum(0), ((1 - p) * g).sum(0)


class Tversky(nn.Module):
    """1 - mean_c TI_c, TI_c = (TP + s) / (TP + alpha FP + beta FN + s); alpha 0.3, beta 0.7 favour recall."""

    def __init__(self, class_weights: torch.Tensor | None = None, alpha: float = 0.3, beta: float = 0.7, smooth: float = 1.0):
        super().__init__()
        self.alpha, self.beta, self.smooth = alpha, beta, smooth

    def index(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        tp, fp, fn = _per_class(*probs_and_onehot(logits, labels))
        return (tp + self.smooth) / (tp + self.alpha * fp + self.beta * fn + self.smooth)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return 1 - self.index(logits, labels).mean()


class SoftDice(Tversky):
    """1 - mean_c (2 TP_c + s) / (2 TP_c + FP_c + FN_c + s): Tversky with alpha = beta = 1/2 (and s/2);
    s smooths classes absent from both."""

    def __init__(self, class_weights: torch.Tensor | None = None, smooth: float = 1.0):
        super().__init__(class_weights, 0.5, 0.5, smooth / 2)


class SoftIoU(Tversky):
    """Soft Jaccard, 1 - mean_c (TP_c + s) / (TP_c + FP_c + FN_c + s): Tversky with alpha = beta = 1."""

    def __init__(self, class_weights: torch.Tensor | None = None, smooth: float = 1.0):
        super().__init__(class_weights, 1.0, 1.0, smooth)


class FocalTversky(Tversky):
    """mean_c (1 - TI_c)^gamma (gamma 0.75)."""

    def __init__(self, class_weights: torch.Tensor | None = None, alpha: float = 0.3, beta: float = 0.7, gamma: float = 0.75, smooth: float = 1.0):
        super().__init__(class_weights, alpha, beta, smooth)
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return ((1 - self.index(logits, labels)).clamp_min(0) ** self.gamma).mean()


class TopKDice(nn.Module):
    """Dice on each class's k percent hardest foreground points, plus cross-entropy.

    Per class c, foreground points (g_ic = 1) are ranked by the true-positive map p_ic g_ic plus a
    fixed small random perturbation (ties broken reproducibly); the k percent with the lowest values are
    kept, all other points are zeroed in both g and p. Dice_c = 1 - 2 sum g p / (sum g^2 + sum p^2);
    the loss is the mean over classes present, plus CE.
    """

    def __init__(self, class_weights: torch.Tensor | None = None, k: float = 10.0, perturbation: float = 1e-6, eps: float = 1e-6):
        super().__init__()
        self.k, self.perturbation, self.eps = k, perturbation, eps
        self.class_weights = class_weights

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        p, g = probs_and_onehot(logits, labels)
        if len(p) == 0:
            return logits.sum() * 0.0
        gen = torch.Generator(device=p.device).manual_seed(0)  # the same perturbation at every call
        noise = torch.rand(p.shape, generator=gen, device=p.device) * self.perturbation
        score = (p * g).detach() + noise
        score = torch.where(g > 0, score, torch.full_like(score, float("inf")))  # background never kept
        n_fg = g.sum(0)
        keep_n = torch.clamp((n_fg * self.k / 100).round(), min=1) * (n_fg > 0)
        rank = score.argsort(dim=0).argsort(dim=0)  # 0 = hardest
        mask = (rank < keep_n[None, :]).float() * g
        gk, pk = g * mask, p * mask
        dice = 1 - 2 * (gk * pk).sum(0) / ((gk**2).sum(0) + (pk**2).sum(0) + self.eps)
        present = n_fg > 0
        ce = F.cross_entropy(*valid_points(logits, labels), weight=class_weight_tensor(self.class_weights, p))
        return dice[present].mean() + ce
