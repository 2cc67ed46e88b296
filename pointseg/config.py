"""YAML -> typed, value-checked config. Every default reproduces the paper (U-Net + ASPP + weighted Dice on STPLS3D).

The sections are frozen dataclasses that check their own values when they are made (`__post_init__`): types
(numbers written as '1e-3' are read as numbers), choices (`Literal`), ranges (`Range`), and, for the whole
config, the values that must agree (patch size, stride and voxel size). So a config cannot exist with a bad
value, whichever way it was made: a YAML file, dotted overrides, command-line flags (`apply_settings`),
`dataclasses.replace` or a constructor call. Change a config with `apply_overrides` / `apply_settings`.

Configs shipped with pointseg live in the package (`pointseg/configs/`, also reachable as `configs/` in a
source checkout); `load_config("recommended")` finds one by name.
"""

import dataclasses
import hashlib
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml

from pointseg.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """Bounds of a number: low <= value (low < value when `open_low`) and value <= high; never NaN."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False

    def check(self, value: float, where: str) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        too_low = value <= self.low if self.open_low else value < self.low
        if too_low or value > self.high:
            low = f"> {self.low:g}" if self.open_low else f">= {self.low:g}"
            bounds = low if math.isinf(self.high) else f"{low} and <= {self.high:g}"
            raise ConfigError(f"{where}: expected a number {bounds}, got {value!r}")


Positive = Annotated[float, Range(0.0, open_low=True)]
NonNegative = Annotated[float, Range(0.0)]
Fraction = Annotated[float, Range(0.0, 1.0)]
Count = Annotated[int, Range(1)]
NonNegativeInt = Annotated[int, Range(0)]

LOSS_NAMES = ("ce", "wce", "wdice", "dice", "dice_ce", "focal", "tversky", "focal_tversky", "iou", "topk_ce", "topk_dice", "lovasz")
LossName = Literal["ce", "wce", "wdice", "dice", "dice_ce", "focal", "tversky", "focal_tversky", "iou", "topk_ce", "topk_dice", "lovasz"]
assert typing.get_args(LossName) == LOSS_NAMES
OutputFormat = Literal["auto", "ply", "las", "laz"]  # auto: LAS -> las, LAZ -> laz, txt/PLY -> ply
WriteClass = Literal["pred_class", "classification"]  # LAS/LAZ: an extra dimension, or classification codes via the class map
Units = Literal["auto", "m", "ft", "ftUS"]  # coordinate units: pointseg.io.units


class Checked:
    """Checks and converts every field against its type hint when the dataclass is made (frozen: set via object)."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self), include_extras=True)
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _value(hints[f.name], getattr(self, f.name), f.name))
        self.check()

    def check(self) -> None:
        """Checks that involve several fields of the section."""


@dataclass(frozen=True)
class DataConfig(Checked):
    """Tiling, voxelization and the split (tools/prepare_stpls3d.py)."""

    voxel_size: Positive = 0.02
    patch_size: Positive = 50.0
    train_stride: Positive = 25.0  # overlapping training/validation patches
    test_stride: Positive = 50.0  # test scenes tiled without overlap for evaluation
    # test scenes by STPLS3D number (5 = 5_points_GTv3.txt) or by scene name (file name without suffix)
    test_scenes: list[int | str] = field(default_factory=lambda: [5, 10, 15, 20, 25])
    scene_glob: str = "*_points_GTv3.txt"  # e.g. "*.laz", "*.la[sz]", "*.ply"
    class_map: str = "asprs"  # LAS/LAZ classification codes -> classes: a shipped map's name or a YAML path
    units: Units = "auto"  # coordinate units of files without a CRS: auto (metres), m, ft, ftUS; a LAS/LAZ CRS decides its own
    val_fraction: Fraction = 0.2
    split_mode: Literal["leak_free", "paper"] = "leak_free"  # paper: random split of overlapping patches
    val_block_size: Positive = 100.0  # leak_free: validation is drawn as whole blocks of this side
    seed: int = 0
    min_points_per_patch: NonNegativeInt = 1000
    sparse_patch_policy: Literal["merge", "keep"] = "merge"  # merge into the fullest neighbour, or keep
    max_memory: NonNegative = 0.0  # GiB a scene may take in memory; larger files are prepared tile by tile from disk; 0: a sixth of the machine's
    hag: bool = False  # also store each point's height above the SMRF ground (for features.hag)

    def check(self) -> None:
        for key in ("train_stride", "test_stride"):
            check_tiling(self.patch_size, getattr(self, key), self.voxel_size, f"data.{key}")


