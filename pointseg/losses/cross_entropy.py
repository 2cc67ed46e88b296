"""Cross-entropy family: weighted CE, focal, TopK CE."""

import torch
import torch.nn.functional as F
from torch import nn

from pointseg.constants import IGNORE_LABEL
from pointseg.losses.common import class_weight_tensor, valid_points


class WeightedCrossEntropy(nn.Module):
    """sum_i W_{y_i} CE_i / sum_i W_{y_i} (torch's weighted mean); unweighted when no weights."""

    def __init__(self, class_weights: torch.Tensor | None = None):
        super().__init__()
        self.class_weights = class_weights

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        w = class_weight_tensor(self.class_weights, logits)
        if (labels != IGNORE_LABEL).sum() == 0:
            return logits.sum() * 0.0
        return F.cross_entropy(logits.float(), labels, weight=w, ignore_index=IGNORE_LABEL)


class FocalLoss(nn.Module):
    """mean_i -alpha_{y_i} (1 - p_{i,y_i})^gamma log p_{i,y_i}; alpha per class (default 1)."""

    def __init__(self, class_weights: torch.Tensor | None = None, gamma: float = 2.0, alpha: list[float] | None = None):
        super().__init__()
        self.gamma = gamma
        self.alpha = torch.tensor(alpha, dtype=torch.float32) if alpha is not None else None

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits, labels = valid_points(logits, labels)
        if len(labels) == 0:
            return logits.sum() * 0.0
        logp = torch.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
        loss = -((1 - logp.exp()) ** self.gamma) * logp
        if self.alpha is not None:
            loss = loss * self.alpha.to(logits.device)[labels]
        return loss.mean()


class TopKCrossEntropy(nn.Module):
    """Mean CE over the k percent of points with the highest CE (the hardest)."""

    def __init__(self, class_weights: torch.Tensor | None = None, k: float = 10.0):
        super().__init__()
        self.k = k
        self.class_weights = class_weights

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits, labels = valid_points(logits, labels)
        if len(labels) == 0:
            return logits.sum() * 0.0
        ce = F.cross_entropy(logits, labels, weight=class_weight_tensor(self.class_weights, logits), reduction="none")
        n = max(1, int(round(len(ce) * self.k / 100)))
        return ce.topk(n).values.mean()
