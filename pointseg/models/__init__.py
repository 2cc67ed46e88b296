"""Sparse U-Net (spconv) with an optional ASPP bridge and a point-wise head."""

from pointseg.models.unet import SparseUNet, build_model

__all__ = ["SparseUNet", "build_model"]
