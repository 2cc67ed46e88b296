"""tools/reproduce_table1.py at toy scale: four models trained, test scenes labelled, a table; a re-run skips them."""

import json
import os
import subprocess
import sys
from pathlib import Path

from pointseg.models.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TOY = ["data.test_scenes=[3]", "data.voxel_size=0.5", "data.min_points_per_patch=100", "model.channels=[8,16]", "model.head_hidden=8",
       "train.batch_size=2", "train.max_steps_per_epoch=2", "train.num_workers=0", "train.amp=none", "infer.cpu_batch_size=2"]


def run(root: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "tools" / "reproduce_table1.py"), "--root", str(root), "--scenes", "1-3", "--size", "60",
           "--epochs", "1", "--device", "cpu", *extra, *TOY]
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def test_toy_table_then_a_rerun_skips_finished_models(tmp_path):
    first = run(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    table = (tmp_path / "table.md").read_text().splitlines()
    assert [line.split("|")[1].strip() for line in table[2:]] == ["unet_wce", "unet_aspp_wce", "unet_aspp_wdice", "recommended"]
    assert "92.19 / 46.23" in table[2] and "96.53 / 63.59" in table[4]
    for model in ("unet_wce", "recommended"):
        result = json.loads((tmp_path / model / "results.json").read_text())
        assert 0 <= result["test"]["oa"] <= 1 and result["steps"] == 2
        assert (tmp_path / model / "test_predictions" / "3_points_GTv3_pred.ply").is_file()
    assert len(list(tmp_path.glob("prepared_*"))) == 1  # one data config (the toy override sets every voxel size)
    mtime = (tmp_path / "unet_wce" / "last.pt").stat().st_mtime
    again = run(tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "unet_wce" / "last.pt").stat().st_mtime == mtime  # finished: not trained again
    assert (tmp_path / "table.md").read_text().splitlines() == table
    longer = run(tmp_path, "--models", "unet_wce", "--epochs", "2")  # a larger budget resumes the finished run
    assert longer.returncode == 0, longer.stderr[-3000:]
    assert load_checkpoint(tmp_path / "unet_wce" / "last.pt")["step"] == 4
    assert json.loads((tmp_path / "unet_wce" / "results.json").read_text())["epochs"] == 2


def test_a_table_the_user_wrote_is_not_replaced(tmp_path):
    from pointseg.study import write_table
    from pointseg.errors import OutputExistsError
    import pytest

    mine = tmp_path / "table.md"
    mine.write_text("my own notes\n")
    with pytest.raises(OutputExistsError, match="not written by pointseg"):
        write_table(mine, "| a |")
    assert mine.read_text() == "my own notes\n"
    ours = tmp_path / "ours.md"
    write_table(ours, "| a |")
    write_table(ours, "| b |")  # its own earlier table is replaced
    assert ours.read_text().splitlines() == ["| b |"]
