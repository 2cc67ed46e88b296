import json

import numpy as np
import pytest

from pointseg.data.dataset import PatchDataset
from pointseg.data.prepare import prepare_dataset
from pointseg.io import PointCloudError, read_stpls3d_txt


def test_manifest_split_and_class_weights(prepared, tiny_cfg):
    m = json.loads((prepared / "manifest.json").read_text())
    roles = {s["number"]: s["role"] for s in m["scenes"]}
    assert roles == {1: "trainval", 2: "trainval", 5: "test"}
    assert set(m["split"]["patches"]) <= {"train", "val", "test", "excluded"}
    assert m["split"]["patches"]["train"] > 0 and m["split"]["patches"]["val"] > 0
    counts = np.zeros(15, int)
    for s in m["scenes"]:
        for p in s["patches"]:
            if p["split"] == "train":
                counts += p["class_counts"]
    np.testing.assert_array_equal(m["train_class_counts"], counts)
    w = np.array(m["class_weights"])
    np.testing.assert_allclose(w[counts > 0], counts.max() / counts[counts > 0])
    assert all(len(s["sha256"]) == 64 for s in m["scenes"])


def test_test_scene_points_each_land_in_exactly_one_patch(prepared, tiny_cfg, demo_scenes):
    ds = PatchDataset(prepared, "test", tiny_cfg)
    idx = np.concatenate([ds[i].point_index for i in range(len(ds))])
    n = len(read_stpls3d_txt(demo_scenes / "5_points_GTv3.txt"))
    assert sorted(idx) == list(range(n))


def test_training_patches_take_the_same_points_as_the_prepared_patches(prepared, tiny_cfg):
    ds = PatchDataset(prepared, ("train", "val"), tiny_cfg)
    for name, patch in ds.items:
        scene = ds.scenes[name]
        np.testing.assert_array_equal(scene.patch_points(patch["patch"]), scene.patch(patch["patch"])[0])


def test_prepared_patch_voxels_match_voxelize_of_its_points(prepared, tiny_cfg, demo_scenes):
    from pointseg.data.voxelize import voxelize

    ds = PatchDataset(prepared, "val", tiny_cfg)
    sample = ds[0]
    scene = read_stpls3d_txt(demo_scenes / f"{ds.items[0][0]}.txt")
    local = scene.xyz[sample.point_index] - scene.origin
    ref = voxelize(local, tiny_cfg.data.voxel_size)
    assert len(sample.voxel_coords) == len(ref)
    cells = np.floor(local / tiny_cfg.data.voxel_size).astype(int)
    np.testing.assert_array_equal(sample.voxel_coords[sample.inverse], cells - cells.min(0))


def test_rerun_is_idempotent_and_needs_overwrite(prepared, demo_scenes, tiny_cfg, tmp_path):
    with pytest.raises(FileExistsError, match="--overwrite"):
        prepare_dataset(demo_scenes, prepared, tiny_cfg.data, progress=False)
    before = (prepared / "manifest.json").read_text()
    arrays = {p.name: np.load(p) for p in (prepared / "scenes" / "1_points_GTv3").glob("*.npy")}
    prepare_dataset(demo_scenes, prepared, tiny_cfg.data, overwrite=True, progress=False, workers=2)
    assert (prepared / "manifest.json").read_text() == before
    for name, a in arrays.items():
        np.testing.assert_array_equal(np.load(prepared / "scenes" / "1_points_GTv3" / name), a)
    assert not list(prepared.parent.glob(".*partial*"))


def test_unlabelled_scene_is_refused_with_its_name(tmp_path, tiny_cfg):
    src = tmp_path / "src"
    src.mkdir()
    (src / "3_points_GTv3.txt").write_text("1,2,3,4,5,6\n2,3,4,5,6,7\n")
    with pytest.raises(PointCloudError, match="3_points_GTv3.txt: no semantic labels"):
        prepare_dataset(src, tmp_path / "out", tiny_cfg.data, progress=False)
    assert not (tmp_path / "out").exists()


def test_voxel_size_mismatch_between_config_and_prepared_data(prepared, tiny_cfg):
    from pointseg.config import apply_overrides

    cfg = apply_overrides(tiny_cfg, ["data.voxel_size=0.1"])
    with pytest.raises(ValueError, match="prepared at voxel size 0.25"):
        PatchDataset(prepared, "train", cfg)
