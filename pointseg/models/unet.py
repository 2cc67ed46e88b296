"""The sparse 3D U-Net of the paper: residual stages, stride-2 down/up convs, skips, ASPP bridge, point head."""

import torch
from torch import nn

from pointseg.config import Config, ModelConfig
from pointseg.data.features import Batch
from pointseg.models.blocks import ASPP, ResidualBlock
from pointseg.models.spconv_ops import SparseConvTensor, SparseSequential, down, subm, up, with_features


class SparseUNet(nn.Module):
    """channels[i] features at level i (voxel size * 2**i); len(channels) - 1 downsamplings."""

    def __init__(self, in_channels: int, cfg: ModelConfig):
        super().__init__()
        ch = list(cfg.channels)  # at least two levels (checked by the config)
        self.levels = len(ch)
        self.stem = SparseSequential(subm(in_channels, ch[0], 3, "subm0"), nn.BatchNorm1d(ch[0]), nn.ReLU(inplace=True))
        self.encoder = nn.ModuleList(ResidualBlock(ch[i], ch[i], f"subm{i}") for i in range(self.levels))
        self.down = nn.ModuleList(
            SparseSequential(down(ch[i], ch[i + 1], f"down{i}"), nn.BatchNorm1d(ch[i + 1]), nn.ReLU(inplace=True)) for i in range(self.levels - 1)
        )
        self.bridge = ASPP(ch[-1], cfg.aspp_dilations) if cfg.aspp else None
        self.up = nn.ModuleList(
            SparseSequential(up(ch[i + 1], ch[i], f"down{i}"), nn.BatchNorm1d(ch[i]), nn.ReLU(inplace=True)) for i in range(self.levels - 1)
        )
        self.decoder = nn.ModuleList(ResidualBlock(2 * ch[i], ch[i], f"subm{i}") for i in range(self.levels - 1))
        self.head = nn.Sequential(
            nn.Linear(ch[0], cfg.head_hidden, bias=False), nn.BatchNorm1d(cfg.head_hidden), nn.ReLU(inplace=True),
            nn.Linear(cfg.head_hidden, cfg.num_classes),
        )

    def forward_voxels(self, x: SparseConvTensor) -> SparseConvTensor:
        x = self.stem(x)
        skips = []
        for i in range(self.levels):
            x = self.encoder[i](x)
            if i < self.levels - 1:
                skips.append(x)
                x = self.down[i](x)
        if self.bridge is not None:
            x = self.bridge(x)
        for i in reversed(range(self.levels - 1)):
            x = self.up[i](x)  # same voxels, same order as skips[i]
            x = self.decoder[i](with_features(x, torch.cat([x.features, skips[i].features], dim=1)))
        return x

    def spatial_shape(self, shape: list[int]) -> list[int]:
        """The grid the convs run on: each axis rounded up to a multiple of 2**(levels - 1).

        A 2x2x2 stride-2 conv maps s cells to (s - 2) // 2 + 1, so a patch thinner than 2**(levels - 1)
        voxels on an axis (one stray point, identical points, a flat car park) would reach 0 cells at
        some level, where spconv aborts ("out spatial shape ... ratch zero"). Voxels keep their coordinates;
        only the empty margin of the grid grows, which changes no conv output.
        """
        m = 2 ** (self.levels - 1)
        return [max(m, -(-int(s) // m) * m) for s in shape]

    def forward(self, batch: Batch) -> torch.Tensor:
        """Point logits (N, num_classes): voxel features gathered to every point through the inverse map."""
        x = SparseConvTensor(batch.feats, batch.coords, self.spatial_shape(batch.spatial_shape), batch.batch_size)
        voxels = self.forward_voxels(x)
        return self.head(voxels.features[batch.inverse])


def build_model(cfg: Config) -> SparseUNet:
    return SparseUNet(cfg.features.channels, cfg.model)
