"""Inputs that used to give a wrong result without a word: pointseg's own outputs as training data, unit colours in
text, a far outlier, another prepared set on --resume, a study reusing numbers that other inputs decide."""

import json
import logging
import shutil
import tracemalloc

import numpy as np
import pytest
import torch

from pointseg.config import apply_overrides
from pointseg.data.groups import set_aside, spatial_groups
from pointseg.data.prepare import prepare_dataset
from pointseg.errors import InputError
from pointseg.io import PointCloudError, read_ply, read_scene, write_ply, write_stpls3d_txt
from pointseg.io.ownership import LABELLED, record
from pointseg.models.random_weights import random_context_model
from pointseg.predict import stitch
from pointseg.predict.stitch import predict_scene
from pointseg.synthetic.city import make_scene

GEO = (612000.0, 4100000.0, 80.0)


def test_prepare_never_takes_pointsegs_labelled_outputs_as_training_data(demo_scenes, tiny_cfg, tmp_path, caplog):
    """infer --out SRC then prepare --src SRC: the labelled copy of the test scene must not leak into training."""
    src = tmp_path / "src"
    shutil.copytree(demo_scenes, src)
    shutil.copy(src / "5_points_GTv3.txt", src / "5_points_GTv3_pred.txt")  # named as infer names its outputs
    shutil.copy(src / "5_points_GTv3.txt", src / "copy_of_5.txt")
    record(src / "copy_of_5.txt", role=LABELLED)  # recorded as a labelled output in the folder's ledger
    cfg = apply_overrides(tiny_cfg, ["data.scene_glob=*.txt"]).data
    with caplog.at_level(logging.WARNING):
        prepare_dataset(src, tmp_path / "prep", cfg, progress=False)
    manifest = json.loads((tmp_path / "prep" / "manifest.json").read_text())
    assert sorted(s["file"] for s in manifest["scenes"]) == ["1_points_GTv3.txt", "2_points_GTv3.txt", "5_points_GTv3.txt"]
    assert "skipped 2 labelled output(s) of pointseg (not training data): 5_points_GTv3_pred.txt, copy_of_5.txt" in caplog.text


def write_text_scene(path, xyz, colours: list[str]) -> None:
    path.write_text("".join(f"{x:.3f},{y:.3f},{z:.3f},{c},1,0\n" for (x, y, z), c in zip(xyz, colours)))


def test_text_colours_as_decimals_in_0_1_are_scaled_as_in_ply_and_ambiguous_ones_refused(tmp_path):
    rng = np.random.default_rng(0)
    xyz = rng.uniform(0, 10, (50, 3))
    unit = rng.uniform(0, 1, (50, 3))
    write_text_scene(tmp_path / "unit.txt", xyz, [",".join(f"{v:.4f}" for v in row) for row in unit])
    write_ply(tmp_path / "unit.ply", xyz, None)
    from plyfile import PlyData, PlyElement

    vertex = np.empty(50, [("x", "f8"), ("y", "f8"), ("z", "f8"), ("red", "f4"), ("green", "f4"), ("blue", "f4")])
    for i, a in enumerate("xyz"):
        vertex[a] = xyz[:, i]
    for i, c in enumerate(("red", "green", "blue")):
        vertex[c] = np.round(unit[:, i], 4)
    PlyData([PlyElement.describe(vertex, "vertex")]).write(str(tmp_path / "unit.ply"))
    text, ply = read_scene(tmp_path / "unit.txt"), read_ply(tmp_path / "unit.ply")
    np.testing.assert_array_equal(text.rgb, np.rint(np.round(unit, 4) * 255).astype(np.uint8))
    np.testing.assert_array_equal(text.rgb, ply.rgb)
    write_text_scene(tmp_path / "bytes.txt", xyz[:2], ["0,1,1", "200,100,0"])  # whole numbers: 0..255 as written
    assert read_scene(tmp_path / "bytes.txt").rgb.tolist() == [[0, 1, 1], [200, 100, 0]]
    write_text_scene(tmp_path / "either.txt", xyz[:2], ["0.0,1.0,1.0", "1.0,0.0,0.0"])
    with pytest.raises(PointCloudError, match=r"either.txt: colours written as decimals that are all 0.0 or 1.0: .*write them as whole numbers 0..255"):
        read_scene(tmp_path / "either.txt")


def test_spatial_groups_on_hand_made_points():
    xy = np.array([[0, 0], [10, 10], [99, 99], [150, 0], [155, 5], [1000, 1000], [-500, 40], [199, 199]], float)
    group, n = spatial_groups(xy, 100.0)
    # squares of 100 m from (-500, 0): the first three and the last are in touching squares; (150, 0) and (155, 5) in one
    # square that touches theirs; (1000, 1000) and (-500, 40) alone
    assert n == 3
    assert group[:5].tolist() == [0] * 5 and group[7] == 0 and {group[5], group[6]} == {1, 2}
    aside = set_aside(group, n, share=0.25)
    assert aside.tolist() == [False] * 5 + [True, True, False]
    assert not set_aside(group, n, share=0.1).any()  # one point is 12.5 %: more than a 10 % share


