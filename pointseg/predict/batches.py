"""Model batches of a tiled scene's patches, built with torch on the inference device.

The scene's points, colours and tile tables are copied to the device once; a batch of patches is then a
handful of gathers and scatters there (pointseg.data.patches.assemble, the assembly training uses too), so on
a GPU the host does no per-point work between forward passes.
"""

from dataclasses import dataclass

import numpy as np
import torch

from pointseg.config import Config
from pointseg.data.features import Batch, PointAttributes, point_features, voxel_mean
from pointseg.data.patches import assemble
from pointseg.data.tiling import TiledScene


@dataclass
class PatchPoints:
    """Where a batch's points come from: index (n,) int64 scene point of each; patch (n,) int64 its patch in the
    batch; xy (n, 2) float32 local coordinates; bounds (B, 4) float32 xmin, ymin, xmax, ymax of each patch."""

    index: torch.Tensor
    patch: torch.Tensor
    xy: torch.Tensor
    bounds: torch.Tensor


class PatchBatcher:
    """A tiled scene on `device`; `batch(patches)` gives the model's Batch and the PatchPoints of its points."""

    def __init__(self, tiled: TiledScene, local_xyz: np.ndarray, attributes: PointAttributes, cfg: Config, device: torch.device):
        """local_xyz (N, 3) float32 metres; attributes: the scene's PointAttributes (numpy) the features use."""
        self.device, self.cfg = device, cfg
        self.xyz = torch.from_numpy(np.ascontiguousarray(local_xyz, np.float32)).to(device)
        self.attributes = attributes.to_torch(device)
        self.tables = tiled.tables(device)
        # the small per-patch tables stay on the host (the caller may drop `tiled` and the points)
        self.patch_tiles = [tiled.tiles_of(p) for p in range(tiled.n_patches)]
        self.bounds = np.array([tiled.patch_bounds(p) for p in range(tiled.n_patches)], np.float32).reshape(-1, 4)

    def batch(self, patches: list[int]) -> tuple[Batch, PatchPoints]:
        a = assemble(self.tables, [self.patch_tiles[p] for p in patches])
        xyz = self.xyz[a.index]
        bounds = torch.from_numpy(self.bounds[patches]).to(self.device, non_blocking=True)
        centres = (bounds[:, :2] + bounds[:, 2:]) / 2
        feats = point_features(xyz, a.patch, centres, self.cfg.data.patch_size / 2, self.cfg.features, self.attributes.take(a.index))
        n_voxels = len(a.coords)
        spatial_shape = (a.coords[:, 1:].amax(dim=0) + 1).tolist()
        batch = Batch(a.coords, voxel_mean(feats, a.inverse, n_voxels), a.inverse, torch.zeros(len(a.index), dtype=torch.int64, device=self.device),
                      spatial_shape, len(patches), a.points_per_patch, list(torch.split(a.index, a.points_per_patch)))
        return batch, PatchPoints(a.index, a.patch, xyz[:, :2], bounds)
