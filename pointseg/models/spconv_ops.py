"""The one place that touches spconv's API: conv constructors, the algorithm choice, feature replacement."""

import torch
import spconv.pytorch as spconv
from spconv.core import ConvAlgo
from spconv.pytorch.conv import SparseConvolution

SparseConvTensor = spconv.SparseConvTensor
SparseSequential = spconv.SparseSequential


def subm(cin: int, cout: int, kernel: int, key: str, dilation: int = 1) -> spconv.SubMConv3d:
    """Submanifold conv, bias-free (BatchNorm follows; CPU eval rejects bias with k > 1)."""
    return spconv.SubMConv3d(cin, cout, kernel, dilation=dilation, padding=dilation * (kernel // 2), bias=False, indice_key=key, algo=ConvAlgo.Native)


def down(cin: int, cout: int, key: str) -> spconv.SparseConv3d:
    """2x2x2 stride-2 sparse conv; `key` is reused by the inverse conv that undoes it."""
    return spconv.SparseConv3d(cin, cout, 2, stride=2, bias=False, indice_key=key, algo=ConvAlgo.Native)


def up(cin: int, cout: int, key: str) -> spconv.SparseInverseConv3d:
    """2x2x2 inverse conv back onto the voxels of the `down` conv with the same key."""
    return spconv.SparseInverseConv3d(cin, cout, 2, bias=False, indice_key=key, algo=ConvAlgo.Native)


def with_features(x: SparseConvTensor, features: torch.Tensor) -> SparseConvTensor:
    return x.replace_feature(features)


def conv_algorithm(device: torch.device) -> ConvAlgo:
    """Native on CPU (implicit GEMM asserts there); spconv's default implicit GEMM on CUDA."""
    return ConvAlgo.Native if device.type == "cpu" else ConvAlgo.MaskImplicitGemm


def place_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move a model to `device` and switch every sparse conv to that device's algorithm.

    Safe at any time: spconv 2.x stores weights in one layout (KRSC) whatever the algorithm.
    """
    algo = conv_algorithm(device)
    for m in model.modules():
        if isinstance(m, SparseConvolution):
            m.algo = algo
    return model.to(device)