def test_set_aside_counts_the_points_each_item_stands_for():
    """Blocks of points grouped (the big-file path): the share is of the points, and the group with the most points is
    kept even when it has fewer blocks."""
    group = np.array([0, 0, 0, 1, 2])  # three small blocks, one big block, one block of one point
    weights = np.array([1.0, 1.0, 1.0, 500.0, 1.0])
    assert set_aside(group, 3, share=0.01, weights=weights).tolist() == [True, True, True, False, True]  # 4 of 504 points
    assert set_aside(group, 3, share=0.005, weights=weights).tolist() == [False, False, False, False, True]  # 1 of 504


def scene_with_outlier(tmp_path):
    """A georeferenced scene with one more point at 0, 0, 0 (with_outlier.txt), and the scene alone (without.txt)."""
    s = make_scene(3, 60.0, 2.0, GEO)
    xyz = np.concatenate([s.xyz, [[0.0, 0.0, 0.0]]])
    rgb = np.concatenate([s.rgb, [[10, 10, 10]]])
    labels = np.concatenate([s.labels, [0]])
    path = tmp_path / "with_outlier.txt"
    write_stpls3d_txt(path, xyz, rgb, labels, np.zeros(len(xyz), np.int64))
    write_stpls3d_txt(tmp_path / "without.txt", s.xyz, s.rgb, s.labels, s.instance)
    return path


def test_one_0_0_0_point_in_a_georeferenced_scene_is_labelled_without_a_grid_over_the_gap(tiny_cfg, tmp_path, caplog):
    """It used to make a tile grid over 612 km x 4100 km: 'Unable to allocate 23.8 GiB'. Now the far point is labelled on
    its own: the bulk's labels are those of the scene without it, and memory stays what the scene needs."""
    cfg = apply_overrides(tiny_cfg, ["data.voxel_size=0.5"])
    model = random_context_model(cfg)

    @torch.no_grad()
    def predict(batch):
        return torch.softmax(model(batch), dim=1)

    path = scene_with_outlier(tmp_path)
    without = predict_scene(read_scene(tmp_path / "without.txt"), predict, cfg)[0]
    scene = read_scene(path)
    tracemalloc.start()
    with caplog.at_level(logging.WARNING):
        labels = predict_scene(scene, predict, cfg)[0]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(labels) == len(scene) and peak < 200 * 2**20
    assert (labels[:-1] == without).mean() >= 0.999
    assert f"1 point(s) more than 100 m from the bulk of the scene (e.g. point {len(scene)} at 0.00, 0.00, 0.00) are labelled on their own" in caplog.text


def test_far_parts_of_a_scene_are_labelled_each_as_if_alone(tiny_cfg):
    """Two districts 210 m apart in one file, with test-time views: each gets the labels it gets from a file of its own."""
    from pointseg.io import Scene

    cfg = apply_overrides(tiny_cfg, ["data.voxel_size=0.5", "infer.tta=2"])
    model = random_context_model(cfg)

    @torch.no_grad()
    def predict(batch):
        return torch.softmax(model(batch), dim=1)

    a, b = make_scene(1, 40.0, 2.0, GEO), make_scene(2, 40.0, 2.0, (GEO[0] + 250.0, GEO[1] + 30.0, GEO[2]))
    scene = Scene("two.txt", np.concatenate([a.xyz, b.xyz]), np.concatenate([a.rgb, b.rgb]))
    assert len(stitch.scene_groups(scene, cfg, None)) == 2
    both = predict_scene(scene, predict, cfg)[0]
    alone = np.concatenate([predict_scene(Scene(f"{n}.txt", s.xyz, s.rgb), predict, cfg)[0] for n, s in (("a", a), ("b", b))])
    assert (both == alone).mean() >= 0.999