@dataclass(frozen=True)
class FeatureConfig(Checked):
    """Per-point input features, averaged per voxel."""

    xyz: bool = True  # position within the patch: xy from the centre, z above z_reference, / (size/2)
    z_reference: Literal["patch_min", "ground"] = "patch_min"  # the patch's lowest point, or the ground under each point (data.hag)
    rgb: bool = True
    rgb_range: Literal["unit", "symmetric"] = "unit"  # [0, 1] or [-1, 1]
    intensity: bool = False  # LiDAR intensity (pointseg.data.features: intensity_norm)
    intensity_norm: Literal["log", "scene"] = "log"  # log(1 + I) / log(1 + intensity_max), or I / (2 x the scene's 99th percentile)
    intensity_max: Positive = 65535.0  # log: LAS's 16-bit range; 8-bit intensities then span [0, 0.5]
    returns: bool = False  # LiDAR return number and number of returns (position in the pulse, pulse complexity)
    hag: bool = False  # height above the SMRF ground surface (pointseg.baselines.smrf), / (patch size / 2)

    def check(self) -> None:
        if not (self.xyz or self.rgb or self.intensity or self.returns or self.hag):
            raise ConfigError("features: enable at least one of xyz, rgb, intensity, returns and hag")

    @property
    def channels(self) -> int:
        return 3 * int(self.xyz) + 3 * int(self.rgb) + int(self.intensity) + 2 * int(self.returns) + int(self.hag)

    @property
    def needs_ground(self) -> bool:
        """Whether the features use each point's height above ground (the hag channel, or z above ground)."""
        return self.hag or (self.xyz and self.z_reference == "ground")


@dataclass(frozen=True)
class AugmentConfig(Checked):
    """Training augmentation; points are re-voxelized afterwards."""

    enabled: bool = True
    rotate_z: bool = True  # uniform angle in [0, 2 pi)
    flip: bool = True  # x and y, each with probability 1/2
    scale: list[Positive] = field(default_factory=lambda: [0.95, 1.05])  # [] for none
    color_jitter: NonNegative = 0.05  # std of additive noise on rgb in [0, 1] units
    intensity_gain: list[Positive] = field(default_factory=list)  # [low, high]: intensities times a gain drawn per patch ([] none)
    drop_returns: Fraction = 0.0  # share of patches whose return numbers are set to 1 of 1 (files with returns stripped)

    def check(self) -> None:
        for key in ("scale", "intensity_gain"):
            value = getattr(self, key)
            if value and (len(value) != 2 or value[0] > value[1]):
                raise ConfigError(f"augment.{key}: expected [low, high] with low <= high, or [], got {value}")


@dataclass(frozen=True)
class ModelConfig(Checked):
    """spconv U-Net; `channels` has one entry per level (levels - 1 downsamplings)."""

    channels: list[Count] = field(default_factory=lambda: [32, 64, 96, 128, 160])
    aspp: bool = True
    aspp_dilations: list[Count] = field(default_factory=lambda: [6, 12, 18])
    head_hidden: Count = 64
    num_classes: Count = 15

    def check(self) -> None:
        if len(self.channels) < 2:
            raise ConfigError(f"model.channels: need at least two levels, got {self.channels}")
        if self.aspp and not self.aspp_dilations:
            raise ConfigError("model.aspp_dilations: empty; give at least one dilation or set model.aspp: false")


