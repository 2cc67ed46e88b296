"""The models shipped in pointseg/checkpoints: small, loadable, and labelling a scan they never saw through
tools/infer.py --model, with and without colour, in metres and in feet."""

import runpy
import sys
from pathlib import Path

import laspy
import numpy as np
import pytest

from pointseg.models.checkpoint import load_checkpoint
from pointseg.models.shipped import SHIPPED, shipped_checkpoint
from pointseg.synthetic.las_scene import write_lidar_scenes
from pointseg.synthetic.lidar import Flight

TOOLS = Path(__file__).resolve().parents[1] / "tools"
GROUND, BUILDING = 2, 6  # ASPRS codes


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """One synthetic 60 m scan (seed 7: not a training scene) without colour in metres, the same scan in US survey
    feet, and one with orthophoto colour."""
    root = tmp_path_factory.mktemp("shipped")
    flight = Flight(density=8.0)
    plain = write_lidar_scenes(root / "m", [3], 60.0, flight, seed=7)[0]
    feet = write_lidar_scenes(root / "ft", [3], 60.0, flight, seed=7, units="ftUS")[0]
    colour = write_lidar_scenes(root / "rgb", [3], 60.0, flight, seed=7, colour="ortho")[0]
    return {"m": plain, "ft": feet, "rgb": colour, "root": root}


def infer(monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    monkeypatch.syspath_prepend(str(TOOLS))
    monkeypatch.setattr(sys, "argv", ["infer.py", "--device", "cpu", *argv])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(TOOLS / "infer.py"), run_name="__main__")
    return done.value.code, capsys.readouterr().err


def predicted(path: Path) -> tuple[np.ndarray, np.ndarray]:
    las = laspy.read(str(path))
    return np.asarray(las["pred_class"]).astype(np.int64), np.asarray(las.classification).astype(np.int64)


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_checkpoint_is_small_and_says_how_it_was_made(name):
    path = shipped_checkpoint(name)
    assert path.stat().st_size <= 20 * 2**20
    ckpt = load_checkpoint(path)
    assert "optimizer" not in ckpt and ckpt["card"]["trained_with"] == f"bash tools/train_shipped.sh {name} cpu"
    assert ckpt["config"]["features"]["rgb"] is (name == "photogrammetry")


def test_lidar_model_labels_an_unseen_scan_the_same_in_metres_and_in_feet_and_with_colour(scans, monkeypatch, capsys):
    out = scans["root"] / "out"
    for key in ("m", "ft", "rgb"):
        code, err = infer(monkeypatch, capsys, "--model", "lidar", "--input", str(scans[key]), "--out", str(out / key))
        assert code == 0, err
    pred, codes = predicted(out / "m" / "3_lidar_pred.laz")
    feet, feet_codes = predicted(out / "ft" / "3_lidar_pred.laz")
    for p, c in ((pred, codes), (feet, feet_codes)):
        ground = c == GROUND
        assert (ground & (p == 0)).sum() / (ground | (p == 0)).sum() >= 0.9  # synthetic test scenes: 98 (docs/models.md)
    # the feet scan is in another CRS (a state plane), so its patch lattice falls elsewhere on the ground: 0.5 m voxels
    # cut the points otherwise, and about 2 % of the labels change (a tile merely converted to feet: tests/test_units.py)
    assert (feet == pred).mean() >= 0.95
    coloured, _ = predicted(out / "rgb" / "3_lidar_pred.laz")
    assert (coloured == pred).mean() >= 0.999  # colour is not one of its features


def test_photogrammetry_model_on_a_scan_without_colour_is_one_line(scans, monkeypatch, capsys):
    code, err = infer(monkeypatch, capsys, "--model", "photogrammetry", "--input", str(scans["m"]), "--out", str(scans["root"] / "p"))
    assert code != 0 and "3_lidar.laz: no colour (rgb) in this file, but the model uses rgb" in err and "Traceback" not in err


def test_a_stride_is_checked_against_the_models_patch_size_not_the_defaults(tmp_path):
    """A model of 100 m patches labels side by side (stride 100: the patch-size study); a 50 m model refuses stride 60."""
    import torch

    from pointseg.errors import ConfigError
    from pointseg.io import write_stpls3d_txt
    from pointseg.predict.label import label_scenes
    from pointseg.synthetic.city import make_scene

    ckpt = load_checkpoint(shipped_checkpoint("photogrammetry"))
    ckpt["config"]["data"].update(patch_size=100.0, train_stride=50.0, test_stride=100.0)
    torch.save(ckpt, tmp_path / "p100.pt")
    scene = make_scene(1, 60.0, 3.0, (0.0, 0.0, 0.0))
    write_stpls3d_txt(tmp_path / "s.txt", scene.xyz, scene.rgb, scene.labels, scene.instance)
    done = label_scenes(tmp_path / "p100.pt", tmp_path / "s.txt", tmp_path / "out", torch.device("cpu"), settings={"infer": {"stride": 100}},
                        progress=False)
    assert done["scenes"] == 1
    with pytest.raises(ConfigError, match="stride 60 m is larger than the patch size 50 m"):
        label_scenes(shipped_checkpoint("photogrammetry"), tmp_path / "s.txt", tmp_path / "out50", torch.device("cpu"),
                     settings={"infer": {"stride": 60}}, progress=False)
