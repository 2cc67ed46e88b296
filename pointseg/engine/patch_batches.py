"""Model batches of a tiled scene's patches, built with torch on the inference device.

The scene's points, colours and tile voxels are copied to the device once; a batch of patches is
then a handful of gathers and scatters there, so on a GPU the host does no per-point work between
forward passes. The result equals collate() of the training path's PatchSamples (same voxel order,
same features), which tests/test_metrics_inference.py checks.
"""

import numpy as np
import torch

from pointseg.config import Config, ConfigError
from pointseg.data.features import Batch
from pointseg.data.tiling import TiledScene


def _segments(lengths: torch.Tensor, total: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For concatenated segments of `lengths`: (segment of each element, position within its segment)."""
    seg = torch.repeat_interleave(torch.arange(len(lengths), device=lengths.device), lengths, output_size=total)
    starts = torch.cumsum(lengths, 0) - lengths
    return seg, torch.arange(total, device=lengths.device) - starts[seg]


class PatchBatcher:
    """A tiled scene on `device`; `batch(patches)` gives (Batch, point indices (N,), vote weights (N,))."""

    def __init__(self, tiled: TiledScene, local_xyz: np.ndarray, rgb: np.ndarray | None, cfg: Config, device: torch.device,
                 intensity: np.ndarray | None = None):
        def put(a: np.ndarray | None) -> torch.Tensor | None:
            return None if a is None else torch.from_numpy(np.ascontiguousarray(a)).to(device)

        if cfg.features.rgb and rgb is None:
            raise ValueError("features.rgb is on, but the scene has no colour")
        if cfg.features.intensity and intensity is None:
            raise ValueError("features.intensity is on, but the scene has no intensity")
        self.device, self.cfg, self.n_patches = device, cfg, tiled.n_patches
        self.xyz = put(local_xyz.astype(np.float32, copy=False))
        self.rgb = put(rgb) if cfg.features.rgb else None
        self.intensity = put(np.asarray(intensity, np.float32)) if cfg.features.intensity else None
        self.order, self.point_voxel, self.voxel_coords = put(tiled.order), put(tiled.point_voxel), put(tiled.voxel_coords)
        # the small per-tile and per-patch tables stay on the host (the caller may drop `tiled` and the points)
        self.tile_offsets, self.voxel_offsets = tiled.tile_offsets, tiled.voxel_offsets
        self.patch_tiles = [tiled.tiles_of(p) for p in range(tiled.n_patches)]
        self.bounds = np.array([tiled.patch_bounds(p) for p in range(tiled.n_patches)], np.float32).reshape(-1, 4)

    def batch(self, patches: list[int]) -> tuple[Batch, torch.Tensor, torch.Tensor]:
        dev, to, vo = self.device, self.tile_offsets, self.voxel_offsets
        # one segment per non-empty (patch, tile) pair, in the order assemble_patch concatenates them
        seg_patch, seg_tile = [], []
        for b, p in enumerate(patches):
            tiles = self.patch_tiles[p]
            tiles = tiles[to[tiles + 1] > to[tiles]]
            seg_patch.append(np.full(len(tiles), b, np.int64))
            seg_tile.append(tiles)
        tiles, seg_patch_np = np.concatenate(seg_tile), np.concatenate(seg_patch)
        p_start, p_len = to[tiles], to[tiles + 1] - to[tiles]
        v_start, v_len = vo[tiles], vo[tiles + 1] - vo[tiles]
        n_points, n_voxels, n_patches = int(p_len.sum()), int(v_len.sum()), len(patches)
        points_per_sample = np.bincount(seg_patch_np, weights=p_len, minlength=n_patches).astype(np.int64).tolist()
        host = np.stack([p_start, p_len, v_start, v_len, np.cumsum(v_len) - v_len, seg_patch_np])
        p_start, p_len, v_start, v_len, v_base, seg_patch_d = torch.from_numpy(host).to(dev, non_blocking=True)

        seg, within = _segments(p_len, n_points)
        positions = p_start[seg] + within
        index = self.order[positions]
        inverse = self.point_voxel[positions].long() + v_base[seg]
        point_patch = seg_patch_d[seg]

        vseg, vwithin = _segments(v_len, n_voxels)
        voxel_patch = seg_patch_d[vseg]
        cells = self.voxel_coords[v_start[vseg] + vwithin]
        low = torch.full((n_patches, 3), torch.iinfo(torch.int32).max, dtype=torch.int32, device=dev)
        low = low.scatter_reduce(0, voxel_patch[:, None].expand(-1, 3), cells, "amin")
        coords = torch.cat([voxel_patch[:, None].int(), cells - low[voxel_patch]], dim=1)

        xyz = self.xyz[index]
        bounds = torch.from_numpy(self.bounds[patches]).to(dev, non_blocking=True)
        centre = (bounds[:, :2] + bounds[:, 2:]) / 2
        feats = self._features(xyz, index, point_patch, centre, n_patches)
        counts = torch.bincount(inverse, minlength=n_voxels).clamp_(min=1)
        voxel_feats = torch.zeros((n_voxels, feats.shape[1]), dtype=torch.float32, device=dev).index_add_(0, inverse, feats)
        voxel_feats /= counts[:, None]

        half = (bounds[:, 2:] - bounds[:, :2]) / 2
        tent = (1 - (xyz[:, :2] - centre[point_patch]).abs() / half[point_patch]).clamp(0, 1).prod(dim=1)
        weights = tent.clamp(min=self.cfg.infer.edge_weight)

        spatial_shape = (coords[:, 1:].amax(dim=0) + 1).tolist()
        batch = Batch(coords, voxel_feats, inverse, torch.zeros(n_points, dtype=torch.int64, device=dev), spatial_shape, n_patches,
                      points_per_sample, list(torch.split(index, points_per_sample)))
        return batch, index, weights

    def _features(self, xyz: torch.Tensor, index: torch.Tensor, point_patch: torch.Tensor, centre: torch.Tensor, n_patches: int) -> torch.Tensor:
        """point_features() on the device: xy from the patch centre, z above the patch's lowest point, / half size; rgb;
        intensity as log(1 + I) / log(1 + intensity_max), clipped to [0, 1]."""
        fc, parts = self.cfg.features, []
        if fc.xyz:
            zmin = torch.full((n_patches,), float("inf"), device=self.device).scatter_reduce(0, point_patch, xyz[:, 2], "amin")
            origin = torch.cat([centre, zmin[:, None]], dim=1)[point_patch]
            parts.append((xyz - origin) / (self.cfg.data.patch_size / 2))
        if fc.rgb:
            colour = self.rgb[index].float() / 255.0
            parts.append(colour * 2 - 1 if fc.rgb_range == "symmetric" else colour)
        if fc.intensity:
            scaled = torch.log1p(self.intensity[index].clamp(min=0)) / float(np.float32(np.log1p(fc.intensity_max)))
            parts.append(scaled.clamp(max=1)[:, None])
        if not parts:
            raise ConfigError("features: enable at least one of xyz, rgb and intensity")
        return torch.cat(parts, dim=1)
