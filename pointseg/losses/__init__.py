"""Segmentation losses by name, and weighted sums of them (compound losses) from the config."""

import torch
from torch import nn

from pointseg.config import LOSS_NAMES, LossConfig
from pointseg.errors import ConfigError
from pointseg.losses.cross_entropy import FocalLoss, TopKCrossEntropy, WeightedCrossEntropy
from pointseg.losses.lovasz import LovaszSoftmax
from pointseg.losses.overlap import FocalTversky, SoftDice, SoftIoU, TopKDice, Tversky, WeightedDice


class DiceCE(nn.Module):
    """Soft Dice + weighted cross-entropy."""

    def __init__(self, class_weights: torch.Tensor | None = None, smooth: float = 1.0):
        super().__init__()
        self.dice, self.ce = SoftDice(smooth=smooth), WeightedCrossEntropy(class_weights)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.dice(logits, labels) + self.ce(logits, labels)


class CrossEntropy(WeightedCrossEntropy):
    """Plain (unweighted) cross-entropy, whatever class weights the config gives the other terms."""

    def __init__(self, class_weights: torch.Tensor | None = None):
        super().__init__(None)


LOSSES: dict[str, type[nn.Module]] = {
    "ce": CrossEntropy,
    "wce": WeightedCrossEntropy,
    "wdice": WeightedDice,
    "dice": SoftDice,
    "dice_ce": DiceCE,
    "focal": FocalLoss,
    "tversky": Tversky,
    "focal_tversky": FocalTversky,
    "iou": SoftIoU,
    "topk_ce": TopKCrossEntropy,
    "topk_dice": TopKDice,
    "lovasz": LovaszSoftmax,
}


class CompoundLoss(nn.Module):
    """sum_k weight_k * loss_k(logits, labels); `parts` keeps each term's last value (detached, on its device)."""

    def __init__(self, terms: list[tuple[str, float, nn.Module]]):
        super().__init__()
        self.names = [n for n, _, _ in terms]
        self.weights = [w for _, w, _ in terms]
        self.losses = nn.ModuleList(m for _, _, m in terms)
        self.parts: dict[str, torch.Tensor] = {}

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        total = logits.new_zeros((), dtype=torch.float32)
        for name, weight, loss in zip(self.names, self.weights, self.losses):
            value = loss(logits.float(), labels)
            self.parts[name] = value.detach()  # no host sync on the training hot path
            total = total + weight * value
        return total


assert set(LOSSES) == set(LOSS_NAMES), "pointseg.config.LOSS_NAMES lists the losses by name"


def build_loss(cfg: LossConfig, class_weights: torch.Tensor | None) -> CompoundLoss:
    """The configured loss (names and weights are checked by the config); `class_weights` (C,) go to every term
    that takes them; a term's `params` are its keyword arguments."""
    terms = []
    for i, term in enumerate(cfg.terms):
        try:
            terms.append((term.name, term.weight, LOSSES[term.name](class_weights, **term.params)))
        except TypeError as err:
            raise ConfigError(f"loss.terms[{i}].params: {err} (loss '{term.name}')") from None
    return CompoundLoss(terms)
