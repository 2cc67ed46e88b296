"""Tiled coverages: labels of a scene cut into tiles equal the uncut scene's; resumable and shared over ranks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from plyfile import PlyData

from pointseg.config import apply_overrides
from pointseg.synthetic.city import make_scene
from pointseg.synthetic.files import write_tiles
from pointseg.data.tiling import tile_scene
from pointseg.models.checkpoint import save_checkpoint
from pointseg.predict.coverage import buffer_points, coverage_origin, index_tiles, tile_with_buffer
from pointseg.distributed import shard_largest_first
from pointseg.predict.stitch import predict_scene
from pointseg.predict.label import label_scenes
from pointseg.io import read_scene, write_stpls3d_txt
from pointseg.models.random_weights import random_context_model

ROOT = Path(__file__).resolve().parents[1]
SIZE, ORIGIN = 90.0, (612000.0, 4100000.0, 80.0)  # georeferenced: float32 would lose centimetres here


def cut(whole, n, folder):
    """Write the scene cut into n x n tiles at edges off the patch lattice; returns each tile's point indices."""
    assert not folder.exists()
    return write_tiles(whole, n, folder, SIZE, ORIGIN)[0]


@pytest.fixture(scope="module")
def coverage(tmp_path_factory, tiny_cfg):
    cfg = apply_overrides(tiny_cfg, ["data.voxel_size=0.5"])
    root = tmp_path_factory.mktemp("coverage")
    s = make_scene(3, SIZE, 3.0, ORIGIN)
    write_stpls3d_txt(root / "whole.txt", s.xyz, s.rgb, s.labels, s.instance)
    whole = read_scene(root / "whole.txt")  # the same 6-decimal coordinates as the tiles
    model = random_context_model(cfg)

    @torch.no_grad()
    def predict(batch):
        return torch.softmax(model(batch), dim=1)

    reference = {stride: predict_scene(whole, predict, apply_overrides(cfg, [f"infer.stride={stride}"]))[0] for stride in (25, 50)}
    save_checkpoint(root / "model.pt", {"model": model.state_dict()}, cfg)
    tiles = {n: cut(whole, n, root / f"tiles{n}") for n in (2, 3)}
    return {"root": root, "cfg": cfg, "whole": whole, "predict": predict, "reference": reference, "tiles": tiles}


def label_tiles(cov, n, buffer, stride=25, files=None, out=None):
    """Labels of the whole scene's points from the n x n tiled run (of the txt tiles, or of `files`)."""
    files = files or sorted((cov["root"] / f"tiles{n}").glob("*.txt"))
    tiles = index_tiles(files, out or cov["root"] / f"out{n}_{buffer}", buffer)
    origin = coverage_origin(tiles)
    np.testing.assert_array_equal(origin, cov["whole"].origin)
    labels = np.full(len(cov["whole"]), -1)
    for i, f in enumerate(files):
        own, both, targets = tile_with_buffer(tiles, i, buffer, origin)
        assert len(own) == len(cov["tiles"][n][f.stem])
        cfg = apply_overrides(cov["cfg"], [f"infer.stride={stride}"])
        labels[cov["tiles"][n][f.stem]] = predict_scene(both, cov["predict"], cfg, targets=targets)[0]
    return labels


def test_the_random_model_gives_varied_labels(coverage):
    counts = np.bincount(coverage["reference"][25], minlength=15)
    assert (counts > 0.05 * len(coverage["whole"])).sum() >= 3


@pytest.mark.parametrize("n, stride", [(2, 25), (3, 50)])
def test_tiled_labels_equal_the_uncut_run(coverage, n, stride):
    labels = label_tiles(coverage, n, coverage["cfg"].data.patch_size, stride)
    assert (labels == coverage["reference"][stride]).mean() >= 0.999


def test_without_buffer_points_near_the_seams_change(coverage):
    labels = label_tiles(coverage, 2, buffer=0.0)
    changed = labels != coverage["reference"][25]
    assert changed.mean() > 0.05  # the test above can fail: context from the neighbours matters
    seam = np.array([ORIGIN[0], ORIGIN[1]]) + SIZE / 2 + 0.37
    distance = np.abs(coverage["whole"].xyz[:, :2] - seam).min(axis=1)
    assert distance[changed].max() < coverage["cfg"].data.patch_size  # only patches cut by a seam see less


