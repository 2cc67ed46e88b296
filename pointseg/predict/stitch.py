"""Stitching: a whole scene labelled from overlapping patches, each point's class probabilities summed over the
patches that hold it, weighted by a tent that is 1 at a patch's centre and falls towards its edges."""

from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from pointseg.config import Config
from pointseg.constants import NUM_CLASSES
from pointseg.data.features import check_scene_features, scene_attributes
from pointseg.data.tiling import TiledScene, tile_scene
from pointseg.io import Scene
from pointseg.predict.batches import PatchBatcher, PatchPoints
from pointseg.predict.predictor import Predictor, default_batch_size
from pointseg.predict.views import tta_views, view_of


class ScenePrediction(NamedTuple):
    """labels (N,) uint8; confidence (N,) float32, the winning probability; entropy (N,) float32 in nats
    (0 .. ln 15) of the point's probabilities; probabilities (N, 15) float32, or None unless asked for."""

    labels: np.ndarray
    confidence: np.ndarray
    entropy: np.ndarray
    probabilities: np.ndarray | None = None


def tent_weights(points: PatchPoints, floor: float) -> torch.Tensor:
    """(n,) vote weight of each point in its patch: 1 at the patch centre, falling linearly towards the edges
    (the product of the x and y tents), never below `floor`."""
    b = points.bounds[points.patch]
    centre, half = (b[:, :2] + b[:, 2:]) / 2, (b[:, 2:] - b[:, :2]) / 2
    return (1 - (points.xy - centre).abs() / half).clamp(0, 1).prod(dim=1).clamp(min=floor)


def patches_holding(tiled: TiledScene, targets: np.ndarray) -> list[int]:
    """The kept patches of `tiled` that hold at least one point where targets (N,) bool is True."""
    n_tiles = len(tiled.tile_offsets) - 1
    wanted = np.bincount(tiled.point_tile[targets], minlength=n_tiles) > 0
    return [p for p in range(tiled.n_patches) if wanted[tiled.tiles_of(p)].any()]


def predict_scene(scene: Scene, predict: Predictor, cfg: Config, progress: bool = False, device: torch.device | str = "cpu",
                  probabilities: bool = False, targets: np.ndarray | None = None, frame: float | None = None) -> ScenePrediction:
    """Label every point of a scene: labels, confidence, entropy (and the probabilities with probabilities=True).

    The scene is tiled into patches of data.patch_size at infer.stride on the host, then its points and voxels go
    to `device` once; batches of patches (PatchBatcher; infer.batch_size on a GPU, infer.cpu_batch_size on the CPU)
    are built there and each point's class probabilities are summed over the patches that hold it, weighted by
    `tent_weights` (floor infer.edge_weight). With infer.tta > 1 the scene is also labelled mirrored and rotated
    (tta_views, view_of in a square of side `frame` m, default the scene's extent) and every view's votes are
    summed. The label is the argmax and the confidence the normalized winning probability. The (N, C) float32
    accumulator, on `device`, is the only array of size points x classes (the entropy takes one temporary of that size).
    A scene without colour (intensity, return numbers) given to a model that uses them raises PointCloudError naming the file.
    The patch grid is anchored at `scene.origin` (see pointseg.data.tiling).

    targets (N,) bool: only these points are labelled (the others give context): patches holding none
    of them are skipped, and the result holds the M target points only, in order.
    """
    check_scene_features(scene.path, scene.present(), cfg.features)
    device = torch.device(device)
    batch_size = default_batch_size(cfg, device)
    local = scene.local_xyz()  # metres
    attributes = scene_attributes(scene, cfg.features, local)  # height above ground once, for every view
    if frame is None:
        frame = float(np.ceil(local[:, :2].max())) if len(local) else 1.0
    votes = torch.zeros((len(scene), NUM_CLASSES), dtype=torch.float32, device=device)
    weight_sum = torch.zeros(len(scene), dtype=torch.float32, device=device)
    for angle, mirror in tta_views(cfg.infer.tta):
        view = view_of(local, angle, mirror, frame)
        tiled = tile_scene(view, cfg.data.voxel_size, cfg.data.patch_size, cfg.infer.stride, 0, "keep")
        run = list(range(tiled.n_patches)) if targets is None else patches_holding(tiled, targets)
        batcher = PatchBatcher(tiled, view, attributes, cfg, device)
        del tiled, view  # on a GPU the host copies are no longer needed
        bar = tqdm(total=len(run), desc=scene.name, unit="patch", leave=False, disable=not progress)
        for first in range(0, len(run), batch_size):
            patches = run[first : first + batch_size]
            batch, points = batcher.batch(patches)
            weights = tent_weights(points, cfg.infer.edge_weight)
            probs = predict(batch).to(device=device, dtype=torch.float32)
            votes.index_add_(0, points.index, probs * weights[:, None])
            weight_sum.index_add_(0, points.index, weights)
            bar.update(len(patches))
        bar.close()
        del batcher
    del local
    if targets is not None:
        keep = torch.from_numpy(np.flatnonzero(targets)).to(device)
        votes, weight_sum = votes[keep], weight_sum[keep]
    if bool((weight_sum <= 0).any()):  # cannot happen with tile_scene's coverage; guards future changes
        raise RuntimeError(f"{scene.path}: {int((weight_sum <= 0).sum())} points were in no patch")
    votes /= weight_sum[:, None]  # in place: the point's probabilities
    confidence, labels = votes.max(dim=1)
    entropy = torch.special.entr(votes).sum(dim=1)
    probs = votes.cpu().numpy() if probabilities else None
    return ScenePrediction(labels.to(torch.uint8).cpu().numpy(), confidence.cpu().numpy(), entropy.cpu().numpy(), probs)
