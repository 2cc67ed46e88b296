"""Prepare never loses or mixes up a user's data: guards on --out, leftovers of killed runs, clear messages."""

import hashlib
import json
import logging
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pointseg.data.dataset import PatchDataset
from pointseg.data.prepare import prepare_dataset
from pointseg.synthetic.files import write_synthetic_scenes
from pointseg.errors import InputError, OutputExistsError, UserError
from pointseg.io import PointCloudError


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under root (hidden ones included), by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def src(demo_scenes, tmp_path):
    """A copy of the demo scenes plus a user's notes file."""
    d = tmp_path / "raw"
    shutil.copytree(demo_scenes, d)
    (d / "notes.txt").write_text("my field notes\n")
    return d


@pytest.mark.parametrize("where", ["same", "inside", "parent"])
def test_out_that_is_in_or_around_src_is_refused_and_src_untouched(src, tiny_cfg, where):
    out = {"same": src, "inside": src / "prepared", "parent": src.parent}[where]
    before = snapshot(src)
    with pytest.raises(InputError, match="--out .*(is the source|lies inside the source|contains the source)"):
        prepare_dataset(src, out, tiny_cfg.data, overwrite=True, progress=False)
    assert snapshot(src) == before
    assert not (src / "prepared").exists()


def test_foreign_directory_is_refused_even_with_overwrite(src, tiny_cfg, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("chapter 1")
    (out / "data.csv").write_text("1,2,3")
    before = snapshot(out)
    with pytest.raises(OutputExistsError, match=r"mine: not a prepared folder pointseg made \(it holds data.csv, thesis.tex\)"):
        prepare_dataset(src, out, tiny_cfg.data, overwrite=True, progress=False)
    assert snapshot(out) == before


def test_prepared_directory_holding_a_user_file_is_not_replaced(prepared, tiny_cfg, src, tmp_path):
    out = tmp_path / "prep"
    shutil.copytree(prepared, out)
    (out / "notes.md").write_text("do not lose me")
    before = snapshot(out)
    with pytest.raises(OutputExistsError, match=r"holds files pointseg did not write .*prep/notes.md"):
        prepare_dataset(src, out, tiny_cfg.data, overwrite=True, progress=False)
    assert snapshot(out) == before


def test_empty_output_directory_is_used(src, tiny_cfg, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    prepare_dataset(src, out, tiny_cfg.data, progress=False)
    assert json.loads((out / "manifest.json").read_text())["written_by"] == "pointseg prepare"


def test_prepare_warns_about_skipped_files_and_missing_test_scenes(src, tiny_cfg, tmp_path, caplog):
    from pointseg.config import apply_overrides

    cfg = apply_overrides(tiny_cfg, ["data.test_scenes=[5,10,15]"]).data
    with caplog.at_level(logging.WARNING):
        prepare_dataset(src, tmp_path / "out", cfg, progress=False)
    assert "skipped 1 file(s) that do not match data.scene_glob '*_points_GTv3.txt': notes.txt" in caplog.text
    assert "test scene(s) [10, 15] named in data.test_scenes not found" in caplog.text


def test_split_without_validation_patches_is_refused_with_the_fix(tmp_path, tiny_cfg):
    raw = tmp_path / "raw"
    write_synthetic_scenes(raw, [1], size=40.0, density=2.0)  # one 100 m block: nothing left for validation
    with pytest.raises(InputError, match="the split leaves no validation patches .*data.val_block_size"):
        prepare_dataset(raw, tmp_path / "out", tiny_cfg.data, progress=False)
    assert not (tmp_path / "out").exists()


def test_point_cloud_error_pickles_so_worker_errors_reach_the_user(src, tiny_cfg, tmp_path):
    err = pickle.loads(pickle.dumps(PointCloudError("a.txt", "7 columns")))
    assert str(err) == "a.txt: 7 columns" and err.path == "a.txt" and isinstance(err, UserError)
    (src / "3_points_GTv3.txt").write_text("1,2,3,4,5,6,7\n")
    with pytest.raises(PointCloudError, match="3_points_GTv3.txt: 7 columns, expected 6"):
        prepare_dataset(src, tmp_path / "out", tiny_cfg.data, workers=2, progress=False)


def test_leftovers_of_a_killed_prepare_are_removed_but_never_another_machines(src, tiny_cfg, tmp_path):
    from pointseg.io.ownership import mark_dir
    from pointseg.processes import MACHINE

    out = tmp_path / "prep"
    pid = dead_pid()
    partial, elsewhere = tmp_path / f".prep.partial-{pid}@{MACHINE}", tmp_path / f".prep.partial-{pid}@other-node"
    for d in (partial, elsewhere):
        mark_dir(d, "prepared")  # as prepare marks its work in progress when it starts
        (d / "scenes").mkdir(parents=True)
        (d / "scenes" / "x.npy").write_bytes(b"half")
    live = tmp_path / f".prep.partial-1@{MACHINE}"  # PID 1 is alive: another run's work in progress stays
    live.mkdir()
    prepare_dataset(src, out, tiny_cfg.data, progress=False)
    assert not partial.exists() and live.exists()
    assert (elsewhere / "scenes" / "x.npy").read_bytes() == b"half"  # a PID of another machine says nothing here
    assert (out / "manifest.json").is_file()


def test_output_half_replaced_by_a_killed_prepare_is_restored(prepared, src, tiny_cfg, tmp_path):
    out = tmp_path / "prep"
    from pointseg.processes import MACHINE

    shutil.copytree(prepared, tmp_path / f".prep.old-{dead_pid()}@{MACHINE}")  # killed between its two renames
    before = snapshot(prepared)
    with pytest.raises(OutputExistsError, match="pass --overwrite"):
        prepare_dataset(src, out, tiny_cfg.data, progress=False)
    assert snapshot(out) == before


def copy_prepared(prepared: Path, tmp_path: Path) -> Path:
    out = tmp_path / "prep"
    shutil.copytree(prepared, out)
    return out


def test_truncated_manifest_names_the_file_and_the_fix(prepared, tiny_cfg, tmp_path):
    out = copy_prepared(prepared, tmp_path)
    text = (out / "manifest.json").read_text()
    (out / "manifest.json").write_text(text[: len(text) // 2])
    with pytest.raises(InputError, match=r"prep/manifest.json: not valid JSON at line \d+ column \d+: the file is truncated.*--overwrite"):
        PatchDataset(out, "train", tiny_cfg)


def test_truncated_array_names_the_file_before_any_loader_worker_starts(prepared, tiny_cfg, tmp_path):
    out = copy_prepared(prepared, tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    name = next(s["name"] for s in manifest["scenes"] if any(p["split"] == "train" for p in s["patches"]))
    path = out / "scenes" / name / "xyz.npy"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(InputError, match=rf"{name}/xyz.npy: truncated or corrupt array .*prepare the data again"):
        PatchDataset(out, "train", tiny_cfg)
    np.save(path, np.zeros((3, 3), np.float32))  # complete, but not this scene's
    with pytest.raises(InputError, match=r"xyz.npy: 3 rows, the manifest says \d+ points"):
        PatchDataset(out, "train", tiny_cfg)


def test_overwrite_of_a_folder_with_a_broken_manifest_and_the_users_scenes_is_refused(src, tiny_cfg, tmp_path):
    """Anything named manifest.json used to count as prepare's: --overwrite deleted the user's scenes/ beside it."""
    out = tmp_path / "P"
    (out / "scenes").mkdir(parents=True)
    (out / "manifest.json").write_text("{ not json")
    (out / "scenes" / "my_scene.txt").write_text("1,2,3,4,5,6,0,0\n")
    before = snapshot(out)
    with pytest.raises(OutputExistsError) as err:
        prepare_dataset(src, out, tiny_cfg.data, overwrite=True, progress=False)
    assert str(err.value) == f"{out}: not a prepared folder pointseg made (it holds manifest.json, scenes); nothing was changed; choose a new or empty folder"
    assert snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["P", "raw"]


def test_overwrite_through_a_link_is_refused_and_leaves_nothing_behind(prepared, src, tiny_cfg, tmp_path):
    """prepare --out LINK --overwrite used to rmtree through the link, turn it into a folder and leave .LINK.old-PID."""
    real = tmp_path / "real"
    shutil.copytree(prepared, real)
    link = tmp_path / "link"
    link.symlink_to(real)
    before = snapshot(real)
    with pytest.raises(OutputExistsError, match=r"link: a symbolic link; pointseg replaces only a folder it made, not a link to one"):
        prepare_dataset(src, link, tiny_cfg.data, overwrite=True, progress=False)
    assert link.is_symlink() and snapshot(real) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "raw", "real"]
    prepare_dataset(src, real, tiny_cfg.data, overwrite=True, progress=False)  # the folder itself is replaced as before
    assert link.is_symlink() and (link / "manifest.json").is_file()


def test_the_demo_never_removes_files_the_user_added_to_its_folder(tmp_path):
    """DEMO_DIR holding the demo's mark plus the user's notes and model: `rm -rf` used to remove them. tools/demo.sh now
    clears its folder through the ledger, which refuses, and stops before anything else."""
    from pointseg.io import ownership

    root = Path(__file__).resolve().parents[1]
    demo = tmp_path / "demo"
    assert ownership.main(["mark", "demo", str(demo)]) == 0
    (demo / "my_notes.txt").write_text("notes")
    (demo / "my_model").mkdir()
    (demo / "my_model" / "best.pt").write_bytes(b"weights")
    before = snapshot(demo)
    assert ownership.main(["clear", "demo", str(demo)]) == 2  # what `python -m pointseg.io.ownership clear demo DIR` returns
    assert snapshot(demo) == before
    script = (root / "tools" / "demo.sh").read_text()
    clear = script.index('-m pointseg.io.ownership clear demo "$OUT" || {')
    assert "rm " not in script and clear < script.index("make_synthetic.py")
