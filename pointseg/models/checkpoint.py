"""Checkpoints: written atomically, matched to the model's config before loading."""

from pathlib import Path
from typing import Any

import torch

from pointseg.config import Config, config_from_dict, config_to_dict, fingerprint
from pointseg.constants import CLASS_NAMES
from pointseg.errors import InputError, InputNotFoundError
from pointseg.io.atomic import atomic_path


def save_checkpoint(path: str | Path, state: dict[str, Any], cfg: Config) -> None:
    """torch.save of `state` plus config, class names and the model fingerprint, via temp file + rename."""
    payload = dict(state)
    payload.update(config=config_to_dict(cfg), class_names=list(CLASS_NAMES), model_fingerprint=model_fingerprint(cfg))
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def model_fingerprint(cfg: Config) -> str:
    """What decides the model's shape: the model section and the input features."""
    return fingerprint(cfg.model) + fingerprint(cfg.features)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise InputError(f"{path}: not a readable checkpoint ({err})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise InputError(f"{path}: not a pointseg checkpoint (no model state or config)")
    return ckpt


def checkpoint_config(ckpt: dict[str, Any], path: str | Path) -> Config:
    try:
        return config_from_dict(ckpt["config"], f"{path}:config")
    except ValueError as err:
        raise InputError(f"{path}: its config does not fit this pointseg ({err})") from None


def check_compatible(ckpt: dict[str, Any], cfg: Config, path: str | Path) -> None:
    """Raise a clear error when a checkpoint was made for another model or other input features."""
    saved = checkpoint_config(ckpt, path)
    if model_fingerprint(saved) == model_fingerprint(cfg):
        return
    diffs = []
    for section in ("model", "features"):
        a, b = config_to_dict(getattr(saved, section)), config_to_dict(getattr(cfg, section))
        diffs += [f"{section}.{k}: checkpoint {a[k]!r}, config {b[k]!r}" for k in a if a[k] != b.get(k)]
    raise InputError(f"{path}: checkpoint is from another model config ({'; '.join(diffs)})")


def load_model_state(model: torch.nn.Module, ckpt: dict[str, Any], path: str | Path) -> None:
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise InputError(f"{path}: weights do not fit the model ({str(err).splitlines()[0]})") from None


def export_checkpoint(src: str | Path, dst: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """A checkpoint for labelling only: the model's weights (float32), config, class names, fingerprint and the training
    record, without optimizer, scaler or RNG states (a third of the size); `extra` (e.g. a model card's facts) is kept
    under "card". Written atomically."""
    ckpt = load_checkpoint(src)
    keep = {k: ckpt[k] for k in ("model", "config", "class_names", "model_fingerprint", "epoch", "step", "record", "trained_seconds") if k in ckpt}
    keep["model"] = {k: v.float() if v.is_floating_point() else v for k, v in keep["model"].items()}
    keep["card"] = dict(extra or {})
    with atomic_path(dst) as tmp:
        torch.save(keep, tmp)
    return Path(dst)
