import copy
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from pointseg.config import apply_overrides, config_to_dict
from pointseg.models.checkpoint import check_compatible, load_checkpoint
from pointseg.train.loop import train

ROOT = Path(__file__).resolve().parents[1]


def test_train_then_resume_continues_step_and_optimizer(prepared, tiny_cfg, tmp_path):
    cfg = copy.deepcopy(tiny_cfg)
    record = train(cfg, prepared, tmp_path, device="cpu", progress=False)
    assert record["step"] == 2 and "val_miou" in record and "loss_wdice" in record
    first = load_checkpoint(tmp_path / "last.pt")
    assert first["epoch"] == 0 and first["step"] == 2
    cfg = apply_overrides(cfg, ["train.epochs=2"])
    record = train(cfg, prepared, tmp_path, resume=True, device="cpu", progress=False)
    second = load_checkpoint(tmp_path / "last.pt")
    assert second["epoch"] == 1 and second["step"] == 4 and record["epoch"] == 2
    adam_steps = {float(s["step"]) for s in second["optimizer"]["state"].values()}
    assert adam_steps == {4.0}  # Adam's moments were restored, not restarted
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2


def test_checkpoint_from_another_config_is_a_clear_error(prepared, tiny_cfg, tmp_path):
    train(copy.deepcopy(tiny_cfg), prepared, tmp_path, device="cpu", progress=False)
    other = apply_overrides(tiny_cfg, ["model.channels=[8,16,32]"])
    with pytest.raises(ValueError, match=r"last.pt: checkpoint is from another model config \(model.channels"):
        check_compatible(load_checkpoint(tmp_path / "last.pt"), other, tmp_path / "last.pt")
    with pytest.raises(ValueError, match="another model config"):
        train(other, prepared, tmp_path, resume=True, device="cpu", progress=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_run(prepared, tiny_cfg, tmp_path):
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(config_to_dict(tiny_cfg)))
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(ROOT / "tools" / "train.py"), "--config", str(cfg_path), "--data", str(prepared), "--work-dir", str(tmp_path / "w"), "--device", "cpu"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = load_checkpoint(tmp_path / "w" / "last.pt")
    assert ckpt["step"] == 2 and torch.isfinite(torch.tensor(ckpt["record"]["loss"]))


def test_augmentation_changes_between_epochs_with_loader_workers(prepared, tiny_cfg):
    from pointseg.data.dataset import PatchDataset
    from pointseg.distributed import DistInfo
    from pointseg.train.loader import make_loader

    cfg = apply_overrides(tiny_cfg, ["train.num_workers=1"])
    ds = PatchDataset(prepared, "train", cfg, train=True)
    loader = make_loader(ds, 1, cfg, DistInfo(0, 1, 0, torch.device("cpu")), train=True)
    assert loader.persistent_workers  # the same worker process serves both epochs
    seen = []
    for epoch in range(2):
        ds.set_epoch(epoch)
        seen.append({int(b.point_index[0][0]): float(b.feats.sum()) for b in loader})
    common = set(seen[0]) & set(seen[1])
    assert common and all(seen[0][k] != seen[1][k] for k in common)


def test_evaluation_shards_cover_every_patch_once():
    from pointseg.train.loader import ShardSampler

    shards = [list(ShardSampler(11, r, 3)) for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(11))
