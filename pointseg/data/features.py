"""Per-point input features (normalized xyz, rgb, intensity, return numbers, height above ground), voxel means, and the
batch of voxelized patches fed to the model: one implementation in torch, used by the training loader (CPU) and by
inference (CPU or GPU)."""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pointseg.config import FeatureConfig
from pointseg.errors import PointCloudError

if TYPE_CHECKING:
    from pointseg.io.scene import Scene


@dataclass
class PointAttributes:
    """What a scene gives its points besides their position, as stored (numpy arrays or torch tensors; any may be None):
    rgb (N, 3) in 0..255; intensity (N,) as stored; returns (N, 2) return number and number of returns; hag (N,) height
    above the ground surface in metres (pointseg.baselines.smrf); intensity_reference: the scene's intensity scale (the
    99th percentile of its intensities), for features.intensity_norm: scene."""

    rgb: Any = None
    intensity: Any = None
    returns: Any = None
    hag: Any = None
    intensity_reference: float | None = None

    def take(self, index: Any) -> "PointAttributes":
        """The attributes of the points `index` (an index array or tensor)."""
        def pick(a: Any) -> Any:
            return None if a is None else a[index]

        return PointAttributes(pick(self.rgb), pick(self.intensity), pick(self.returns), pick(self.hag), self.intensity_reference)

    def to_torch(self, device: torch.device | str = "cpu") -> "PointAttributes":
        def put(a: Any) -> Any:
            return None if a is None else (a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))).to(device)

        return PointAttributes(put(self.rgb), put(self.intensity), put(self.returns), put(self.hag), self.intensity_reference)


def scene_attributes(scene: "Scene", cfg: FeatureConfig, local_xyz: np.ndarray | None = None, index: np.ndarray | None = None) -> PointAttributes:
    """The PointAttributes (numpy) that the features use of a scene's points `index` (default all): their colours,
    intensities and return numbers as stored, their height above ground (computed here, from local_xyz (n, 3) metres of
    those points, default scene.local_xyz()) and the 99th percentile of the whole scene's intensities."""
    from pointseg.data.ground import height_above_ground

    reference = None
    if cfg.intensity and scene.intensity is not None and getattr(scene, "intensity_reference", None) is not None:
        reference = float(scene.intensity_reference)  # a part of a file: the whole file's scale
    elif cfg.intensity and scene.intensity is not None:
        positive = scene.intensity[scene.intensity > 0]
        reference = float(np.percentile(positive, 99)) if len(positive) else 1.0
    def pick(a: np.ndarray | None) -> np.ndarray | None:
        return a if a is None or index is None else a[index]

    hag = None
    if cfg.needs_ground:
        local = pick(scene.local_xyz()) if local_xyz is None else local_xyz
        hag = height_above_ground(local, pick(scene.returns))
    return PointAttributes(pick(scene.rgb) if cfg.rgb else None, pick(scene.intensity) if cfg.intensity else None,
                           pick(scene.returns) if cfg.returns else None, hag, reference)


FEATURE_SOURCES = {"rgb": "no colour (rgb)", "intensity": "no intensity", "returns": "no return numbers"}


def check_scene_features(path: str | Path, present: dict[str, bool], cfg: FeatureConfig, training: bool = False) -> None:
    """Raise PointCloudError naming the file when the features use colour, intensity or return numbers the file lacks
    (never feed zeros in their place). present: {"rgb": bool, "intensity": bool, "returns": bool}."""
    for name, what in FEATURE_SOURCES.items():
        if getattr(cfg, name) and not present.get(name, False):
            if training:
                raise PointCloudError(path, f"{what} in this scene, but the config uses {name}: train with a config with features.{name}: false")
            raise PointCloudError(path, f"{what} in this file, but the model uses {name}: label it with a model trained "
                                        f"with a config with features.{name}: false (the shipped 'lidar' model needs no colour)")


def point_features(xyz: torch.Tensor, patch: torch.Tensor, centres: torch.Tensor, half_size: float, cfg: FeatureConfig,
                   attributes: PointAttributes | None = None) -> torch.Tensor:
    """(n, C) float32 features of points from several patches, in the order xyz, rgb, intensity, returns, hag.

    xyz (n, 3) float32 local coordinates in metres; patch (n,) int64 the patch of each point; centres (B, 2) float32
    each patch's xy centre; attributes: the points' PointAttributes (torch), those the config uses. Features:
    xyz: xy from the patch centre and z above the patch's lowest point (z_reference patch_min) or above the ground under
    the point (z_reference ground: robust to the low noise of real scans, which drags a patch's lowest point down), / half_size;
    rgb: [0, 1] (or [-1, 1] with rgb_range symmetric);
    intensity: log(1 + I) / log(1 + intensity_max) clipped to [0, 1] (intensity_norm log: the log tames bright
    returns and puts 8-bit and 16-bit sensors on one scale, 255 -> 0.5), or I / (2 x the scene's 99th percentile)
    clipped to [0, 1] (intensity_norm scene: sensors and flights of any gain alike);
    returns: (return number - 1) / (number of returns - 1) (0 first, 1 last) and (number of returns - 1) / 4, clipped;
    hag: the height above the ground surface / half_size, clipped to [-0.2, 2]."""
    parts = []
    a = attributes or PointAttributes()
    if cfg.xyz:
        if cfg.z_reference == "ground":
            if a.hag is None:
                raise ValueError("features.z_reference is ground, but the points have no height above ground")
            xy = (xyz[:, :2] - centres.float()[patch]) / float(half_size)
            parts.append(torch.cat([xy, (a.hag.float() / float(half_size)).clamp(-1.0, 4.0)[:, None]], dim=1))
        else:
            zmin = torch.full((len(centres),), float("inf"), device=xyz.device).scatter_reduce(0, patch, xyz[:, 2], "amin")
            origin = torch.cat([centres.float(), zmin[:, None]], dim=1)[patch]
            parts.append((xyz - origin) / float(half_size))
    if cfg.rgb:
        if a.rgb is None:
            raise ValueError("features.rgb is on, but the points have no colour")
        colour = a.rgb.float() / 255.0
        parts.append(colour * 2 - 1 if cfg.rgb_range == "symmetric" else colour)
    if cfg.intensity:
        if a.intensity is None:
            raise ValueError("features.intensity is on, but the points have no intensity")
        value = a.intensity.float().clamp(min=0)
        if cfg.intensity_norm == "scene":
            scaled = value / float(2 * max(a.intensity_reference or 1.0, 1e-6))
        else:
            scaled = torch.log1p(value) / float(np.float32(np.log1p(cfg.intensity_max)))
        parts.append(scaled.clamp(max=1)[:, None])
    if cfg.returns:
        if a.returns is None:
            raise ValueError("features.returns is on, but the points have no return numbers")
        number, count = a.returns[:, 0].float().clamp(min=1), a.returns[:, 1].float().clamp(min=1)
        position = ((number - 1) / (count - 1).clamp(min=1)).clamp(0, 1)
        parts.append(torch.stack([position, ((count - 1) / 4).clamp(0, 1)], dim=1))
    if cfg.hag:
        if a.hag is None:
            raise ValueError("features.hag is on, but the points have no height above ground")
        parts.append((a.hag.float() / float(half_size)).clamp(-0.2, 2.0)[:, None])
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
