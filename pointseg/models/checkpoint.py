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


def state_difference(saved: dict[str, Any], expected: dict[str, Any], n: int = 4) -> str:
    """The keys and shapes in which a checkpoint's weights differ from a model's, e.g.
    'stem.0.weight: checkpoint (3, 3, 3, 6, 16), model (3, 3, 3, 6, 8); missing: head.2.bias'."""
    def shape(t: Any) -> tuple:
        return tuple(getattr(t, "shape", ()))

    parts = [f"{k}: checkpoint {shape(saved[k])}, model {shape(v)}" for k, v in expected.items() if k in saved and shape(saved[k]) != shape(v)]
    missing = [k for k in expected if k not in saved]
    extra = [k for k in saved if k not in expected]
    for what, keys in (("missing in the checkpoint", missing), ("not in the model", extra)):
        if keys:
            parts.append(f"{what}: {', '.join(keys[:n])}" + (f" and {len(keys) - n} more" if len(keys) > n else ""))
    shown = "; ".join(parts[:n]) + (f"; and {len(parts) - n} more difference(s)" if len(parts) > n else "")
    return shown or "no key or shape differs"


def load_model_state(model: torch.nn.Module, ckpt: dict[str, Any], path: str | Path) -> None:
    """Load a checkpoint's weights; weights that do not fit raise InputError naming the keys and shapes that differ."""
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError:
        raise InputError(f"{path}: weights do not fit the model ({state_difference(ckpt['model'], model.state_dict())}); "
                         f"was the checkpoint edited, or saved by another program?") from None


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