@dataclass(frozen=True)
class LossTerm(Checked):
    name: LossName = "wdice"
    weight: NonNegative = 1.0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LossConfig(Checked):
    terms: list[LossTerm] = field(default_factory=lambda: [LossTerm("wdice", 1.0)])
    # "manifest" (the paper: W_c = max_k n_k / n_c of the training split), "sqrt" (its square root), "none", or 15 numbers
    class_weights: Literal["manifest", "sqrt", "none"] | list[NonNegative] = "manifest"
    class_weight_cap: NonNegative = 0.0  # > 0: weights above this are clipped to it (0: no cap, the paper)

    def check(self) -> None:
        if not self.terms:
            raise ConfigError("loss.terms: empty; name at least one loss")
        if isinstance(self.class_weights, list) and len(self.class_weights) != 15:
            raise ConfigError(f"loss.class_weights: expected 'manifest', 'sqrt', 'none' or 15 numbers, got {len(self.class_weights)} numbers")


@dataclass(frozen=True)
class TrainConfig(Checked):
    epochs: Count = 300
    batch_size: Count = 32  # global, split over the ranks
    lr: Positive = 1e-4
    optimizer: Literal["adam", "adamw"] = "adam"
    weight_decay: NonNegative = 0.0
    scheduler: Literal["none", "cosine", "onecycle"] = "none"  # constant lr (the paper), cosine to 0, or warm-up + cosine to lr/1e4
    warmup_fraction: Annotated[float, Range(0.0, 1.0)] = 0.0  # cosine: share of the steps spent warming up (onecycle: 0.3 when 0)
    time_budget_min: NonNegative = 0.0  # > 0: stop training after this many minutes (ends the epoch early); resume continues the budget
    amp: Literal["fp16", "bf16", "none"] = "fp16"  # CUDA only; the CPU trains in fp32
    val_every: Count = 1
    num_workers: NonNegativeInt = 8  # loader processes per rank; 8 feed an H100 at batch 32 (tools/benchmark_train.py)
    seed: int = 0
    max_steps_per_epoch: NonNegativeInt = 0  # 0: the whole training split each epoch
    grad_clip: NonNegative = 0.0
    sync_bn: bool = True


@dataclass(frozen=True)
class InferConfig(Checked):
    stride: Positive = 25.0
    batch_size: Count = 32  # patches per forward pass on a GPU (H100: 4.2 GiB allocated; lower it on small GPUs)
    cpu_batch_size: Count = 1  # on CPU spconv gains nothing from batching, and each patch costs ~250 MiB in flight
    edge_weight: Annotated[float, Range(0.0, 1.0, open_low=True)] = 0.05  # vote weight of a point at a patch corner; 1 at the centre
    tta: Count = 1  # test-time augmentation: views averaged (rotations about z by 360/tta degrees, every other one mirrored)
    coverage: bool = False  # the inputs are adjacent tiles of one cloud, labelled without seams
    coverage_buffer: Annotated[float, Range(-1.0)] = -1.0  # metres of neighbouring tiles' points around each tile; -1: one patch
    output_format: OutputFormat = "auto"
    write_class: WriteClass = "pred_class"
    probabilities: bool = False  # also write each class's probability (prob_<class>, float32)
    colorize: bool = False  # PLY output coloured by predicted class instead of the input's rgb
    class_map: str = ""  # LAS/LAZ codes <-> classes for reading and --write-class; "" = the checkpoint's data.class_map
    max_memory: NonNegative = 0.0  # GiB a scene may take in memory; larger files are labelled tile by tile from disk; 0: a sixth of the machine's
    units: Units = "auto"  # coordinate units of inputs without a CRS: auto (metres), m, ft, ftUS; a LAS/LAZ CRS decides its own
    crs: str = ""  # an EPSG code or WKT written into outputs of inputs without a CRS (text/PLY -> LAS/LAZ); "" = none

    def check(self) -> None:
        if -1.0 < self.coverage_buffer < 0:
            raise ConfigError(f"infer.coverage_buffer: expected -1 (one patch) or a number of metres >= 0, got {self.coverage_buffer!r}")


