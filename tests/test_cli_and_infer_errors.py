"""One clear line for the user's mistakes, tracebacks for bugs; a bad scene among many does not lose the others."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pointseg import cli
from pointseg.synthetic.files import write_synthetic_scenes
from pointseg.models.checkpoint import save_checkpoint
from pointseg.predict.label import label_scenes
from pointseg.errors import ConfigError, InputError, OutputExistsError
from pointseg.io import PointCloudError
from pointseg.models import build_model

ROOT = Path(__file__).resolve().parents[1]


def test_run_prints_a_user_error_as_one_line_and_exits_2(capsys, monkeypatch):
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)

    def main():
        raise OutputExistsError("work: holds a finished run; pass --resume")

    with pytest.raises(SystemExit) as exit_:
        cli.run(main, ["tool"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: work: holds a finished run; pass --resume\n"


def test_debug_flag_or_variable_shows_the_traceback_and_a_bug_always_does(monkeypatch):
    def user_mistake():
        raise InputError("--stride -5: must be positive")

    with pytest.raises(InputError):
        cli.run(user_mistake, ["tool", "--debug"])
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(InputError):
        cli.run(user_mistake, ["tool"])
    monkeypatch.delenv(cli.DEBUG_ENV)

    def bug():
        return {}["missing"]

    with pytest.raises(KeyError):  # not turned into one line: a bug keeps its traceback
        cli.run(bug, ["tool"])


def test_prepare_tool_refusing_out_equal_to_src_prints_one_line(demo_scenes, tmp_path):
    """The tool end to end (prepare imports no torch: quick to start). Nothing in --src changes."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    env.pop(cli.DEBUG_ENV, None)
    cmd = [sys.executable, str(ROOT / "tools" / "prepare_stpls3d.py"), "--src", str(demo_scenes), "--out", str(demo_scenes), "--overwrite"]
    before = sorted((p.name, p.stat().st_size) for p in demo_scenes.iterdir())
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: --out {demo_scenes} is the source directory --src {demo_scenes}; choose a new directory for the prepared data"]
    debug = subprocess.run(cmd + ["--debug"], env=env, capture_output=True, text=True, timeout=300)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "is the source directory" in debug.stderr
    assert sorted((p.name, p.stat().st_size) for p in demo_scenes.iterdir()) == before


