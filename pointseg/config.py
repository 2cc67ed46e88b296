"""YAML -> typed config. Every default reproduces the paper (U-Net + ASPP + weighted Dice on STPLS3D)."""

import dataclasses
import hashlib
import json
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
    test_scenes: list[int] = field(default_factory=lambda: [5, 10, 15, 20, 25])
    scene_glob: str = "*_points_GTv3.txt"
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

    @property
    def channels(self) -> int:
        return 3 * int(self.xyz) + 3 * int(self.rgb)


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
    class_weights: Any = "manifest"  # "manifest" (W_c = max_k n_k / n_c of the training split), "none", or 15 numbers


@dataclass
class TrainConfig:
    epochs: int = 300
    batch_size: int = 32  # global, split over the ranks
    lr: float = 1e-4
    optimizer: str = "adam"  # "adam" or "adamw"
    weight_decay: float = 0.0
    scheduler: str = "none"  # "none" or "cosine"
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
    """A config file with unknown keys or values of the wrong type."""


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(values).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    kwargs = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value, f"{where}.{name}")
        elif name == "terms":
            kwargs[name] = [_build(LossTerm, t, f"{where}.terms[{i}]") for i, t in enumerate(value)]
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.{name}: expected true/false, got {value!r}")
            kwargs[name] = value
        elif isinstance(default, (int, float)):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"{where}.{name}: expected a number, got {value!r}")
            if isinstance(default, int) and not float(value).is_integer():
                raise ConfigError(f"{where}.{name}: expected a whole number, got {value!r}")
            kwargs[name] = type(default)(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = values.pop("_base_", None)
    if base is not None:
        values = _merge(_read_yaml(path.parent / base), values)
    return values


def load_config(path: str | Path | None = None) -> Config:
    """Read a YAML config (with optional `_base_: other.yaml` inheritance); None gives the paper defaults."""
    if path is None:
        return Config()
    return config_from_dict(_read_yaml(Path(path)), str(path))


def config_from_dict(values: dict[str, Any], where: str = "config") -> Config:
    return _build(Config, values, where)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def fingerprint(section: Any) -> str:
    """A short stable hash of a config section (used to match checkpoints to models)."""
    return hashlib.sha256(json.dumps(config_to_dict(section), sort_keys=True).encode()).hexdigest()[:16]
