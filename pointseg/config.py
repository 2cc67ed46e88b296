"""YAML -> typed config. Every default reproduces the paper (U-Net + ASPP + weighted Dice on STPLS3D)."""

import dataclasses
import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class DataConfig:
    """Tiling, voxelization and the split (tools/prepare_stpls3d.py)."""

    voxel_size: float = 0.02
    patch_size: float = 50.0
    train_stride: float = 25.0  # overlapping training/validation patches
    test_stride: float = 50.0  # test scenes tiled without overlap for evaluation
    # test scenes by STPLS3D number (5 = 5_points_GTv3.txt) or by scene name (file name without suffix)
    test_scenes: list[int | str] = field(default_factory=lambda: [5, 10, 15, 20, 25])
    scene_glob: str = "*_points_GTv3.txt"  # e.g. "*.laz", "*.la[sz]", "*.ply"
    class_map: str = "asprs"  # LAS/LAZ classification codes -> classes: a configs/class_maps/ name or a YAML path
    val_fraction: float = 0.2
    split_mode: str = "leak_free"  # "leak_free" or "paper" (random split of overlapping patches)
    val_block_size: float = 100.0  # leak_free: validation is drawn as whole blocks of this side
    seed: int = 0
    min_points_per_patch: int = 1000
    sparse_patch_policy: str = "merge"  # "merge" into the fullest neighbour, or "keep"


@dataclass
class FeatureConfig:
    """Per-point input features, averaged per voxel."""

    xyz: bool = True  # position within the patch: xy from the centre, z above the patch's lowest point, / (size/2)
    rgb: bool = True
    rgb_range: str = "unit"  # "unit" [0, 1] or "symmetric" [-1, 1]
    intensity: bool = False  # LiDAR intensity as log(1 + I) / log(1 + intensity_max), clipped to [0, 1]
    intensity_max: float = 65535.0  # LAS's 16-bit range; 8-bit intensities then span [0, 0.5]

    @property
    def channels(self) -> int:
        return 3 * int(self.xyz) + 3 * int(self.rgb) + int(self.intensity)


@dataclass
class AugmentConfig:
    """Training augmentation; points are re-voxelized afterwards."""

    enabled: bool = True
    rotate_z: bool = True  # uniform angle in [0, 2 pi)
    flip: bool = True  # x and y, each with probability 1/2
    scale: list[float] = field(default_factory=lambda: [0.95, 1.05])
    color_jitter: float = 0.05  # std of additive noise on rgb in [0, 1] units


@dataclass
class ModelConfig:
    """spconv U-Net; `channels` has one entry per level (levels - 1 downsamplings)."""

    channels: list[int] = field(default_factory=lambda: [32, 64, 96, 128, 160])
    aspp: bool = True
    aspp_dilations: list[int] = field(default_factory=lambda: [6, 12, 18])
    head_hidden: int = 64
    num_classes: int = 15


@dataclass
class LossTerm:
    name: str = "wdice"
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class LossConfig:
    terms: list[LossTerm] = field(default_factory=lambda: [LossTerm("wdice", 1.0)])
    # "manifest" (the paper: W_c = max_k n_k / n_c of the training split), "sqrt" (its square root), "none", or 15 numbers
    class_weights: Any = "manifest"
    class_weight_cap: float = 0.0  # > 0: weights above this are clipped to it (0: no cap, the paper)


@dataclass
class TrainConfig:
    epochs: int = 300
    batch_size: int = 32  # global, split over the ranks
    lr: float = 1e-4
    optimizer: str = "adam"  # "adam" or "adamw"
    weight_decay: float = 0.0
    scheduler: str = "none"  # "none" (constant lr, the paper), "cosine" (to 0) or "onecycle" (warm-up from lr/25, cosine to lr/1e4)
    warmup_fraction: float = 0.0  # cosine: share of the steps spent warming up linearly from 0 (onecycle: 0.3 when 0)
    time_budget_min: float = 0.0  # > 0: stop training after this many minutes (ends the epoch early); resume continues the budget
    amp: str = "fp16"  # "fp16", "bf16" or "none"; CUDA only, CPU trains in fp32
    val_every: int = 1
    num_workers: int = 8  # loader processes per rank; 8 feed an H100 at batch 32 (tools/benchmark_train.py)
    seed: int = 0
    max_steps_per_epoch: int = 0  # 0: the whole training split each epoch
    grad_clip: float = 0.0
    sync_bn: bool = True


@dataclass
class InferConfig:
    stride: float = 25.0
    batch_size: int = 32  # patches per forward pass on a GPU (H100: 4.2 GiB allocated; lower it on small GPUs)
    cpu_batch_size: int = 1  # on CPU spconv gains nothing from batching, and each patch costs ~250 MiB in flight
    edge_weight: float = 0.05  # vote weight of a point at a patch corner; 1 at the centre
    tta: int = 1  # test-time augmentation: views averaged (rotations about z by 360/tta degrees, every other one mirrored)
    coverage_buffer: float = -1.0  # metres of neighbouring tiles' points around each tile of a coverage; < 0: one patch (data.patch_size)
    output_format: str = "auto"  # labelled output: "auto" (LAS -> las, LAZ -> laz, txt/PLY -> ply), "ply", "las", "laz"
    write_class: str = "pred_class"  # LAS/LAZ: extra dimension "pred_class", or "classification" (codes via the class map)
    probabilities: bool = False  # also write each class's probability (prob_<class>, float32)