def test_buffer_points_are_the_neighbours_points_within_the_buffer(coverage, tmp_path):
    files = sorted((coverage["root"] / "tiles3").glob("*.txt"))
    tiles = index_tiles(files, tmp_path, 12.5)
    whole = coverage["whole"]
    for i in (0, 4):  # a corner tile and the middle one
        xyz = buffer_points(tiles, i, 12.5)["xyz"]
        b = tiles[i].bounds
        x, y = whole.xyz[:, 0], whole.xyz[:, 1]
        box = (x >= b[0] - 12.5) & (x <= b[3] + 12.5) & (y >= b[1] - 12.5) & (y <= b[4] + 12.5)
        own = np.zeros(len(whole), bool)
        own[coverage["tiles"][3][files[i].stem]] = True
        expected = whole.xyz[box & ~own]
        assert len(xyz) == len(expected)
        np.testing.assert_array_equal(np.unique(xyz, axis=0), np.unique(expected, axis=0))


def test_grid_starts_on_the_patch_lattice_below_the_points():
    rng = np.random.default_rng(0)
    xyz = np.c_[rng.uniform(110, 190, 2000), rng.uniform(60, 95, 2000), rng.uniform(0, 5, 2000)]
    t = tile_scene(xyz, 0.5, 50, 25)
    assert t.grid.start == (4, 2) and t.grid.shape == (3, 1)
    assert t.patch_bounds(0) == (100.0, 50.0, 150.0, 100.0)
    assert np.unique(np.concatenate([t.patch(p)[0] for p in range(t.n_patches)])).tolist() == list(range(2000))


def test_shards_are_balanced_largest_first():
    sizes = [5, 1, 4, 3, 2]
    assert shard_largest_first(sizes, 2, 0) == [0, 4, 1]  # 5 + 2 + 1
    assert shard_largest_first(sizes, 2, 1) == [2, 3]  # 4 + 3
    assert shard_largest_first(sizes, 1, 0) == [0, 2, 3, 4, 1]


def read_outputs(out):
    return {p.name: PlyData.read(str(p))["vertex"].data for p in sorted(out.glob("*_pred.ply"))}


@pytest.fixture(scope="module")
def coverage_run(coverage):
    out = coverage["root"] / "labelled2"
    summary = label_scenes(coverage["root"] / "model.pt", coverage["root"] / "tiles2", out, torch.device("cpu"), ["infer.coverage=true"], progress=False)
    return out, summary


def test_label_scenes_writes_each_tile_with_its_own_points(coverage, coverage_run):
    out, summary = coverage_run
    assert summary["scenes"] == 4 and summary["skipped"] == 0
    whole, members = coverage["whole"], coverage["tiles"][2]
    outputs = read_outputs(out)
    assert sorted(outputs) == [f"{name}_pred.ply" for name in sorted(members)]
    for name, idx in members.items():
        v = outputs[f"{name}_pred.ply"]
        np.testing.assert_array_equal(np.c_[v["x"], v["y"], v["z"]], whole.xyz[idx])
        np.testing.assert_array_equal(v["scalar_class"], coverage["reference"][25][idx])
    metrics = json.loads((out / "metrics.json").read_text())
    from pointseg.metrics import confusion_matrix

    assert metrics["confusion_matrix_all"] == confusion_matrix(whole.labels, coverage["reference"][25]).tolist()


def test_skip_existing_labels_only_the_unfinished_tiles(coverage, coverage_run, tmp_path):
    import shutil

    out = tmp_path / "again"
    shutil.copytree(coverage_run[0], out)
    (out / "tile_1_0_pred.json").unlink()  # as if the run had stopped before finishing this tile
    before = (out / "tile_0_0_pred.ply").stat().st_mtime_ns
    summary = label_scenes(coverage["root"] / "model.pt", coverage["root"] / "tiles2", out, torch.device("cpu"),
                           ["infer.coverage=true"], skip_existing=True, progress=False)
    assert summary["scenes"] == 1 and summary["skipped"] == 3
    assert (out / "tile_0_0_pred.ply").stat().st_mtime_ns == before
    assert json.loads((out / "metrics.json").read_text()) == json.loads((coverage_run[0] / "metrics.json").read_text())
    assert not list(out.glob(".*.tmp"))
    with pytest.raises(ValueError, match=r"tile_.*_pred.json: labelled with other settings \(buffer 50.0 there, 20.0 now\)"):
        label_scenes(coverage["root"] / "model.pt", coverage["root"] / "tiles2", out, torch.device("cpu"),
                     ["infer.coverage=true", "infer.coverage_buffer=20"], skip_existing=True, progress=False)


