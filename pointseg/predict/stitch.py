"""Stitching: a whole scene labelled from overlapping patches, each point's class probabilities summed over the
patches that hold it, weighted by a tent that is 1 at a patch's centre and falls towards its edges."""

import logging
from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from pointseg.config import Config
from pointseg.constants import NUM_CLASSES
from pointseg.data.features import check_scene_features, scene_attributes
from pointseg.data.groups import group_cell, say_far_points, spatial_groups
from pointseg.data.tiling import TiledScene, tile_scene
from pointseg.io import Scene
from pointseg.io.scene import metric_floor
from pointseg.io.units import metres_from
from pointseg.predict.batches import PatchBatcher, PatchPoints
from pointseg.predict.predictor import Predictor, default_batch_size
from pointseg.predict.views import tta_views, view_of

log = logging.getLogger(__name__)


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


def stride_view(local: np.ndarray, angle: float, mirror: bool, frame: float, stride: float) -> np.ndarray:
    """(n, 3) float32: local points (n, 3) float64 metres seen in one test-time view (view_of), then moved by whole
    strides towards 0 (the lowest x, y in [0, stride)). All in float64 before the one float32 step, so a part of a
    scene far from the origin (a tile of a wide coverage, a far group) keeps its centimetres; moving by whole strides
    keeps the patch lattice and the voxel grid (the stride is a whole number of voxels)."""
    local = np.array(view_of(local, angle, mirror, frame), np.float64)  # a copy: the caller's points serve every view
    for a in range(2):
        local[:, a] -= np.floor(local[:, a].min() / stride) * stride
    return local.astype(np.float32)


def scene_groups(scene: Scene, cfg: Config, targets: np.ndarray | None) -> list[np.ndarray | None]:
    """The parts of a scene labelled one by one (pointseg.data.groups): [None] (all at once) for one part, else the
    point indices of each part that holds a target point. Logs the points far from the bulk."""
    group, n_groups = spatial_groups(scene.xyz[:, :2] * scene.units.horizontal, group_cell(cfg.data.patch_size))  # metres
    if n_groups <= 1:
        return [None]
    mine = group if targets is None else group[targets]
    far = int((mine > 0).sum())
    if far:
        first = int(np.flatnonzero(group > 0)[0]) if targets is None else int(np.flatnonzero(targets)[np.flatnonzero(mine > 0)[0]])
        level = logging.WARNING if far < 0.01 * len(mine) else logging.INFO
        say_far_points(scene.path, far, cfg.data.patch_size, first, scene.xyz[first], "are labelled on their own, without a grid over the space between", level)
    wanted = np.unique(mine)
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
    return [order[bounds[g] : bounds[g + 1]] for g in wanted]


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
    The patch grid is anchored at `scene.origin` (see pointseg.data.tiling); each part of the scene is made local in
    float64 before its float32 step (local_view). Parts far apart (pointseg.data.groups: a 0,0,0 outlier in a
    georeferenced file) are labelled one by one, so nothing is allocated for the space between. A scene on its own
    (`frame` None) labels each part as if it were alone (its own origin and frame: the bulk's labels are those of the
    file without the outlier); a tile of a coverage (`frame` given) keeps the coverage's origin and frame, so that its
    patch lattice stays the neighbours'.

    targets (N,) bool: only these points are labelled (the others give context): patches holding none
    of them are skipped, and the result holds the M target points only, in order.
    """
    check_scene_features(scene.path, scene.present(), cfg.features)
    device = torch.device(device)
    batch_size = default_batch_size(cfg, device)
    alone = frame is None
    votes = torch.zeros((len(scene), NUM_CLASSES), dtype=torch.float32, device=device)
    weight_sum = torch.zeros(len(scene), dtype=torch.float32, device=device)
    parts = scene_groups(scene, cfg, targets)
    for part in parts:  # a loop over the scene's parts (one, unless some points lie far from the rest)
        xyz = scene.xyz if part is None else scene.xyz[part]
        origin = scene.origin if part is None or not alone else metric_floor(xyz.min(axis=0), scene.units)  # Scene.origin of the part
        local = metres_from(xyz, origin, scene.units)
        if alone:
            frame = float(np.ceil(local[:, :2].max())) if len(local) else 1.0
        attributes = scene_attributes(scene, cfg.features, local.astype(np.float32), part)  # height above ground once, for every view
        index = None if part is None else torch.from_numpy(part).to(device)
        part_targets = None if targets is None else (targets if part is None else targets[part])
        for angle, mirror in tta_views(cfg.infer.tta):
            view = stride_view(local, angle, mirror, frame, cfg.infer.stride)
            tiled = tile_scene(view, cfg.data.voxel_size, cfg.data.patch_size, cfg.infer.stride, 0, "keep")
            run = list(range(tiled.n_patches)) if targets is None else patches_holding(tiled, part_targets)
            batcher = PatchBatcher(tiled, view, attributes, cfg, device)
            del tiled, view  # on a GPU the host copies are no longer needed
            bar = tqdm(total=len(run), desc=scene.name, unit="patch", leave=False, disable=not progress)
            for first in range(0, len(run), batch_size):
                patches = run[first : first + batch_size]
                batch, points = batcher.batch(patches)
                weights = tent_weights(points, cfg.infer.edge_weight)
                probs = predict(batch).to(device=device, dtype=torch.float32)
                at = points.index if index is None else index[points.index]
                votes.index_add_(0, at, probs * weights[:, None])
                weight_sum.index_add_(0, at, weights)
                bar.update(len(patches))
            bar.close()
            del batcher
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
