"""Shared steps of every loss: drop ignored points, float32 softmax, one-hot targets."""

import torch
import torch.nn.functional as F

from pointseg.constants import IGNORE_LABEL


def valid_points(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (N, C) as float32 and labels (N,) of the points not labelled -100."""
    keep = labels != IGNORE_LABEL
    return logits[keep].float(), labels[keep]


def probs_and_onehot(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax p (N, C) and one-hot g (N, C), both float32, of the valid points."""
    logits, labels = valid_points(logits, labels)
    p = torch.softmax(logits, dim=1)
    g = F.one_hot(labels, logits.shape[1]).float()
    return p, g


def class_weight_tensor(weights: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    return None if weights is None else weights.to(device=like.device, dtype=torch.float32)
