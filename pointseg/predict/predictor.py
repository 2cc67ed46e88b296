"""A checkpoint as a probability function: the model on its device, in eval mode, fp32."""

from collections.abc import Callable
from pathlib import Path

import torch

from pointseg.config import Config
from pointseg.data.features import Batch
from pointseg.models import build_model
from pointseg.models.checkpoint import checkpoint_config, load_checkpoint, load_model_state
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


def default_batch_size(cfg: Config, device: torch.device) -> int:
    """Patches per forward: infer.batch_size on a GPU, infer.cpu_batch_size on the CPU."""
    return cfg.infer.batch_size if device.type == "cuda" else cfg.infer.cpu_batch_size
