"""Lovasz-softmax (Berman et al. 2018): a convex surrogate of per-class IoU."""

import torch
from torch import nn

from pointseg.losses.common import probs_and_onehot


def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss w.r.t. sorted errors."""
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1].clone()
    return jaccard


class LovaszSoftmax(nn.Module):
    """Mean over classes present in the labels of the Lovasz hinge on |g_c - p_c|."""

    def __init__(self, class_weights: torch.Tensor | None = None):
        super().__init__()

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        p, g = probs_and_onehot(logits, labels)
        losses = []
        for c in torch.nonzero(g.sum(0) > 0).flatten().tolist():  # a loop over classes, not points
            errors = (g[:, c] - p[:, c]).abs()
            errors_sorted, perm = torch.sort(errors, descending=True)
            losses.append(torch.dot(errors_sorted, lovasz_grad(g[perm, c])))
        if not losses:
            return logits.sum() * 0.0
        return torch.stack(losses).mean()
