"""Training never replaces a run it was not asked to, and --resume continues exactly."""

import json
import logging

import pytest
import torch

from pointseg.config import apply_overrides
from pointseg.models.checkpoint import load_checkpoint
from pointseg.train.loop import train
from pointseg.errors import InputNotFoundError, OutputExistsError


@pytest.fixture(autouse=True)
def quick_validation(monkeypatch):
    """Validation changes no weights; a fixed confusion matrix keeps these tests to seconds."""
    import numpy as np

    import pointseg.train.loop as trainer

    monkeypatch.setattr(trainer, "evaluate", lambda model, loader, device: np.eye(15, dtype=np.int64))


def run(cfg, prepared, work, epochs, **kw):
    # one step per epoch: epoch 3 of a resumed run used to take epoch 1's first batch
    cfg = apply_overrides(cfg, [f"train.epochs={epochs}", "train.max_steps_per_epoch=1"])
    return train(cfg, prepared, work, device="cpu", progress=False, **kw)


def epochs_logged(work):
    return [json.loads(line)["epoch"] for line in (work / "metrics.jsonl").read_text().splitlines()]


def test_a_finished_run_is_refused_then_moved_aside_on_restart(prepared, tiny_cfg, tmp_path, caplog):
    work = tmp_path / "work"
    run(tiny_cfg, prepared, work, 1)
    best, metrics = (work / "best.pt").read_bytes(), (work / "metrics.jsonl").read_bytes()
    with pytest.raises(OutputExistsError, match=r"work: holds a finished run \(epoch 1 of 1\) \(last.pt, best.pt, metrics.jsonl, config.json(, tensorboard)?\); "
                                                 r"pass --resume to continue it, or --restart to move it aside to work.previous-1"):
        run(tiny_cfg, prepared, work, 1)
    assert (work / "best.pt").read_bytes() == best and (work / "metrics.jsonl").read_bytes() == metrics

    with caplog.at_level(logging.WARNING):
        run(tiny_cfg, prepared, work, 1, restart=True)
    aside = tmp_path / "work.previous-1"
    assert (aside / "best.pt").read_bytes() == best and (aside / "metrics.jsonl").read_bytes() == metrics
    assert epochs_logged(work) == [1]
    assert "moved the previous run aside" in caplog.text


def test_resume_without_a_checkpoint_and_a_finished_run(prepared, tiny_cfg, tmp_path, caplog):
    work = tmp_path / "work"
    with pytest.raises(InputNotFoundError, match="last.pt: nothing to resume"):
        run(tiny_cfg, prepared, work, 1, resume=True)
    run(tiny_cfg, prepared, work, 1)
    last = (work / "last.pt").read_bytes()
    with caplog.at_level(logging.WARNING):
        run(tiny_cfg, prepared, work, 1, resume=True)
    assert "the run finished epoch 1 of 1; nothing to do" in caplog.text
    assert (work / "last.pt").read_bytes() == last and epochs_logged(work) == [1]


def test_a_run_cut_after_epoch_2_and_resumed_equals_an_uncut_run(prepared, tiny_cfg, tmp_path):
    """Bitwise on the CPU: model weights, BatchNorm statistics and Adam moments."""
    run(tiny_cfg, prepared, tmp_path / "uncut", 3)
    run(tiny_cfg, prepared, tmp_path / "cut", 2)
    # killed after writing epoch 3's metrics line (and half of another) but before its checkpoint
    with open(tmp_path / "cut" / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 3, "loss": 1.0}\n{"epoch": 4, "lo')
    run(tiny_cfg, prepared, tmp_path / "cut", 3, resume=True)
    a, b = load_checkpoint(tmp_path / "uncut" / "last.pt"), load_checkpoint(tmp_path / "cut" / "last.pt")
    assert a["step"] == b["step"] == 3
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for key, state in a["optimizer"]["state"].items():
        for name, tensor in state.items():
            assert torch.equal(tensor, b["optimizer"]["state"][key][name]), (key, name)
    assert epochs_logged(tmp_path / "cut") == [1, 2, 3]