@dataclass(frozen=True)
class VizConfig(Checked):
    """Pictures (pointseg.viz, tools/render.py, tools/infer.py --pictures)."""

    resolution: Positive = 0.25  # ground metres per pixel of the top-down maps
    max_pixels: Annotated[int, Range(16)] = 3000  # longest side of a map; bigger scenes get a coarser resolution
    min_pixels: NonNegativeInt = 400  # small scenes are enlarged (whole pixels repeated) to at least this longest side
    fill: NonNegativeInt = 2  # passes filling empty pixels from their nearest-to-viewer neighbour (sparse clouds leave holes)
    errors: Literal["truth", "red"] = "truth"  # wrong points coloured by their true class, or red
    heat: Literal["confidence", "entropy"] = "confidence"  # the heat map (entropy where the prediction file has it)
    oblique: Literal["zbuffer", "open3d", "none"] = "zbuffer"  # an oblique view: numpy orthographic, Open3D offscreen (needs Vulkan), none


@dataclass(frozen=True)
class Config(Checked):
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    infer: InferConfig = field(default_factory=InferConfig)
    viz: VizConfig = field(default_factory=VizConfig)

    def check(self) -> None:
        check_tiling(self.data.patch_size, self.infer.stride, self.data.voxel_size, "infer.stride")
        if self.features.needs_ground and not self.data.hag:
            raise ConfigError("features.hag and features.z_reference: ground need data.hag: true (the prepared data must hold each "
                              "point's height above ground)")


def check_tiling(size: float, stride: float, voxel_size: float, where: str) -> None:
    """Patches of `size` at `stride` on voxels of `voxel_size`: 0 < stride <= size, both whole multiples of the voxel."""
    if not stride <= size:
        raise ConfigError(f"{where}: stride {stride:g} m is larger than the patch size {size:g} m (gaps between patches)")
    for name, value in (("patch size", size), ("stride", stride)):
        ratio = value / voxel_size
        if abs(ratio - round(ratio)) > 1e-6 * ratio:
            raise ConfigError(f"{where}: the {name} {value:g} m must be a whole multiple of the voxel size {voxel_size:g} m")


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _number(value: Any, kind: type, where: str) -> int | float:
    """A YAML value as int or float. PyYAML reads '1e-3' (no dot) as a string: accept it."""
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected {'a whole number' if kind is int else 'a number'}, got {value!r}")
    if kind is int:
        if not (math.isfinite(value) and float(value).is_integer()):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        return int(value)
    return float(value)


def _value(hint: Any, value: Any, where: str) -> Any:
    """Check and convert one value against its type hint (bool, int, float, str, Literal, Annotated ranges,
    list[...], dict, unions, dataclasses)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        converted = _value(args[0], value, where)
        for rule in args[1:]:
            if isinstance(rule, Range):
                rule.check(converted, where)
        return converted
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else _build(hint, value, where)
    if origin is Literal:
        if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args if a == value):
            raise ConfigError(f"{where}: expected one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            try:
                return _value(option, value, where)
            except ConfigError as err:
                errors.append(str(err).split(": ", 1)[-1])
        raise ConfigError(f"{where}: {' or '.join(errors)}")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r} (write e.g. [{value!r}])")
        return [_value(args[0] if args else Any, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
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


def _build(cls: type, values: Any, where: str) -> Any:
    """A dataclass from a mapping; `where` is the dotted key of the mapping ('' at the top). Errors name the key."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'top level'}: expected a mapping, got {values!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        keys = ", ".join(f"{where}.{k}" if where else k for k in unknown)
        raise ConfigError(f"unknown key {keys}; {where or 'the top level'} has {', '.join(sorted(known))}")
    try:
        return cls(**values)
    except ConfigError as err:
        message = str(err)
        if where and not message.startswith(where):  # a section names its own keys; prefix where it sits
            message = f"{where}.{message}" if not message.startswith("unknown key") else message
        raise ConfigError(message) from None


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


def shipped_configs() -> Path:
    """The folder of the configs shipped with pointseg (package data: found in an installed package too)."""
    return Path(str(resources.files("pointseg") / "configs"))


