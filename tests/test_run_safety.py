"""Runs never replace a user's files, never run twice in one folder, refuse before any work, and stop cleanly."""

import errno
import json
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from pointseg import cli
from pointseg.errors import InputError, OutputExistsError, OutputNotWritable, RunInProgress
from pointseg.io.run_lock import RUN_LOCK_NAME, RunLock, lock_folder
from pointseg.models import build_model
from pointseg.models.checkpoint import save_checkpoint
from pointseg.predict import label as label_module
from pointseg.predict.label import label_scenes
from pointseg.processes import MACHINE
from pointseg.synthetic.files import write_synthetic_scenes

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model_and_scenes(tiny_cfg, tmp_path_factory):
    """A tiny random model and two small labelled scenes (30 m)."""
    root = tmp_path_factory.mktemp("safety")
    torch.manual_seed(0)
    save_checkpoint(root / "model.pt", {"model": build_model(tiny_cfg).state_dict(), "epoch": 0, "step": 0}, tiny_cfg)
    write_synthetic_scenes(root / "scenes", [7, 8], size=30.0, density=2.0)
    return root / "model.pt", root / "scenes"


@pytest.fixture
def no_labelling(monkeypatch):
    """Makes labelling a scene fail the test: refusals must come before any scene is read."""
    def refuse(*args, **kwargs):
        raise AssertionError("a scene was labelled before the refusal")

    monkeypatch.setattr(label_module, "predict_scene", refuse)
    monkeypatch.setattr(label_module, "read_scene", refuse)


def users_files(folder: Path, names: list[str]) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).parent.mkdir(parents=True, exist_ok=True)
        (folder / n).write_bytes(f"the user's own {n}".encode())
    return {n: (folder / n).read_bytes() for n in names}


def unchanged(folder: Path, before: dict[str, bytes]) -> bool:
    return all((folder / n).read_bytes() == b for n, b in before.items())


def test_infer_refuses_the_users_outputs_before_labelling_any_scene(model_and_scenes, tmp_path, no_labelling):
    ckpt, scenes = model_and_scenes
    out = tmp_path / "pred"
    mine = users_files(out, ["7_points_GTv3_pred.ply", "7_points_GTv3_pred.json", "metrics.json", "metrics.csv"])
    with pytest.raises(OutputExistsError) as err:
        label_scenes(ckpt, scenes, out, CPU, progress=False)
    for name in mine:
        assert name in str(err.value)
    assert "nothing was labelled" in str(err.value)
    assert unchanged(out, mine) and not (out / RUN_LOCK_NAME).exists()


def test_pictures_refuse_a_users_report_or_picture_before_labelling(model_and_scenes, tmp_path, no_labelling):
    ckpt, scenes = model_and_scenes
    out = tmp_path / "pred"
    mine = users_files(out, ["report.html", "pictures/8_points_GTv3_overview.png", "iou_all.png"])
    with pytest.raises(OutputExistsError, match=r"report.html.*exist\(s\) and were not written by pointseg"):
        label_scenes(ckpt, scenes, out, CPU, progress=False, pictures=True)
    assert unchanged(out, mine)


def test_evaluate_refuses_a_users_metrics_before_reading_any_scene(model_and_scenes, tmp_path, monkeypatch):
    from pointseg.predict import evaluate as evaluate_module

    ckpt, scenes = model_and_scenes
    out = tmp_path / "pred"
    label_scenes(ckpt, scenes / "7_points_GTv3.txt", out, CPU, progress=False)
    (out / "metrics.csv").unlink()
    mine = users_files(out, ["metrics.csv"])
    monkeypatch.setattr(evaluate_module, "read_scene", lambda *a, **k: pytest.fail("a scene was read before the refusal"))
    with pytest.raises(OutputExistsError, match=r"metrics.csv: exist\(s\) and were not written by pointseg .*nothing was scored"):
        evaluate_module.evaluate_predictions(out, scenes)
    assert unchanged(out, mine)


def test_two_inputs_that_give_one_scene_name_are_refused_naming_both(model_and_scenes, tmp_path, no_labelling):
    ckpt, scenes = model_and_scenes
    from pointseg.io import read_scene, write_ply

    other = read_scene(scenes / "8_points_GTv3.txt")
    write_ply(scenes.parent / "twins" / "s.ply", other.xyz, other.rgb)
    (scenes.parent / "twins" / "s.txt").write_bytes((scenes / "7_points_GTv3.txt").read_bytes())
    with pytest.raises(InputError, match=r"twins/s.ply and .*twins/s.txt: give one scene name 's', so both would be written to s_pred"):
        label_scenes(ckpt, scenes.parent / "twins", tmp_path / "pred", CPU, progress=False)
    assert not list((tmp_path / "pred").glob("s_pred*"))


