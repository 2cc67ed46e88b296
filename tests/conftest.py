import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", category=FutureWarning)

# One thread: multi-threaded CPU reductions (scatter-adds in torch and spconv) sum in varying orders, and the
# tests that compare runs bitwise (exact resume, one rank against two) need the same order every time.
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def demo_scenes(tmp_path_factory):
    """Three small labelled synthetic scenes (80 m) named like STPLS3D files: 1, 2 train/val, 5 test."""
    from pointseg.synthetic.files import write_synthetic_scenes

    out = tmp_path_factory.mktemp("raw")
    write_synthetic_scenes(out, [1, 2, 5], size=80.0, density=4.0, seed=1)
    return out


@pytest.fixture(scope="session")
def tiny_cfg():
    from pointseg.config import load_config

    # the demo config, made tiny; the recipe is pinned so that the demo's tuning does not move these tests
    # (a constant lr: a run cut after epoch 2 resumes on the same schedule as an uncut one)
    cfg = load_config("cpu_demo", [
        "model.aspp=true", "model.aspp_dilations=[6,12,18]", "loss.terms=[{name: wdice, weight: 1.0}, {name: wce, weight: 0.5}]",
        "loss.class_weights=manifest", "loss.class_weight_cap=0", "train.optimizer=adam", "train.scheduler=none", "train.lr=2e-3",
        "train.weight_decay=0", "data.voxel_size=0.25", "model.channels=[8,16,24]", "model.head_hidden=16", "train.batch_size=2",
        "train.epochs=1", "train.max_steps_per_epoch=2"])
    return cfg


@pytest.fixture(scope="session")
def prepared(demo_scenes, tiny_cfg, tmp_path_factory):
    from pointseg.data.prepare import prepare_dataset

    out = tmp_path_factory.mktemp("prep") / "prepared"
    prepare_dataset(demo_scenes, out, tiny_cfg.data, progress=False)
    return out


@pytest.fixture(scope="session")
def o3d():
    """Open3D for the read-back checks, or None where it is not installed (a GPU machine without it).
    tools/test.sh sets POINTSEG_REQUIRE_OPEN3D=1, so in the project's environment a missing Open3D fails."""
    import importlib
    import os

    try:
        return importlib.import_module("open3d")
    except ImportError:
        if os.environ.get("POINTSEG_REQUIRE_OPEN3D") == "1":
            raise
        return None
