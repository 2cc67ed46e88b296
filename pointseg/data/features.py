"""Per-point input features (normalized xyz, rgb, intensity), voxel means, and the batch of voxelized patches fed
to the model: one implementation in torch, used by the training loader (CPU) and by inference (CPU or GPU)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pointseg.config import FeatureConfig
from pointseg.errors import PointCloudError


def check_scene_features(path: str | Path, has_rgb: bool, has_intensity: bool, cfg: FeatureConfig, training: bool = False) -> None:
    """Raise PointCloudError naming the file when the features use colour or intensity the file lacks (never feed zeros)."""
    for name, on, present in (("rgb", cfg.rgb, has_rgb), ("intensity", cfg.intensity, has_intensity)):
        if on and not present:
            what = "no colour (rgb)" if name == "rgb" else "no intensity"
            if training:
                raise PointCloudError(path, f"{what} in this scene, but the config uses {name}: train with a config with features.{name}: false")
            raise PointCloudError(path, f"{what} in this file, but the model uses {name}: label it with a model trained "
                                        f"with a config with features.{name}: false")


def point_features(xyz: torch.Tensor, patch: torch.Tensor, centres: torch.Tensor, half_size: float, cfg: FeatureConfig,
                   rgb: torch.Tensor | None = None, intensity: torch.Tensor | None = None) -> torch.Tensor:
    """(n, C) float32 features of points from several patches.

    xyz (n, 3) float32 local coordinates; patch (n,) int64 the patch of each point; centres (B, 2) float32 each
    patch's xy centre. Features: xy from the patch centre and z above the patch's lowest point, both / half_size;
    rgb (n, 3) in 0..255 (any dtype) as [0, 1] (or [-1, 1] with rgb_range symmetric); intensity (n,) as stored,
    as log(1 + I) / log(1 + intensity_max) clipped to [0, 1] (the log tames bright returns and puts 8-bit and
    16-bit sensors on one scale: 255 -> 0.5 with max 65535). rgb / intensity may be None when cfg leaves them out."""
    parts = []
    if cfg.xyz:
        zmin = torch.full((len(centres),), float("inf"), device=xyz.device).scatter_reduce(0, patch, xyz[:, 2], "amin")
        origin = torch.cat([centres.float(), zmin[:, None]], dim=1)[patch]
        parts.append((xyz - origin) / float(half_size))
    if cfg.rgb:
        if rgb is None:
            raise ValueError("features.rgb is on, but the points have no colour")
        colour = rgb.float() / 255.0
        parts.append(colour * 2 - 1 if cfg.rgb_range == "symmetric" else colour)
    if cfg.intensity:
        if intensity is None:
            raise ValueError("features.intensity is on, but the points have no intensity")
        scaled = torch.log1p(intensity.float().clamp(min=0)) / float(np.float32(np.log1p(cfg.intensity_max)))
        parts.append(scaled.clamp(max=1)[:, None])
    return torch.cat(parts, dim=1)


def voxel_mean(values: torch.Tensor, inverse: torch.Tensor, n_voxels: int) -> torch.Tensor:
    """Mean of per-point values (n, C) over each voxel -> (V, C) float32; inverse (n,) int64 the voxel of each point."""
    counts = torch.bincount(inverse, minlength=n_voxels).clamp_(min=1)
    sums = torch.zeros((n_voxels, values.shape[1]), dtype=torch.float32, device=values.device).index_add_(0, inverse, values.float())
    return sums / counts[:, None]


@dataclass
class PatchSample:
    """One voxelized patch: voxel_coords (V, 3) int32 from 0, voxel_feats (V, C) float32,
    inverse (N,) int64 point->voxel, labels (N,) int64 (-100 ignored), point_index (N,) int64 into its scene."""

    voxel_coords: np.ndarray
    voxel_feats: np.ndarray
    inverse: np.ndarray
    labels: np.ndarray
    point_index: np.ndarray

    @classmethod
    def from_points(cls, coords: np.ndarray, inverse: np.ndarray, feats: np.ndarray, labels: np.ndarray, point_index: np.ndarray) -> "PatchSample":
        """A patch from per-point features (N, C): the voxel features are their means (voxel_mean)."""
        inverse = np.asarray(inverse, np.int64)
        means = voxel_mean(torch.from_numpy(np.asarray(feats, np.float32)), torch.from_numpy(inverse), len(coords))
        return cls(coords, means.numpy(), inverse, labels, point_index)


@dataclass
class Batch:
    """Patches collated into one sparse tensor: coords (V, 4) int32 as (batch, x, y, z)."""

    coords: torch.Tensor
    feats: torch.Tensor
    inverse: torch.Tensor  # (N,) into the batch's voxels
    labels: torch.Tensor
    spatial_shape: list[int]
    batch_size: int
    points_per_sample: list[int]
    point_index: list[np.ndarray]

    def to(self, device: torch.device) -> "Batch":
        nb = device.type == "cuda"
        return Batch(
            self.coords.to(device, non_blocking=nb), self.feats.to(device, non_blocking=nb),
            self.inverse.to(device, non_blocking=nb), self.labels.to(device, non_blocking=nb),
            self.spatial_shape, self.batch_size, self.points_per_sample, self.point_index,
        )

    def pin_memory(self) -> "Batch":
        self.coords, self.feats = self.coords.pin_memory(), self.feats.pin_memory()
        self.inverse, self.labels = self.inverse.pin_memory(), self.labels.pin_memory()
        return self

    @property
    def n_voxels(self) -> int:
        return int(self.coords.shape[0])


def collate(samples: list[PatchSample]) -> Batch:
    """Stack patches: batch index as the first coordinate, inverse maps offset by earlier patches' voxels."""
    coords, offsets = [], 0
    inverses = []
    for b, s in enumerate(samples):
        c = np.empty((len(s.voxel_coords), 4), np.int32)
        c[:, 0] = b
        c[:, 1:] = s.voxel_coords
        coords.append(c)
        inverses.append(s.inverse + offsets)
        offsets += len(s.voxel_coords)
    all_coords = np.concatenate(coords)
    spatial_shape = (all_coords[:, 1:].max(axis=0) + 1).tolist()
    return Batch(
        torch.from_numpy(all_coords),
        torch.from_numpy(np.concatenate([s.voxel_feats for s in samples])),
        torch.from_numpy(np.concatenate(inverses)),
        torch.from_numpy(np.concatenate([s.labels for s in samples]).astype(np.int64)),
        [int(v) for v in spatial_shape],
        len(samples),
        [len(s.labels) for s in samples],
        [s.point_index for s in samples],
    )
