import numpy as np
import pytest
import torch

from pointseg.data.features import voxel_mean
from pointseg.data.split import TRAIN, VAL, split_leak_free, split_random
from pointseg.data.tiling import tile_scene
from pointseg.data.voxelize import voxelize
from pointseg.losses.class_weights import class_weights


def brute_force_voxels(xyz, size):
    cells = {}
    for i, p in enumerate(xyz):
        key = tuple(int(v) for v in np.floor(p / size))
        cells.setdefault(key, []).append(i)
    return cells


def test_voxelize_matches_a_brute_force_dictionary():
    rng = np.random.default_rng(0)
    xyz = rng.uniform(-1, 1, (500, 3))
    vox = voxelize(xyz, 0.3)
    expected = brute_force_voxels(xyz, 0.3)
    assert len(vox) == len(expected)
    got = {tuple(int(v) for v in c + vox.offset): sorted(np.flatnonzero(vox.inverse == i)) for i, c in enumerate(vox.coords)}
    assert got == {k: sorted(v) for k, v in expected.items()}
    assert (vox.coords >= 0).all()
    np.testing.assert_array_equal(vox.counts, [len(got[tuple(int(v) for v in c + vox.offset)]) for c in vox.coords])


def test_inverse_map_round_trips_points_to_their_cell():
    rng = np.random.default_rng(1)
    xyz = rng.uniform(0, 5, (1000, 3)).astype(np.float32)
    vox = voxelize(xyz, 0.5)
    np.testing.assert_array_equal(vox.coords[vox.inverse] + vox.offset, np.floor(xyz.astype(np.float64) / 0.5))
    feats = np.c_[np.arange(1000.0), np.ones(1000)]
    mean = voxel_mean(torch.from_numpy(feats), torch.from_numpy(vox.inverse), len(vox)).numpy()
    np.testing.assert_allclose(mean[:, 1], 1.0)
    for v in range(0, len(vox), 37):
        np.testing.assert_allclose(mean[v, 0], np.flatnonzero(vox.inverse == v).mean(), rtol=1e-6)


def scene_of_extent(ex, ey, n=4000, seed=0):
    rng = np.random.default_rng(seed)
    xyz = np.c_[rng.uniform(0, ex, n), rng.uniform(0, ey, n), rng.uniform(0, 20, n)]
    xyz[:4, :2] = [[0, 0], [ex, ey], [ex, 0], [0, ey]]  # exact corners
    return xyz


@pytest.mark.parametrize("extent, stride, shape", [((200, 200), 25, (7, 7)), ((200, 200), 50, (4, 4)), ((210, 130), 25, (8, 5)),
                                                   ((210, 130), 50, (5, 3)), ((30, 20), 25, (1, 1))])
def test_patch_counts_for_known_extents(extent, stride, shape):
    t = tile_scene(scene_of_extent(*extent), 0.5, 50, stride)
    assert t.grid.shape == shape


@pytest.mark.parametrize("stride", [25, 50, 20])
def test_tiling_covers_every_point(stride):
    xyz = scene_of_extent(173, 121)
    t = tile_scene(xyz, 0.5, 50, stride)
    seen = np.zeros(len(xyz), int)
    for p in range(t.n_patches):
        idx, coords, inverse = t.patch(p)
        seen[idx] += 1
        assert len(np.unique(idx)) == len(idx)
        # the patch's voxelization is the one voxelize() gives for its points
        ref = voxelize(xyz[idx], 0.5)
        assert len(coords) == len(ref)
        np.testing.assert_array_equal(coords[inverse] , np.floor(xyz[idx] / 0.5).astype(int) - np.floor(xyz[idx] / 0.5).astype(int).min(0))
        x0, y0, x1, y1 = t.patch_bounds(p)
        assert (xyz[idx, 0] >= x0).all() and (xyz[idx, 1] >= y0).all()
    assert (seen >= 1).all()
    if stride == 50:
        assert (seen == 1).all()


def test_sparse_patches_are_merged_not_dropped():
    xyz = scene_of_extent(100, 50, n=3000)
    xyz = np.r_[xyz, [[140.0, 10.0, 1.0], [141.0, 11.0, 1.0]]]  # two points alone in the far column
    merged = tile_scene(xyz, 0.5, 50, 50, min_points=100, sparse_policy="merge")
    kept = tile_scene(xyz, 0.5, 50, 50, min_points=100, sparse_policy="keep")
    assert kept.n_patches == 3 and merged.n_patches == 2
    seen = np.concatenate([merged.patch(p)[0] for p in range(merged.n_patches)])
    assert sorted(seen) == list(range(len(xyz)))


def test_class_weights_on_hand_made_counts():
    np.testing.assert_allclose(class_weights([100, 50, 10, 0]), [1.0, 2.0, 10.0, 0.0])


def test_split_is_deterministic_and_seeded():
    a, b, c = split_random(100, 0.2, 7), split_random(100, 0.2, 7), split_random(100, 0.2, 8)
    assert a == b and a != c and a.count(VAL) == 20


def test_leak_free_split_has_no_train_patch_overlapping_val():
    bounds = np.array([[i * 25, j * 25, i * 25 + 50, j * 25 + 50] for i in range(15) for j in range(15)], float)
    scenes = ["s"] * len(bounds)
    split = split_leak_free(scenes, bounds, 100.0, 0.2, 0)
    assert split == split_leak_free(scenes, bounds, 100.0, 0.2, 0)
    train, val = bounds[np.array(split) == TRAIN], bounds[np.array(split) == VAL]
    assert len(train) and len(val)
    for v in val:
        overlap = (train[:, 0] < v[2]) & (train[:, 2] > v[0]) & (train[:, 1] < v[3]) & (train[:, 3] > v[1])
        assert not overlap.any()
