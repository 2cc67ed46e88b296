"""Whole-scene inference: overlapping patches, fp32 forward in batches, distance-weighted votes per point."""

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pointseg.config import Config
from pointseg.constants import NUM_CLASSES
from pointseg.data.features import Batch, PatchSample, collate, point_features
from pointseg.data.tiling import TiledScene, tile_scene
from pointseg.engine.checkpoint import checkpoint_config, load_checkpoint, load_model_state
from pointseg.io import Scene
from pointseg.models import build_model
from pointseg.models.spconv_ops import place_model

Predictor = Callable[[Batch], torch.Tensor]  # batch -> point probabilities (N, C)


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
    """(N,) tent weight of points in a patch: 1 at its centre, falling linearly towards the edges, >= floor."""
    cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    hx, hy = (bounds[2] - bounds[0]) / 2, (bounds[3] - bounds[1]) / 2
    w = np.clip(1 - np.abs(xy[:, 0] - cx) / hx, 0, 1) * np.clip(1 - np.abs(xy[:, 1] - cy) / hy, 0, 1)
    return np.maximum(w, floor).astype(np.float32)


def patch_samples(tiled: TiledScene, local: np.ndarray, rgb: np.ndarray, cfg: Config) -> Iterator[tuple[PatchSample, np.ndarray]]:
    """Each patch of a tiled scene as a model input, with the vote weights of its points."""
    half = cfg.data.patch_size / 2
    for p in range(tiled.n_patches):
        points, coords, inverse = tiled.patch(p)
        bounds = tiled.patch_bounds(p)
        centre = np.array([(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2], np.float32)
        xyz = local[points]
        feats = point_features(xyz, rgb[points], centre, half, cfg.features)
        sample = PatchSample.from_points(coords, inverse, feats, np.zeros(len(points), np.int64), points)
        yield sample, vote_weights(xyz, bounds, cfg.infer.edge_weight)


def predict_scene(scene: Scene, predict: Predictor, cfg: Config, stride: float | None = None, batch_size: int | None = None,
                  progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Label every point of a scene: (labels (N,) uint8, confidence (N,) float32).

    Each point's class probabilities are summed over the patches that hold it, weighted by
    `vote_weights`; the label is the argmax and the confidence the normalized winning probability.
    The (N, C) float32 accumulator is the only array of size points x classes.
    """
    stride = cfg.infer.stride if stride is None else stride
    batch_size = batch_size or cfg.infer.batch_size
    local = (scene.xyz - scene.origin).astype(np.float32)
    tiled = tile_scene(local, cfg.data.voxel_size, cfg.data.patch_size, stride, 0, "keep")
    votes = np.zeros((len(scene), NUM_CLASSES), np.float32)
    weight_sum = np.zeros(len(scene), np.float32)
    pending: list[tuple[PatchSample, np.ndarray]] = []

    def flush() -> None:
        batch = collate([s for s, _ in pending])
        probs = predict(batch).cpu().numpy()
        start = 0
        for sample, w in pending:
            n = len(sample.point_index)
            votes[sample.point_index] += probs[start : start + n] * w[:, None]  # indices unique within a patch
            weight_sum[sample.point_index] += w
            start += n
        pending.clear()

    for item in tqdm(patch_samples(tiled, local, scene.rgb, cfg), total=tiled.n_patches, desc=scene.name, unit="patch", leave=False, disable=not progress):
        pending.append(item)
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    if (weight_sum <= 0).any():  # cannot happen with tile_scene's coverage; guards future changes
        raise RuntimeError(f"{scene.path}: {(weight_sum <= 0).sum()} points were in no patch")
    labels = votes.argmax(axis=1).astype(np.uint8)
    confidence = votes[np.arange(len(votes)), labels] / weight_sum
    return labels, confidence.astype(np.float32)