def test_prepare_sets_far_outliers_aside_and_says_how_many(tiny_cfg, tmp_path, caplog):
    scene_with_outlier(tmp_path)
    (tmp_path / "without.txt").unlink()
    cfg = apply_overrides(tiny_cfg, ["data.scene_glob=*.txt", "data.test_scenes=[]", "data.split_mode=paper"]).data
    tracemalloc.start()
    with caplog.at_level(logging.WARNING):
        prepare_dataset(tmp_path, tmp_path.parent / f"{tmp_path.name}_prep", cfg, progress=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    manifest = json.loads((tmp_path.parent / f"{tmp_path.name}_prep" / "manifest.json").read_text())
    entry = manifest["scenes"][0]
    bulk = read_scene(tmp_path / "with_outlier.txt").xyz[:-1]
    assert entry["set_aside_points"] == 1 and entry["points"] == len(bulk) and entry["origin"] == np.floor(bulk.min(axis=0)).tolist()
    assert "with_outlier.txt: 1 point(s) more than 100 m from the rest of the scene" in caplog.text and "set aside" in caplog.text
    assert peak < 300 * 2**20


def test_resume_with_another_prepared_set_is_refused(prepared, tiny_cfg, tmp_path, monkeypatch):
    import pointseg.train.loop as trainer
    from pointseg.train.loop import train

    monkeypatch.setattr(trainer, "evaluate", lambda model, loader, device: np.eye(15, dtype=np.int64))  # validation: seconds

    cfg = apply_overrides(tiny_cfg, ["train.epochs=1", "train.max_steps_per_epoch=1"])
    work = tmp_path / "work"
    train(cfg, prepared, work, device="cpu", progress=False)
    other = tmp_path / "other"
    shutil.copytree(prepared, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["scenes"][0]["name"], manifest["scenes"][0]["sha256"] = "3_points_GTv3", "0" * 64  # another scene in its place
    (other / "scenes" / "1_points_GTv3").rename(other / "scenes" / "3_points_GTv3")
    (other / "manifest.json").write_text(json.dumps(manifest))
    longer = apply_overrides(cfg, ["train.epochs=2"])
    with pytest.raises(InputError, match=r"last.pt: the run was trained on other prepared data .*scenes only in the run's data: "
                                         r"\['1_points_GTv3'\]; only in --data: \['3_points_GTv3'\]; resume with the run's own --data"):
        train(longer, other, work, resume=True, device="cpu", progress=False)
    shutil.copytree(prepared, tmp_path / "copy")  # the same set elsewhere is fine
    train(longer, tmp_path / "copy", work, resume=True, device="cpu", progress=False)
    assert [json.loads(line)["epoch"] for line in (work / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_a_study_prepares_again_for_new_scenes_and_trains_again_for_new_overrides(demo_scenes, tiny_cfg, tmp_path, caplog, monkeypatch):
    import pointseg.train.loop as trainer
    from pointseg import study

    monkeypatch.setattr(trainer, "evaluate", lambda model, loader, device: np.eye(15, dtype=np.int64))  # validation: seconds
    src = tmp_path / "src"
    shutil.copytree(demo_scenes, src)
    cfg = apply_overrides(tiny_cfg, ["train.max_steps_per_epoch=1", "train.num_workers=0"])
    prepared = study.prepared_for(src, tmp_path, cfg)
    made = (prepared / "manifest.json").stat().st_mtime_ns
    assert study.prepared_for(src, tmp_path, cfg) == prepared and (prepared / "manifest.json").stat().st_mtime_ns == made
    work = tmp_path / "row"
    study.train_or_resume(cfg, prepared, work, "cpu")
    last = (work / "last.pt").read_bytes()
    with caplog.at_level(logging.INFO):
        study.train_or_resume(cfg, prepared, work, "cpu")
    assert "finished before, skipped" in caplog.text and (work / "last.pt").read_bytes() == last

    changed = apply_overrides(cfg, ["train.lr=1e-2"])
    with caplog.at_level(logging.WARNING):
        study.train_or_resume(changed, prepared, work, "cpu")
    assert "its config differs (train.lr: 0.002 then, 0.01 now); training again" in caplog.text
    assert (tmp_path / "row.previous-1" / "last.pt").read_bytes() == last
    assert torch.load(work / "last.pt", weights_only=False)["config"]["train"]["lr"] == 0.01

    cut = tmp_path / "cut_row"  # killed before its first checkpoint: only its config.json
    cut.mkdir()
    shutil.copy(work / "config.json", cut / "config.json")
    with caplog.at_level(logging.WARNING):
        study.train_or_resume(changed, prepared, cut, "cpu")
    assert "a run cut before its first checkpoint; training again" in caplog.text and (cut / "last.pt").is_file()
    assert (tmp_path / "cut_row.previous-1" / "config.json").is_file()

    shutil.copy(src / "1_points_GTv3.txt", src / "2_points_GTv3.txt")  # new content under an old name
    with caplog.at_level(logging.WARNING):
        again = study.prepared_for(src, tmp_path, changed)
    assert again == prepared and "are not those it was prepared from (changed: 2_points_GTv3.txt); preparing again" in caplog.text
    assert study.stale_run(torch.load(work / "last.pt", weights_only=False), changed, prepared).startswith("it was trained on other prepared data")
