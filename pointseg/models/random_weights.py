"""A model with fixed random weights and random BatchNorm statistics, for tests and benchmarks without a checkpoint.

Freshly initialized BatchNorm (mean 0, variance 1, scale 1, shift 0) makes an untrained U-Net give nearly one
class everywhere; random statistics make its labels vary over a scene and depend on each point's context
(its patch's centre and lowest point, its neighbours), so a comparison of labels can fail.
"""

import torch

from pointseg.config import Config
from pointseg.models.unet import build_model


def random_context_model(cfg: Config, seed: int = 0) -> torch.nn.Module:
    """build_model(cfg) in eval mode with seeded random weights and BatchNorm statistics."""
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    g = torch.Generator().manual_seed(seed + 1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.weight.data = torch.rand(m.weight.shape, generator=g) * 1.5 + 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.3
            m.running_mean = torch.randn(m.running_mean.shape, generator=g) * 0.1
            m.running_var = torch.rand(m.running_var.shape, generator=g) * 0.1 + 0.02
    return model