def test_a_folder_option_naming_a_file_is_one_line(model_and_scenes, tmp_path, prepared, tiny_cfg):
    from pointseg.train.loop import train

    ckpt, scenes = model_and_scenes
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    with pytest.raises(OutputExistsError, match=r"--out .*notes.txt: exists and is not a folder; choose another path"):
        label_scenes(ckpt, scenes, a_file, CPU, progress=False)
    with pytest.raises(OutputExistsError, match=r"--work-dir .*notes.txt: exists and is not a folder"):
        train(tiny_cfg, prepared, a_file, device="cpu", progress=False)
    assert a_file.read_text() == "mine"


def test_a_read_only_output_folder_is_refused_before_labelling(model_and_scenes, tmp_path, monkeypatch, no_labelling):
    """Simulated (the tests may run as root, whom permissions do not stop): the file system refuses new files in --out."""
    ckpt, scenes = model_and_scenes
    out = tmp_path / "pred"
    out.mkdir()
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).startswith(str(out)) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(OutputNotWritable, match=r"pred: cannot write there \(Read-only file system\); nothing was written"):
        label_scenes(ckpt, scenes, out, CPU, progress=False)


def test_a_full_disk_stops_the_run_with_one_line_and_no_half_file(model_and_scenes, tmp_path, monkeypatch, capsys):
    """Simulated: the PLY write fails with ENOSPC. The run stops at the first scene (the others would fail the same way
    after their labelling), leaves no temporary file, and the tool prints one line."""
    import plyfile

    ckpt, scenes = model_and_scenes
    out = tmp_path / "pred"
    calls = []

    def full(self, stream):
        calls.append(stream)
        with open(stream, "wb") as f:
            f.write(b"ply\nformat binary_little_endian 1.0\n")  # a part, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(plyfile.PlyData, "write", full)
    with pytest.raises(OutputNotWritable, match=r"_pred.ply: cannot write it \(No space left on device\); nothing half-written was left; free some space"):
        label_scenes(ckpt, scenes, out, CPU, progress=False)
    assert len(calls) == 1
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".pointseg-ledger")) == []

    def main():
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "x.ply"))

    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit) as exit_:
        cli.run(main, ["tool"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"error: {out / 'x.ply'}: No space left on device; free some space or write elsewhere\n"


def test_skip_existing_with_a_record_of_other_settings_stops_before_any_work(model_and_scenes, tmp_path, monkeypatch):
    """The README says so: a record from --tta 1 and a run with --tta 2 would mix two runs' outputs in one folder."""
    ckpt, scenes = model_and_scenes
    out = tmp_path / "pred"
    label_scenes(ckpt, scenes, out, CPU, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    monkeypatch.setattr(label_module, "predict_scene", lambda *a, **k: pytest.fail("a scene was labelled"))
    with pytest.raises(InputError, match=r"_pred.json: labelled with other settings \(tta 1 there, 2 now\); nothing was labelled"):
        label_scenes(ckpt, scenes, out, CPU, settings={"infer": {"tta": 2}}, skip_existing=True, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_skip_existing_labels_a_changed_input_again_but_not_a_touched_one(model_and_scenes, tmp_path, caplog):
    ckpt, scenes = model_and_scenes
    src = tmp_path / "in"
    src.mkdir()
    scene = src / "7_points_GTv3.txt"
    scene.write_bytes((scenes / "7_points_GTv3.txt").read_bytes())
    out = tmp_path / "pred"
    first = label_scenes(ckpt, src, out, CPU, progress=False)
    assert (first["scenes"], first["skipped"]) == (1, 0)
    os.utime(scene, ns=(time.time_ns(), time.time_ns() + 10**9))  # copied or touched: the same content
    assert label_scenes(ckpt, src, out, CPU, skip_existing=True, progress=False)["skipped"] == 1
    scene.write_bytes((scenes / "8_points_GTv3.txt").read_bytes())  # another scene under the same name
    with caplog.at_level(logging.WARNING):
        again = label_scenes(ckpt, src, out, CPU, skip_existing=True, progress=False)
    assert (again["scenes"], again["skipped"]) == (1, 0)
    assert "labelling it again: 7_points_GTv3.txt changed (size" in caplog.text
    record = json.loads((out / "7_points_GTv3_pred.json").read_text())
    assert record["points"] == sum(1 for _ in open(scenes / "8_points_GTv3.txt"))
    assert record["inputs"]["7_points_GTv3.txt"]["size"] == scene.stat().st_size


def test_broken_links_in_an_input_folder_are_skipped_with_a_warning(model_and_scenes, tmp_path, caplog):
    ckpt, scenes = model_and_scenes
    src = tmp_path / "in"
    src.mkdir()
    (src / "7_points_GTv3.txt").symlink_to(scenes / "7_points_GTv3.txt")
    (src / "gone.las").symlink_to(tmp_path / "nowhere.las")
    (src / "loop.ply").symlink_to(src / "loop.ply")
    with caplog.at_level(logging.WARNING):
        summary = label_scenes(ckpt, src, tmp_path / "pred", CPU, progress=False)
    assert summary["scenes"] == 1 and not summary["failed"]
    assert "skipped 2 broken link(s) (missing target or a loop): gone.las, loop.ply" in caplog.text


def hold_and_report(path: str, queue) -> None:
    try:
        with RunLock(path):
            queue.put("got it")
            time.sleep(0.5)
    except RunInProgress as err:
        queue.put(str(err))


def test_of_runs_started_together_exactly_one_gets_the_folder(tmp_path):
    lock = tmp_path / RUN_LOCK_NAME
    queue = multiprocessing.get_context("fork").Queue()
    procs = [multiprocessing.get_context("fork").Process(target=hold_and_report, args=(str(lock), queue)) for _ in range(4)]
    for p in procs:
        p.start()
    answers = [queue.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(30)
    assert answers.count("got it") == 1
    assert all("another pointseg run is using it (process" in a and "wait for it to finish" in a for a in answers if a != "got it")
    assert not lock.exists()


def test_a_lock_of_a_dead_run_is_taken_over_but_another_machines_is_not(tmp_path, caplog):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    lock = tmp_path / RUN_LOCK_NAME
    lock.write_text(json.dumps({"host": "here", "machine": MACHINE, "pid": proc.pid, "started": "2025-01-01 10:00:00", "command": "train.py"}))
    with caplog.at_level(logging.WARNING):
        with lock_folder(tmp_path):
            assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert f"took over the run lock of process {proc.pid} on here" in caplog.text and not lock.exists()
    theirs = json.dumps({"host": "gpu-node-7", "machine": "gpu-node-7", "pid": proc.pid, "started": "2025-01-01 10:00:00",
                         "command": "infer.py --out pred"})
    lock.write_text(theirs)
    with pytest.raises(RunInProgress) as err:
        lock_folder(tmp_path)
    assert str(err.value) == (f"{tmp_path}: another pointseg run is using it (process {proc.pid} on gpu-node-7, started 2025-01-01 "
                              f"10:00:00: infer.py --out pred); wait for it to finish; if that run is over (its machine restarted "
                              f"or the process was killed), remove {lock}")
    assert lock.read_text() == theirs


def test_a_second_training_run_in_a_work_dir_is_refused(prepared, tiny_cfg, tmp_path):
    from pointseg.train.loop import train

    work = tmp_path / "work"
    with lock_folder(work, "--work-dir"):  # a run in progress (this process stands in for it)
        with pytest.raises(RunInProgress, match=r"work: another pointseg run is using it \(process \d+ on .*\); wait for it to finish"):
            train(tiny_cfg, prepared, work, device="cpu", progress=False)
    assert sorted(p.name for p in work.iterdir()) == []


def test_workers_end_soon_after_their_parent_is_killed(tmp_path):
    """kill -9 of a parent (prepare --workers 2) used to leave its pool's workers running for minutes."""
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from concurrent.futures import ProcessPoolExecutor
        from pointseg.processes import exit_with_parent
        pool = ProcessPoolExecutor(2, initializer=exit_with_parent, initargs=(os.getpid(),))
        jobs = [pool.submit(time.sleep, 120) for _ in range(2)]
        time.sleep(0.5)
        print(" ".join(str(p) for p in pool._processes), flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert len(workers) == 2
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() and "Z" not in Path(f"/proc/{w}/stat").read_text().split()[2] for w in workers):
        time.sleep(0.1)
    alive = [w for w in workers if Path(f"/proc/{w}").exists() and "Z" not in Path(f"/proc/{w}/stat").read_text().split()[2]]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert not alive


def test_prepare_and_make_synthetic_pools_end_with_their_parent(monkeypatch, demo_scenes, tiny_cfg, tmp_path):
    import concurrent.futures

    from pointseg.data import prepare as prepare_module
    from pointseg.processes import exit_with_parent

    made = []

    class Recording(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            made.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(prepare_module, "ProcessPoolExecutor", Recording)
    prepare_module.prepare_dataset(demo_scenes, tmp_path / "p", tiny_cfg.data, workers=2, progress=False)
    assert made and made[0]["initializer"] is exit_with_parent and made[0]["initargs"] == (os.getpid(),)
    source = (ROOT / "tools" / "make_synthetic.py").read_text() + (ROOT / "pointseg" / "synthetic" / "files.py").read_text()
    assert source.count("initializer=exit_with_parent") == 2


def test_ctrl_c_while_a_laz_file_is_written_is_interrupted_exit_130_and_no_half_file(tmp_path):
    """lazrs turns the KeyboardInterrupt raised in its write callback into 'LazrsError: IoError: Failed to call write'
    (a traceback, exit 1). Here Ctrl-C comes while lazrs writes (the first write of compressed data sends it)."""
    out = tmp_path / "tile_pred.laz"
    script = textwrap.dedent(f"""
        import io, os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        import numpy as np
        from pointseg import cli
        from pointseg.io import las

        class CtrlC(io.FileIO):
            def write(self, data):
                if self.tell() > 4096:
                    os.kill(os.getpid(), signal.SIGINT)
                return super().write(data)

        las.open = lambda path, mode: CtrlC(path, mode.replace("b", ""))
        def main():
            n = 200_000
            xyz = np.random.default_rng(0).random((n, 3)) * 100
            las.write_las_new({str(out)!r}, xyz, None, {{"confidence": np.ones(n, np.float32)}})
        cli.run(main)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env={k: v for k, v in os.environ.items() if k != cli.DEBUG_ENV},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a background job inherits SIGINT ignored
    assert (result.returncode, result.stderr.strip().splitlines()[-1]) == (130, "interrupted"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".pointseg-ledger")) == []


def test_a_checkpoint_with_wrong_shapes_names_the_keys_and_shapes(tiny_cfg, tmp_path):
    from pointseg.predict.predictor import load_predictor

    state = build_model(tiny_cfg).state_dict()
    key = next(k for k, v in state.items() if v.dim() == 5)
    good = tuple(state[key].shape)
    state[key] = torch.zeros(*good[:-1], good[-1] + 1)
    state.pop(next(k for k in state if k.endswith("running_var")))
    save_checkpoint(tmp_path / "bad.pt", {"model": state}, tiny_cfg)
    with pytest.raises(InputError) as err:
        load_predictor(tmp_path / "bad.pt", CPU)
    message = str(err.value)
    assert f"{key}: checkpoint {good[:-1] + (good[-1] + 1,)}, model {good}" in message
    assert "missing in the checkpoint: " in message and "running_var" in message and "Error(s)" not in message


def test_render_onto_a_users_png_is_one_line_before_drawing(model_and_scenes, tmp_path, monkeypatch, capsys):
    ckpt, scenes = model_and_scenes
    out = tmp_path / "pred"
    label_scenes(ckpt, scenes / "7_points_GTv3.txt", out, CPU, progress=False)
    mine = users_files(tmp_path / "pics", ["7_points_GTv3_oblique.png"])
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    monkeypatch.setattr(sys, "argv", ["render.py", str(out / "7_points_GTv3_pred.ply"), "--out", str(tmp_path / "pics")])
    import render

    monkeypatch.setattr("pointseg.viz.cloud.read_labelled", lambda *a: pytest.fail("a file was read before the refusal"))
    with pytest.raises(SystemExit) as exit_:
        cli.run(render.main)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'pics' / '7_points_GTv3_oblique.png'}: exist(s) and were not written by pointseg")
    assert unchanged(tmp_path / "pics", mine) and sorted(p.name for p in (tmp_path / "pics").iterdir()) == ["7_points_GTv3_oblique.png"]
