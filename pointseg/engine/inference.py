"""Whole-scene inference: overlapping patches, fp32 forward in batches, distance-weighted votes per point."""

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from pointseg.config import Config, ConfigError
from pointseg.constants import NUM_CLASSES
from pointseg.data.features import Batch, check_scene_features
from pointseg.data.tiling import TiledScene, tile_scene
from pointseg.engine.checkpoint import checkpoint_config, load_checkpoint, load_model_state
from pointseg.engine.patch_batches import PatchBatcher
from pointseg.io import Scene
from pointseg.models import build_model
from pointseg.models.spconv_ops import place_model

Predictor = Callable[[Batch], torch.Tensor]  # batch -> point probabilities (N, C), on any device


def load_predictor(ckpt_path: str | Path, device: torch.device) -> tuple[Predictor, Config]:
    """Model from a checkpoint, on `device`, in eval mode; returns a probability function and its config."""
    ckpt = load_checkpoint(ckpt_path)
    cfg = checkpoint_config(ckpt, ckpt_path)
    model = build_model(cfg)
    load_model_state(model, ckpt, ckpt_path)
    model = place_model(model, device).eval()

    @torch.no_grad()
    def predict(batch: Batch) -> torch.Tensor:
        return torch.softmax(model(batch.to(device)).float(), dim=1)  # fp32: spconv fails under fp16 inference

    return predict, cfg


def vote_weights(xy: np.ndarray, bounds: tuple[float, float, float, float], floor: float) -> np.ndarray:
    """(N,) tent weight of points in a patch: 1 at its centre, falling linearly towards the edges, >= floor.

    The reference definition; PatchBatcher computes the same on the device."""
    cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    hx, hy = (bounds[2] - bounds[0]) / 2, (bounds[3] - bounds[1]) / 2
    w = np.clip(1 - np.abs(xy[:, 0] - cx) / hx, 0, 1) * np.clip(1 - np.abs(xy[:, 1] - cy) / hy, 0, 1)
    return np.maximum(w, floor).astype(np.float32)


def default_batch_size(cfg: Config, device: torch.device) -> int:
    """Patches per forward: infer.batch_size on a GPU, infer.cpu_batch_size on the CPU."""
    return cfg.infer.batch_size if device.type == "cuda" else cfg.infer.cpu_batch_size


def patches_holding(tiled: TiledScene, targets: np.ndarray) -> list[int]:
    """The kept patches of `tiled` that hold at least one point where targets (N,) bool is True."""
    n_tiles = len(tiled.tile_offsets) - 1
    wanted = np.bincount(tiled.point_tile[targets], minlength=n_tiles) > 0
    return [p for p in range(tiled.n_patches) if wanted[tiled.tiles_of(p)].any()]


class ScenePrediction(NamedTuple):
    """labels (N,) uint8; confidence (N,) float32, the winning probability; entropy (N,) float32 in nats
    (0 .. ln 15) of the point's probabilities; probabilities (N, 15) float32, or None unless asked for."""

    labels: np.ndarray
    confidence: np.ndarray
    entropy: np.ndarray
    probabilities: np.ndarray | None = None


def tta_views(n: int) -> list[tuple[float, bool]]:
    """The n test-time views as (angle about z in radians, mirrored in x): angles 360/n degrees apart,
    every other view mirrored; view 0 is the scene as it is."""
    if n < 1:
        raise ConfigError(f"--tta {n}: expected 1 (no test-time augmentation) or more views")
    return [(2 * np.pi * k / n, k % 2 == 1) for k in range(n)]


def view_of(local: np.ndarray, angle: float, mirror: bool, frame: float) -> np.ndarray:
    """local (N, 3) float32 mirrored in x (when `mirror`), then rotated by `angle` about z around the centre
    of the square [0, frame]^2, then shifted by a whole number of `frame`s so every point of that square stays
    at x, y >= 0 (what tile_scene expects). z is unchanged. The same frame for every tile of a coverage gives
    every tile the same view of the cloud, so the patch lattice still matches across tiles."""
    if angle == 0 and not mirror:
        return local
    half = frame / 2
    xy = local[:, :2].astype(np.float64) - half
    if mirror:
        xy[:, 0] = -xy[:, 0]
    c, s = np.cos(angle), np.sin(angle)
    shift = half + frame * np.ceil((np.sqrt(2) - 1) / 2 + 1e-9)  # a rotated square reaches sqrt(2)/2 frames from its centre
    out = np.empty_like(local)
    out[:, 0] = c * xy[:, 0] - s * xy[:, 1] + shift
    out[:, 1] = s * xy[:, 0] + c * xy[:, 1] + shift
    out[:, 2] = local[:, 2]
    return out


def predict_scene(scene: Scene, predict: Predictor, cfg: Config, stride: float | None = None, batch_size: int | None = None,
                  progress: bool = False, device: torch.device | str = "cpu", probabilities: bool = False,
                  targets: np.ndarray | None = None, tta: int | None = None, frame: float | None = None) -> ScenePrediction:
    """Label every point of a scene: labels, confidence, entropy (and the probabilities with probabilities=True).

    The scene is tiled on the host, then its points and voxels go to `device` once; batches of patches
    are built there (PatchBatcher) and each point's class probabilities are summed over the patches that
    hold it, weighted by `vote_weights`. With `tta` > 1 (default infer.tta) the scene is also labelled
    mirrored and rotated (tta_views, view_of in a square of side `frame` m, default the scene's extent) and
    every view's votes are summed. The label is the argmax and the confidence the normalized winning
    probability. The (N, C) float32 accumulator, on `device`, is the only array of size points x classes
    (the entropy takes one temporary of that size).
    A scene without colour (or intensity) given to a model that uses it raises PointCloudError naming the file.
    The patch grid is anchored at `scene.origin` (see pointseg.data.tiling).

    targets (N,) bool: only these points are labelled (the others give context): patches holding none
    of them are skipped, and the result holds the M target points only, in order.
    """
    check_scene_features(scene.path, scene.rgb is not None, scene.intensity is not None, cfg.features)
    device = torch.device(device)
    stride = cfg.infer.stride if stride is None else stride
    batch_size = batch_size or default_batch_size(cfg, device)
    views = tta_views(cfg.infer.tta if tta is None else tta)
    local = (scene.xyz - scene.origin).astype(np.float32)
    if frame is None:
        frame = float(np.ceil(local[:, :2].max())) if len(local) else 1.0
    votes = torch.zeros((len(scene), NUM_CLASSES), dtype=torch.float32, device=device)
    weight_sum = torch.zeros(len(scene), dtype=torch.float32, device=device)
    for angle, mirror in views:
        view = view_of(local, angle, mirror, frame)
        tiled = tile_scene(view, cfg.data.voxel_size, cfg.data.patch_size, stride, 0, "keep")
        run = list(range(tiled.n_patches)) if targets is None else patches_holding(tiled, targets)
        batcher = PatchBatcher(tiled, view, scene.rgb, cfg, device, scene.intensity)
        del tiled, view  # on a GPU the host copies are no longer needed
        bar = tqdm(total=len(run), desc=scene.name, unit="patch", leave=False, disable=not progress)
        for first in range(0, len(run), batch_size):
            patches = run[first : first + batch_size]
            batch, index, weights = batcher.batch(patches)
            probs = predict(batch).to(device=device, dtype=torch.float32)
            votes.index_add_(0, index, probs * weights[:, None])
            weight_sum.index_add_(0, index, weights)
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
