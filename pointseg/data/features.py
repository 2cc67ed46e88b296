"""Per-point input features (normalized xyz, rgb, intensity) and the batch of voxelized patches fed to the model."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pointseg.config import ConfigError, FeatureConfig
from pointseg.data.voxelize import voxel_mean
from pointseg.io import PointCloudError


def check_scene_features(path: str | Path, has_rgb: bool, has_intensity: bool, cfg: FeatureConfig, training: bool = False) -> None:
    """Raise PointCloudError naming the file when the features use colour or intensity the file lacks (never feed zeros)."""
    for name, on, present in (("rgb", cfg.rgb, has_rgb), ("intensity", cfg.intensity, has_intensity)):
        if on and not present:
            what = "no colour (rgb)" if name == "rgb" else "no intensity"
            if training:
                raise PointCloudError(path, f"{what} in this scene, but the config uses {name}: train with a config with features.{name}: false")
            raise PointCloudError(path, f"{what} in this file, but the model uses {name}: label it with a model trained "
                                        f"with a config with features.{name}: false")


def intensity_feature(intensity: np.ndarray, max_value: float) -> np.ndarray:
    """(N,) intensities as stored -> (N, 1) float32 log(1 + I) / log(1 + max_value), clipped to [0, 1].

    The logarithm tames the long tail of bright returns and puts 8-bit and 16-bit sensors on one
    scale (255 -> 0.5 with max 65535); it depends on the value alone, so tiles of a coverage agree."""
    scaled = np.log1p(np.maximum(np.asarray(intensity, np.float32), 0)) / np.float32(np.log1p(max_value))
    return np.minimum(scaled, 1).astype(np.float32)[:, None]


def point_features(xyz: np.ndarray, rgb: np.ndarray | None, centre: np.ndarray, half_size: float, cfg: FeatureConfig,
                   intensity: np.ndarray | None = None) -> np.ndarray:
    """(N, C) float32: xy from the patch centre and z above the lowest point, both / half_size; rgb scaled;
    intensity (N,) through intensity_feature. rgb / intensity may be None when the config leaves them out."""
    parts = []
    if cfg.xyz:
        rel = np.asarray(xyz, np.float32) - np.array([centre[0], centre[1], xyz[:, 2].min()], np.float32)
        parts.append(rel / np.float32(half_size))
    if cfg.rgb:
        if rgb is None:
            raise ValueError("features.rgb is on, but the points have no colour")
        colour = np.asarray(rgb, np.float32) / 255.0
        parts.append(colour * 2 - 1 if cfg.rgb_range == "symmetric" else colour)
    if cfg.intensity:
        if intensity is None:
            raise ValueError("features.intensity is on, but the points have no intensity")
        parts.append(intensity_feature(intensity, cfg.intensity_max))
    if not parts:
        raise ConfigError("features: enable at least one of xyz, rgb and intensity")
    return np.concatenate(parts, axis=1).astype(np.float32)


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
        return cls(coords, voxel_mean(feats, inverse, len(coords)), inverse, labels, point_index)


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