@dataclass
class VizConfig:
    """Pictures (pointseg.viz, tools/render.py, tools/infer.py --pictures)."""

    resolution: float = 0.25  # ground metres per pixel of the top-down maps
    max_pixels: int = 3000  # longest side of a map; bigger scenes get a coarser resolution
    min_pixels: int = 400  # small scenes are enlarged (whole pixels repeated) to at least this longest side
    fill: int = 2  # passes filling empty pixels from their nearest-to-viewer neighbour (sparse clouds leave holes)
    errors: str = "truth"  # wrong points coloured by their "truth" class, or "red"
    heat: str = "confidence"  # the heat map: "confidence" or "entropy" (where the prediction file has it)
    oblique: str = "zbuffer"  # an oblique view too: "zbuffer" (numpy, orthographic), "open3d" (offscreen, needs Vulkan), "none"


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    infer: InferConfig = field(default_factory=InferConfig)
    viz: VizConfig = field(default_factory=VizConfig)


class ConfigError(ValueError):
    """A config file or override with unknown keys, bad syntax or values of the wrong type."""


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _number(value: Any, kind: type, where: str) -> int | float:
    """A YAML value as int or float. PyYAML reads '1e-3' (no dot) as a string: accept it."""
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected {'a whole number' if kind is int else 'a number'}, got {value!r}")
    if kind is int:
        if not float(value).is_integer():
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        return int(value)
    return float(value)


def _value(hint: Any, value: Any, where: str) -> Any:
    """Check and convert one value against its type hint (bool, int, float, str, list[...], unions, dataclasses)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            try:
                return _value(option, value, where)
            except ConfigError as err:
                errors.append(str(err).split(": ", 1)[-1])
        raise ConfigError(f"{where}: {' or '.join(errors)}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r} (write e.g. [{value!r}])")
        return [_value(args[0] if args else Any, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if hint in (int, float):
        return _number(value, hint, where)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value  # Any


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    """A dataclass from a mapping; `where` is the dotted key of the mapping ('' at the top)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'top level'}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        keys = ", ".join(f"{where}.{k}" if where else k for k in unknown)
        raise ConfigError(f"unknown key {keys}; {where or 'the top level'} has {', '.join(sorted(known))}")
    return cls(**{name: _value(hints[name], value, f"{where}.{name}" if where else name) for name, value in values.items()})


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}: YAML syntax error{at}: {problem}") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    values = _parse_yaml(path.read_text(), str(path)) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = values.pop("_base_", None)
    if base is not None:
        values = _merge(_read_yaml(path.parent / base), values)
    return values


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Dotted `key=value` overrides (values in YAML syntax) as a nested mapping:
    ['train.lr=1e-3', 'model.channels=[32,64]'] -> {'train': {'lr': '1e-3'}, 'model': {'channels': [32, 64]}}."""
    out: dict[str, Any] = {}
    for item in overrides:
        key, eq, text = item.partition("=")
        if not eq or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override '{item}': expected key=value with a dotted key, e.g. train.lr=1e-3")
        value = _parse_yaml(text, f"override '{item}'") if text.strip() else None
        node = out
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{part}' is set twice, once as a value")
        node[leaf] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config (with optional `_base_: other.yaml` inheritance) and apply dotted `key=value`
    overrides; None gives the paper defaults. Unknown keys and wrong types raise ConfigError naming the key."""
    values = _read_yaml(Path(path)) if path is not None else {}
    source = str(path) if path is not None else "the default config"
    if overrides:
        values = _merge(values, parse_overrides(overrides))
        source += " with overrides " + " ".join(overrides)
    return config_from_dict(values, source)


def apply_overrides(cfg: Config, overrides: list[str] | tuple[str, ...], allowed: tuple[str, ...] = ()) -> Config:
    """A copy of `cfg` with dotted overrides applied and validated; `allowed` limits the top-level sections
    (a checkpoint fixes the model, so inference takes only infer.* overrides)."""
    if not overrides:
        return cfg
    parsed = parse_overrides(overrides)
    refused = sorted(set(parsed) - set(allowed)) if allowed else []
    if refused:
        raise ConfigError(f"overrides of {', '.join(refused)} are not taken here (only {', '.join(allowed)}.*): "
                          "the checkpoint fixes the model and its data settings")
    return config_from_dict(_merge(config_to_dict(cfg), parsed), "overrides " + " ".join(overrides))


def config_from_dict(values: dict[str, Any], source: str = "config") -> Config:
    """A Config from nested mappings; errors name `source` and the dotted key."""
    try:
        return _build(Config, values, "")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def fingerprint(section: Any) -> str:
    """A short stable hash of a config section (used to match checkpoints to models)."""
    return hashlib.sha256(json.dumps(config_to_dict(section), sort_keys=True).encode()).hexdigest()[:16]