def test_two_process_gloo_run_equals_one_process(coverage, coverage_run, tmp_path):
    from test_training import free_port

    out = tmp_path / "ranks"
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(ROOT / "tools" / "infer.py"), "--ckpt", str(coverage["root"] / "model.pt"), "--input", str(coverage["root"] / "tiles2"),
           "--out", str(out), "--device", "cpu", "--coverage"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "labelled 4 scene(s)" in result.stdout
    single, shared = read_outputs(coverage_run[0]), read_outputs(out)
    assert sorted(single) == sorted(shared)
    for name in single:
        np.testing.assert_array_equal(shared[name], single[name])
    assert json.loads((out / "metrics.json").read_text()) == json.loads((coverage_run[0] / "metrics.json").read_text())
    assert (out / "metrics.csv").read_text() == (coverage_run[0] / "metrics.csv").read_text()


def test_las_tiles_are_indexed_from_their_headers_empty_tiles_and_mixed_crss_refused(coverage, tmp_path):
    import laspy
    from laspy.vlrs.known import WktCoordinateSystemVlr

    from pointseg.io import PointCloudError
    from pointseg.io.las import write_las_new

    folder = tmp_path / "laz"
    folder.mkdir()
    whole = coverage["whole"]
    for name, idx in coverage["tiles"][2].items():
        write_las_new(folder / f"{name}.laz", whole.xyz[idx], whole.rgb[idx], {})
    files = sorted(folder.glob("*.laz"))
    tiles = index_tiles(files, tmp_path / "out", 50.0)
    assert all(t.margin is None for t in tiles)  # bounds from the headers: no index pass over the points
    labels = label_tiles(coverage, 2, 50.0, files=files, out=tmp_path / "out")
    assert (labels == coverage["reference"][25]).mean() >= 0.999
    empty = folder / "tile_9_9.laz"
    laspy.LasData(laspy.LasHeader(version="1.4", point_format=7)).write(str(empty))
    with pytest.raises(PointCloudError, match=r"tile_9_9.laz: empty tile"):
        index_tiles(files + [empty], tmp_path / "out3", 50.0)
    for path, zone in ((files[0], 31), (files[1], 32)):
        las = laspy.read(path)
        las.header.vlrs.append(WktCoordinateSystemVlr(f'PROJCS["WGS 84 / UTM zone {zone}N",UNIT["metre",1]]'))
        las.write(str(path))
    with pytest.raises(PointCloudError, match=r"tile_0_1.laz: its CRS differs from tile_0_0.laz's"):
        index_tiles(files, tmp_path / "out2", 50.0)


def test_a_far_tile_is_labelled_as_a_cloud_of_its_own_and_the_others_as_uncut(coverage, tmp_path, caplog):
    """A tile in local coordinates beside georeferenced ones used to set the coverage's origin 612 km from the others,
    whose float32 coordinates then lost their centimetres (75 % of the labels equal the uncut run's)."""
    import logging
    import shutil

    folder = tmp_path / "tiles"
    shutil.copytree(coverage["root"] / "tiles2", folder)
    far = make_scene(5, 40.0, 3.0, (0.0, 0.0, 0.0))
    write_stpls3d_txt(folder / "z_local.txt", far.xyz, far.rgb, far.labels, far.instance)
    alone = predict_scene(read_scene(folder / "z_local.txt"), coverage["predict"], coverage["cfg"])[0]
    with caplog.at_level(logging.WARNING):
        label_scenes(coverage["root"] / "model.pt", folder, tmp_path / "out", torch.device("cpu"), ["infer.coverage=true"], progress=False)
    assert "the tiles form 2 separate clouds" in caplog.text and "z_local.txt (are they in the same coordinates?)" in caplog.text
    outputs = read_outputs(tmp_path / "out")
    labels = np.full(len(coverage["whole"]), -1)
    for name, idx in coverage["tiles"][2].items():
        labels[idx] = outputs[f"{name}_pred.ply"]["scalar_class"]
    assert (labels == coverage["reference"][25]).mean() >= 0.999
    assert (outputs["z_local_pred.ply"]["scalar_class"] == alone).mean() >= 0.999
