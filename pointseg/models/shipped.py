"""The models shipped with pointseg (package data, pointseg/checkpoints/): `photogrammetry` (xyz + rgb, trained on the
synthetic photogrammetry scenes) and `lidar` (no colour: z above the SMRF ground under each point, intensity, return
numbers; trained on the synthetic LiDAR scans). Their model cards are in docs/models.md; tools/train_shipped.sh re-trains them."""

from pathlib import Path

from pointseg.errors import InputNotFoundError

SHIPPED = ("photogrammetry", "lidar")


def shipped_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "checkpoints"


def shipped_checkpoint(name: str) -> Path:
    """The checkpoint of a shipped model by name."""
    if name not in SHIPPED:
        raise InputNotFoundError(f"--model {name}: no such shipped model (they are {', '.join(SHIPPED)}; give your own with --ckpt)")
    path = shipped_dir() / f"{name}.pt"
    if not path.is_file():
        raise InputNotFoundError(f"{path}: the shipped '{name}' model is missing from this installation; re-train it with "
                                 f"tools/train_shipped.sh {name} or give a checkpoint with --ckpt")
    return path
