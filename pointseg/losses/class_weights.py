"""Class weights: counted from the training split (the paper's W_c = max_k n_k / n_c) and turned into the
weights a loss uses by the config's policy (loss.class_weights, loss.class_weight_cap)."""

from typing import TYPE_CHECKING

import numpy as np

from pointseg.config import LossConfig

if TYPE_CHECKING:
    import torch


def class_weights(counts: np.ndarray) -> np.ndarray:
    """(C,) W_c = max_k n_k / n_c (the paper) from (C,) point counts; classes with no points get weight 0."""
    counts = np.asarray(counts, np.float64)
    weights = np.zeros_like(counts)
    present = counts > 0
    if present.any():
        weights[present] = counts.max() / counts[present]
    return weights


def loss_class_weights(cfg: LossConfig, manifest_weights: list[float]) -> "torch.Tensor | None":
    """(C,) float32 weights for the losses, or None: loss.class_weights 'manifest' (the prepared split's max/n_c,
    the paper), 'sqrt' (its square root), 'none', or 15 numbers; then clipped at loss.class_weight_cap when > 0."""
    import torch

    policy = cfg.class_weights
    if policy == "none":
        return None
    if policy == "manifest":
        w = torch.tensor(manifest_weights, dtype=torch.float32)
    elif policy == "sqrt":
        w = torch.tensor(manifest_weights, dtype=torch.float32).sqrt()
    else:  # 15 numbers (checked by the config)
        w = torch.tensor(policy, dtype=torch.float32)
    if cfg.class_weight_cap > 0:
        w = w.clamp(max=cfg.class_weight_cap)
    return w
