"""Residual submanifold blocks and the ASPP bridge."""

import torch
from torch import nn

from pointseg.models.spconv_ops import SparseConvTensor, SparseSequential, subm, with_features


class ResidualBlock(nn.Module):
    """Two 3x3x3 submanifold convs (BN, ReLU) plus an identity or 1x1x1 projection shortcut."""

    def __init__(self, cin: int, cout: int, key: str, dilation: int = 1):
        super().__init__()
        self.convs = SparseSequential(
            subm(cin, cout, 3, key, dilation), nn.BatchNorm1d(cout), nn.ReLU(inplace=True),
            subm(cout, cout, 3, key, dilation), nn.BatchNorm1d(cout),
        )
        # a 1x1x1 submanifold conv is a per-voxel linear map
        self.shortcut = nn.Identity() if cin == cout else nn.Sequential(nn.Linear(cin, cout, bias=False), nn.BatchNorm1d(cout))

    def forward(self, x: SparseConvTensor) -> SparseConvTensor:
        out = self.convs(x)
        return with_features(out, torch.relu(out.features + self.shortcut(x.features)))


class ASPP(nn.Module):
    """Parallel residual branches with dilations (6, 12, 18), concatenated, fused by a 1x1x1 sparse conv."""

    def __init__(self, channels: int, dilations: list[int]):
        super().__init__()
        self.dilations = list(dilations)
        # each dilation builds its own neighbour table, so each needs its own indice_key
        self.branches = nn.ModuleList(ResidualBlock(channels, channels, f"aspp_d{d}", d) for d in dilations)
        self.fuse = SparseSequential(
            subm(channels * len(dilations), channels, 1, "aspp_fuse"), nn.BatchNorm1d(channels), nn.ReLU(inplace=True)
        )

    def forward(self, x: SparseConvTensor) -> SparseConvTensor:
        features = torch.cat([branch(x).features for branch in self.branches], dim=1)
        return self.fuse(with_features(x, features))