def resolve_config(name_or_path: str | Path) -> Path:
    """A config file: a path as given, or a shipped config by name ('recommended', 'study/cpu_base')."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.suffix.lower() not in (".yaml", ".yml"):
        shipped = shipped_configs() / f"{name_or_path}.yaml"
        if shipped.is_file():
            return shipped
    names = sorted(p.stem for p in shipped_configs().glob("*.yaml"))
    raise ConfigError(f"{path}: config file not found (shipped configs by name: {', '.join(names)})")


def read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file's mapping, with `_base_: other.yaml` (relative to the file) merged under it."""
    path = resolve_config(path)
    if path.resolve() in seen:
        chain = " -> ".join(p.name for p in (*seen, path.resolve()))
        raise ConfigError(f"{path}: _base_ goes round in a circle ({chain}); point it at another file")
    values = _parse_yaml(path.read_text(), str(path)) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = values.pop("_base_", None)
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"{path}: _base_: expected a file name, got {base!r}")
        values = _merge(read_yaml(path.parent / base, (*seen, path.resolve())), values)
    return values


def _override_value(text: str, item: str) -> Any:
    """An override's value in YAML syntax ('[32, 64]', '1e-3', 'true'); plain text YAML cannot read (e.g. '*.la[sz]')
    stays the string it is, for the key's type to accept or refuse; a broken list or mapping is a YAML syntax error."""
    if not text.strip():
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        if text.lstrip()[:1] in ("[", "{", '"', "'"):
            return _parse_yaml(text, f"override '{item}'")
        return text


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Dotted `key=value` overrides (values in YAML syntax) as a nested mapping:
    ['train.lr=1e-3', 'model.channels=[32,64]'] -> {'train': {'lr': '1e-3'}, 'model': {'channels': [32, 64]}}."""
    out: dict[str, Any] = {}
    for item in overrides:
        key, eq, text = item.partition("=")
        if not eq or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override '{item}': expected key=value with a dotted key, e.g. train.lr=1e-3")
        value = _override_value(text, item)
        node = out
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{part}' is set twice, once as a value")
        node[leaf] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (), settings: dict[str, Any] | None = None) -> Config:
    """Read a YAML config (a path or a shipped config's name; `_base_: other.yaml` inheritance), then apply dotted
    `key=value` overrides and `settings` (nested values, e.g. from command-line flags); None gives the paper
    defaults. Unknown keys, wrong types and values out of range raise ConfigError naming the key."""
    values = read_yaml(Path(path)) if path is not None else {}
    source = str(path) if path is not None else "the default config"
    if overrides:
        values = _merge(values, parse_overrides(overrides))
        source += " with overrides " + " ".join(overrides)
    if settings:
        values = _merge(values, settings)
    return config_from_dict(values, source)


def apply_overrides(cfg: Config, overrides: list[str] | tuple[str, ...] = (), allowed: tuple[str, ...] = (),
                    settings: dict[str, Any] | None = None) -> Config:
    """A new config: `cfg` with dotted overrides and then `settings` (nested values, e.g. from command-line flags)
    applied and validated; `allowed` limits the sections that may change (a checkpoint fixes the model, so
    inference takes only infer.* and viz.*)."""
    parsed = _merge(parse_overrides(overrides), settings or {})
    if not parsed:
        return cfg
    refused = sorted(set(parsed) - set(allowed)) if allowed else []
    if refused:
        raise ConfigError(f"settings of {', '.join(refused)} are not taken here (only {', '.join(f'{a}.*' for a in allowed)}): "
                          "the checkpoint fixes the model and its data settings")
    return config_from_dict(_merge(config_to_dict(cfg), parsed), "settings " + " ".join(overrides) if overrides else "settings")


def flag_settings(section: str, **values: Any) -> dict[str, Any]:
    """{section: {key: value}} for the flags that were given (None: not given), to pass as `settings`."""
    given = {k: v for k, v in values.items() if v is not None}
    return {section: given} if given else {}


def read_checked(cls: type, path: str | Path) -> Any:
    """Any checked dataclass (a subclass of Checked, e.g. a study's) from a YAML file; errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    values = _parse_yaml(path.read_text(), str(path)) or {}  # syntax errors name the file, line and column
    try:
        return _build(cls, values, "")
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


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