@pytest.fixture
def checkpoint(tiny_cfg, tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    save_checkpoint(path, {"model": build_model(tiny_cfg).state_dict(), "epoch": 0, "step": 0}, tiny_cfg)
    return path


@pytest.fixture
def scenes(tmp_path):
    d = tmp_path / "scenes"
    write_synthetic_scenes(d, [7, 8], size=30.0, density=2.0)
    (d / "3_bad.txt").write_text("1,2,3,4,5,6,7\n")  # sorted first: the run used to die before any scene
    return d


def test_a_bad_scene_is_skipped_and_the_others_are_scored(checkpoint, scenes, tmp_path, caplog):
    out = tmp_path / "pred"
    with caplog.at_level(logging.ERROR):
        summary = label_scenes(checkpoint, scenes, out, torch.device("cpu"), progress=False)
    assert summary["scenes"] == 2
    assert list(summary["failed"].values()) == [f"{scenes / '3_bad.txt'}: 7 columns, expected 6 (x,y,z,r,g,b) or 8 (x,y,z,r,g,b,semantic,instance)"]
    assert f"skipped {scenes / '3_bad.txt'}: 7 columns" in caplog.text
    assert sorted(p.name for p in out.glob("*_pred.ply")) == ["7_points_GTv3_pred.ply", "8_points_GTv3_pred.ply"]
    assert set(json.loads((out / "metrics.json").read_text())) >= {"7_points_GTv3", "8_points_GTv3", "all"}


def test_strict_stops_at_the_first_bad_scene(checkpoint, scenes, tmp_path):
    with pytest.raises(PointCloudError, match="3_bad.txt: 7 columns"):
        label_scenes(checkpoint, scenes, tmp_path / "pred", torch.device("cpu"), progress=False, strict=True)
    assert not (tmp_path / "pred" / "metrics.json").exists()  # scenes go largest first: the run stops at the bad one


def test_negative_stride_is_refused_before_any_scene(checkpoint, scenes, tmp_path):
    with pytest.raises(ConfigError, match=r"infer.stride: expected a number > 0, got -5"):
        label_scenes(checkpoint, scenes, tmp_path / "pred", torch.device("cpu"), settings={"infer": {"stride": -5}}, progress=False)
    with pytest.raises(ConfigError, match=r"infer.stride: stride 75 m is larger than the patch size 50 m"):
        label_scenes(checkpoint, scenes, tmp_path / "pred", torch.device("cpu"), ["infer.stride=75"], progress=False)
    assert not (tmp_path / "pred").exists()


def test_temp_files_of_a_killed_infer_are_removed_but_never_another_machines(checkpoint, scenes, tmp_path, caplog):
    """Temp files carry PID@MACHINE: a dead PID of this machine is a killed run's leftover; the same PID on another
    machine sharing the folder (NFS; a container with its own PID namespace) may be a run still writing."""
    from pointseg.processes import MACHINE

    out = tmp_path / "pred"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = out / f".7_points_GTv3_pred.ply.{proc.pid}@{MACHINE}.k2j4h5g6.tmp"
    dead.write_bytes(b"half a ply")
    live = out / f".8_points_GTv3_pred.ply.{os.getpid()}@{MACHINE}.a1b2c3d4.tmp"  # a live writer's file stays
    live.write_bytes(b"being written")
    elsewhere = out / f".8_points_GTv3_pred.ply.{proc.pid}@other-node.q9w8e7r6.tmp"  # that PID means nothing here
    elsewhere.write_bytes(b"being written on another machine")
    unknown = out / f".old.ply.{proc.pid}.zz9y8x7w.tmp"  # no machine in the name (an older pointseg): reported, not removed
    unknown.write_bytes(b"?")
    (scenes / "3_bad.txt").unlink()
    with caplog.at_level(logging.WARNING):
        label_scenes(checkpoint, scenes / "7_points_GTv3.txt", out, torch.device("cpu"), progress=False)
    assert not dead.exists() and live.exists() and elsewhere.exists() and unknown.exists()
    assert "removed 1 temporary file(s) left by killed runs" in caplog.text and unknown.name in caplog.text
    assert sorted(out.glob(".*.tmp")) == sorted([live, elsewhere, unknown])  # and this run left none of its own


def test_infer_tool_names_a_negative_stride(monkeypatch, capsys, tmp_path):
    """`--stride -5` used to blame the voxel size; the tool now names the setting (checked before the checkpoint is read)."""
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    import infer

    argv = ["infer.py", "--ckpt", str(tmp_path / "none.pt"), "--input", str(tmp_path), "--out", str(tmp_path / "o"), "--stride", "-5"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_:
        cli.run(infer.main)
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: settings: infer.stride: expected a number > 0, got -5.0\n"


def test_infer_tool_ends_naming_what_it_wrote_with_units_and_writes_the_crs(checkpoint, scenes, tmp_path):
    """tools/infer.py end to end: text scenes -> LAZ with --crs; its last lines name the files and the metrics with their
    units (and the report with --pictures: test_end_to_end); metrics.csv is in percent with both point counts,
    metrics.json in fractions."""
    import laspy

    pytest.importorskip("pyproj")
    (scenes / "3_bad.txt").unlink()
    out = tmp_path / "pred"
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    cmd = [sys.executable, str(ROOT / "tools" / "infer.py"), "--ckpt", str(checkpoint), "--input", str(scenes), "--out", str(out),
           "--device", "cpu", "--format", "laz", "--crs", "EPSG:32633"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-4:] == [f"labelled 2 scene(s) into {out}:",
                          f"  {out / '7_points_GTv3_pred.laz'} (record: 7_points_GTv3_pred.json)",
                          f"  {out / '8_points_GTv3_pred.laz'} (record: 8_points_GTv3_pred.json)",
                          f"metrics: {out / 'metrics.json'} (fractions 0..1), {out / 'metrics.csv'} (percent); the table above is in percent"]
    assert lines[0].startswith("scores in %") and lines[1].startswith("points in file") and lines[2].startswith("points scored")
    metrics = json.loads((out / "metrics.json").read_text())
    csv = [line.split(",") for line in (out / "metrics.csv").read_text().splitlines()]
    rows = {row[0]: dict(zip(csv[0], row)) for row in csv[1:]}
    assert list(rows) == ["7_points_GTv3", "8_points_GTv3", "all"]
    for name, values in rows.items():
        assert float(values["miou_pct"]) == pytest.approx(100 * metrics[name]["miou"], abs=1e-4)
        assert int(values["points_scored"]) == metrics[name]["points_scored"]
    for name in ("7_points_GTv3", "8_points_GTv3"):
        las = laspy.read(str(out / f"{name}_pred.laz"))
        confusion = json.loads((out / f"{name}_pred.json").read_text())["confusion"]
        assert int(rows[name]["points_in_file"]) == len(las.points) and int(rows[name]["points_scored"]) == sum(map(sum, confusion))
        assert las.header.parse_crs().to_epsg() == 32633 and las.header.generating_software.startswith("pointseg")
        assert (np.asarray(las.return_number) == 1).all() and (np.asarray(las.number_of_returns) == 1).all()
