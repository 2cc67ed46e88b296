"""LAS/LAZ in and out, class maps, colour handling, intensity: files built here with laspy, answers by hand."""


import laspy
import numpy as np
import pytest
import torch
from laspy.vlrs.known import WktCoordinateSystemVlr
from laspy.vlrs.vlrlist import VLRList

from pointseg.config import Config, apply_overrides, load_config
from pointseg.io import (
    ClassMapError,
    PointCloudError,
    Scene,
    load_class_map,
    output_path,
    read_bounds,
    read_ply,
    read_scene,
    write_labelled,
    write_ply,
)
from pointseg.io.class_map import class_map_from_dict

WKT = 'PROJCS["WGS 84 / UTM zone 31N",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]]],UNIT["metre",1]]'
ORIGIN = np.array([612000.0, 4100000.0, 80.0])
SCALE = 0.001
# ASPRS codes and their classes through configs/class_maps/asprs.yaml (25: reserved, not in the map)
CODES = np.array([2, 6, 3, 4, 5, 1, 7, 9, 25])
CLASSES = np.array([0, 1, 2, 3, 4, -100, -100, -100, -100])


def make_las(path, version="1.4", fmt=7, n=900, colour="16bit", seed=0, extra=True, crs=True, evlr=False, codes=CODES):
    """A georeferenced LAS/LAZ (by suffix); returns the integer coordinates, colours, intensity and codes written."""
    rng = np.random.default_rng(seed)
    header = laspy.LasHeader(version=version, point_format=fmt)
    header.offsets, header.scales = ORIGIN, np.full(3, SCALE)
    if extra:
        header.add_extra_dims([laspy.ExtraBytesParams("height_above_ground", np.float64), laspy.ExtraBytesParams("tile_id", np.int16)])
    if crs:
        header.vlrs.append(WktCoordinateSystemVlr(WKT))
    las = laspy.LasData(header)
    las.points = laspy.ScaleAwarePointRecord.zeros(n, header=header)
    ints = np.c_[rng.integers(0, 60_000, n), rng.integers(0, 40_000, n), rng.integers(0, 20_000, n)]  # 60 x 40 x 20 m
    las.X, las.Y, las.Z = ints[:, 0], ints[:, 1], ints[:, 2]
    rgb8 = rng.integers(0, 256, (n, 3)).astype(np.uint16)
    if colour is not None:
        stored = rgb8 * 257 if colour == "16bit" else rgb8
        las.red, las.green, las.blue = stored[:, 0], stored[:, 1], stored[:, 2]
    intensity = rng.integers(1, 65535, n).astype(np.uint16)
    las.intensity = intensity
    code = codes[rng.integers(0, len(codes), n)]
    las.classification = code
    if "gps_time" in las.point_format.dimension_names:
        las.gps_time = rng.uniform(0, 1e6, n)
    if extra:
        las.height_above_ground = rng.uniform(0, 30, n)
        las.tile_id = np.full(n, 7, np.int16)
    if evlr:
        las.evlrs = VLRList([laspy.VLR("pointseg_test", 42, "an EVLR", b"evlr payload")])
    las.write(str(path))
    return ints, rgb8.astype(np.uint8), intensity, code


@pytest.mark.parametrize("suffix", [".las", ".laz"])
@pytest.mark.parametrize("version, fmt, colour", [("1.2", 3, "16bit"), ("1.2", 3, "8bit"), ("1.4", 6, None), ("1.4", 7, "16bit"),
                                                   ("1.4", 7, "8bit"), ("1.4", 8, "16bit")])
def test_read_las_coordinates_colours_intensity_and_classes(tmp_path, suffix, version, fmt, colour, caplog):
    path = tmp_path / f"tile{suffix}"
    ints, rgb8, intensity, codes = make_las(path, version, fmt, colour=colour)
    s = read_scene(path)
    assert s.xyz.dtype == np.float64
    np.testing.assert_array_equal(s.xyz, ints * SCALE + ORIGIN)  # float64 from the integers, scale and offset
    if colour is None:
        assert s.rgb is None
    else:  # 16-bit colours / 257 and 8-bit values in 16-bit fields both give the 8-bit colour back
        np.testing.assert_array_equal(s.rgb, rgb8)
    np.testing.assert_array_equal(s.intensity, intensity.astype(np.float32))
    np.testing.assert_array_equal(s.labels, [dict(zip(CODES, CLASSES))[c] for c in codes])
    n_unknown = int((codes == 25).sum())
    assert s.n_out_of_range_labels == n_unknown
    warnings = [r.getMessage() for r in caplog.records if "not in the class map" in r.getMessage()]
    assert len(warnings) == 1 and f"{n_unknown} points" in warnings[0] and f"code 25: {n_unknown}" in warnings[0] and str(path) in warnings[0]


def test_all_zero_colour_fields_and_unlabelled_files_are_read_as_such(tmp_path):
    path = tmp_path / "grey.las"
    make_las(path, "1.2", 3, colour="16bit", codes=np.array([1]))  # 'unclassified' everywhere
    las = laspy.read(str(path))
    las.red[:], las.green[:], las.blue[:] = 0, 0, 0
    las.write(str(path))
    s = read_scene(path)
    assert s.rgb is None and s.labels is None  # never zeros as colours; nothing to score


def test_read_bounds_uses_the_header_only(tmp_path):
    path = tmp_path / "tile.laz"
    ints, *_ = make_las(path, "1.4", 7)
    xyz = ints * SCALE + ORIGIN
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 2000])  # corrupt the compressed points; the header stays intact
    b = read_bounds(path)
    np.testing.assert_allclose(b.mins, xyz.min(axis=0), atol=1e-9)
    np.testing.assert_allclose(b.maxs, xyz.max(axis=0), atol=1e-9)
    assert b.n_points == 900 and b.crs == WKT
    with pytest.raises(PointCloudError, match=r"tile\.laz: not a readable LAZ file"):
        read_scene(path)


def test_read_bounds_of_text_and_ply_scenes(tmp_path):
    xyz = np.array([[1.0, 2.0, 3.0], [4.0, -5.0, 6.0]])
    write_ply(tmp_path / "a.ply", xyz, None)
    b = read_bounds(tmp_path / "a.ply")
    np.testing.assert_array_equal(b.mins, [1, -5, 3])
    np.testing.assert_array_equal(b.maxs, [4, 2, 6])
    assert b.n_points == 2 and b.crs is None


def vlr_table(records):
    return sorted((v.user_id.rstrip("\0"), v.record_id, bytes(v.record_data_bytes())) for v in records if v.record_id != 4)  # 4: extra-bytes VLR


@pytest.mark.parametrize("version, fmt, suffix", [("1.2", 3, ".las"), ("1.4", 7, ".laz"), ("1.4", 8, ".las")])
def test_labelled_copy_keeps_every_dimension_vlr_and_coordinate(tmp_path, version, fmt, suffix):
    src = tmp_path / f"in{suffix}"
    make_las(src, version, fmt, evlr=version == "1.4")
    scene = read_scene(src)
    n = len(scene)
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 15, n)
    probs = rng.dirichlet(np.ones(15), n).astype(np.float32)
    out = output_path(tmp_path / "out", src)
    assert out.name == f"in_pred{suffix}"
    write_labelled(out, scene, labels, probs.max(1), -(probs * np.log(probs)).sum(1), probs)
    a, b = laspy.read(str(src)), laspy.read(str(out))
    assert b.header.version == a.header.version and b.point_format.id == a.point_format.id
    np.testing.assert_array_equal(b.header.scales, a.header.scales)
    np.testing.assert_array_equal(b.header.offsets, a.header.offsets)
    for name in a.point_format.dimension_names:  # every original dimension, extra bytes included
        np.testing.assert_array_equal(np.asarray(b[name]), np.asarray(a[name]), err_msg=name)
    np.testing.assert_array_equal(np.asarray(b.x), scene.xyz[:, 0])  # identical coordinates at the input's scale
    assert vlr_table(b.header.vlrs) == vlr_table(a.header.vlrs)
    assert vlr_table(b.evlrs or []) == vlr_table(a.evlrs or [])
    if version == "1.4":
        assert vlr_table(b.evlrs) == [("pointseg_test", 42, b"evlr payload")]
    np.testing.assert_array_equal(b.pred_class, labels)
    assert b["confidence"].dtype == np.float32 and b["entropy"].dtype == np.float32
    np.testing.assert_array_equal(b["confidence"], probs.max(1))
    np.testing.assert_array_equal(b["prob_low_vegetation"], probs[:, 2])
    with laspy.open(str(out)) as reader:
        assert reader.header.are_points_compressed == (suffix == ".laz")
    assert read_bounds(out).crs == WKT


def test_write_class_into_classification_keeps_the_prediction_and_the_input_classes(tmp_path):
    from pointseg.io import read_prediction

    src = tmp_path / "in.las"
    _, _, _, codes = make_las(src, "1.2", 3, n=15)
    scene = read_scene(src)
    labels = np.arange(15)
    write_labelled(tmp_path / "o.las", scene, labels, np.ones(15), np.zeros(15), write_class="classification")
    out = laspy.read(str(tmp_path / "o.las"))
    # ground, building, low/medium/high vegetation -> 2, 6, 3, 4, 5; the rest has no ASPRS code -> 1 (unclassified)
    np.testing.assert_array_equal(out.classification, [2, 6, 3, 4, 5] + [1] * 10)
    np.testing.assert_array_equal(out.pred_class, labels)  # the prediction itself stays
    np.testing.assert_array_equal(out.original_class, codes)  # and nothing the user had is lost
    again = read_scene(tmp_path / "o.las")  # both ways: the codes read back as the classes that have one
    np.testing.assert_array_equal(again.labels, [0, 1, 2, 3, 4] + [-100] * 10)
    p = read_prediction(tmp_path / "o.las", "asprs")  # ground truth: the input's codes, not the written prediction
    np.testing.assert_array_equal(p.pred, labels)
    np.testing.assert_array_equal(p.scene.labels, [dict(zip(CODES, CLASSES))[c] for c in codes])
    # labelled again (its classification now holds predictions): the first original_class is kept, not replaced
    write_labelled(tmp_path / "o2.las", read_scene(tmp_path / "o.las"), np.zeros(15), np.ones(15), write_class="classification")
    twice = laspy.read(str(tmp_path / "o2.las"))
    np.testing.assert_array_equal(twice.original_class, codes)
    np.testing.assert_array_equal(twice.classification, 2)
    assert list(twice.point_format.extra_dimension_names).count("original_class") == 1


def test_class_map_both_ways_and_custom_maps(tmp_path):
    asprs = load_class_map("asprs")
    classes, unknown = asprs.to_classes(np.array([2, 6, 3, 4, 5, 9, 18, 64, 64, 200]))
    np.testing.assert_array_equal(classes, [0, 1, 2, 3, 4, -100, -100, -100, -100, -100])
    assert unknown == {64: 2, 200: 1}  # listed codes (water 9, high noise 18) are ignored, not unknown
    np.testing.assert_array_equal(asprs.to_classes(asprs.to_codes(np.arange(5)))[0], np.arange(5))
    custom = class_map_from_dict({"classes": {2: 0, 64: 5, 65: 5}, "inverse": {14: 80}, "unmapped_code": 0})
    np.testing.assert_array_equal(custom.to_codes(np.array([0, 5, 14, 3])), [2, 64, 80, 0])  # smallest code wins for 5
    src = tmp_path / "small.las"
    make_las(src, "1.2", 3, n=4)
    with pytest.raises(ValueError, match="5-bit classification"):
        write_labelled(tmp_path / "o.las", read_scene(src), np.full(4, 5), np.ones(4), write_class="classification", class_map=custom)
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes: {2: 20}\n")
    with pytest.raises(ClassMapError, match="bad.yaml: classes must be 0..14"):
        load_class_map(str(bad))
    with pytest.raises(ClassMapError, match="nosuchmap.yaml: class map not found"):
        load_class_map("nosuchmap")


def test_text_scene_written_as_las_keeps_its_coordinates(tmp_path):
    rng = np.random.default_rng(2)
    xyz = np.round(rng.uniform(0, 500, (100, 3)) + ORIGIN, 6)
    rgb = rng.integers(0, 256, (100, 3)).astype(np.uint8)
    scene = Scene(tmp_path / "5_points_GTv3.txt", xyz, rgb)
    out = output_path(tmp_path, scene.path, "laz")
    write_labelled(out, scene, np.zeros(100), np.ones(100))
    back = read_scene(out)
    np.testing.assert_allclose(back.xyz, xyz, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(back.rgb, rgb)


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(p.read_bytes()[:50]), "not a readable LAS file"),
        (lambda p: p.write_bytes(p.read_bytes()[:104] + bytes([42]) + p.read_bytes()[105:]), "point format 42 is not supported"),
    ],
    ids=["zero-bytes", "truncated-header", "unknown-point-format"],
)
def test_bad_las_files_name_the_file(tmp_path, damage, problem):
    path = tmp_path / "bad.las"
    make_las(path, "1.2", 3, n=10)
    damage(path)
    with pytest.raises(PointCloudError) as err:
        read_scene(path)
    assert str(err.value).startswith(f"{path}: {problem}")


def test_las_without_points_is_an_empty_scene(tmp_path):
    path = tmp_path / "none.laz"
    make_las(path, "1.4", 6, n=0, colour=None)
    with pytest.raises(PointCloudError, match=r"none\.laz: empty scene"):
        read_scene(path)


def test_ply_unit_float_colours_and_missing_colours(tmp_path):
    xyz = np.random.default_rng(0).uniform(0, 10, (4, 3))
    unit = np.array([[0, 0.5, 1.0], [1, 1, 1], [0.2, 0.4, 0.6], [0, 0, 0]], np.float32)
    write_ply(tmp_path / "u.ply", xyz, None, {"red": unit[:, 0], "green": unit[:, 1], "blue": unit[:, 2]})
    np.testing.assert_array_equal(read_ply(tmp_path / "u.ply").rgb, np.rint(unit * 255))
    wide = (unit * 65535).astype(np.uint16)
    write_ply(tmp_path / "w.ply", xyz, None, {"red": wide[:, 0], "green": wide[:, 1], "blue": wide[:, 2]})
    np.testing.assert_array_equal(read_ply(tmp_path / "w.ply").rgb, np.rint(wide / 257))
    write_ply(tmp_path / "n.ply", xyz, None, {"intensity": np.arange(4, dtype=np.float32)})
    s = read_ply(tmp_path / "n.ply")
    assert s.rgb is None
    np.testing.assert_array_equal(s.intensity, [0, 1, 2, 3])


def constant_predictor(probabilities):
    def predict(batch):
        n = sum(batch.points_per_sample)
        return torch.as_tensor(probabilities, dtype=torch.float32).expand(n, -1).clone()

    return predict


def test_entropy_and_probabilities_from_predict_scene():
    from pointseg.predict.stitch import predict_scene

    cfg = load_config(None, ["data.voxel_size=0.5", "infer.cpu_batch_size=2"])
    rng = np.random.default_rng(0)
    xyz = rng.uniform(0, 80, (2000, 3)) + ORIGIN
    scene = Scene("s.las", xyz, rng.integers(0, 256, (2000, 3)).astype(np.uint8))
    p = np.array([0.5, 0.25, 0.25] + [0.0] * 12)
    pred = predict_scene(scene, constant_predictor(p), cfg, probabilities=True)
    np.testing.assert_array_equal(pred.labels, 0)
    np.testing.assert_allclose(pred.confidence, 0.5, rtol=1e-6)
    np.testing.assert_allclose(pred.entropy, 1.5 * np.log(2), rtol=1e-5)  # -(.5 ln .5 + 2 * .25 ln .25)
    np.testing.assert_allclose(pred.probabilities, np.broadcast_to(p, (2000, 15)), atol=1e-6)
    assert predict_scene(scene, constant_predictor(p), cfg).probabilities is None


def test_colourless_file_for_an_rgb_model_stops_with_the_fix(tmp_path):
    from pointseg.predict.stitch import predict_scene

    path = tmp_path / "nocolour.laz"
    make_las(path, "1.4", 6, n=500, colour=None)
    scene = read_scene(path)
    cfg = Config()
    with pytest.raises(PointCloudError, match=r"nocolour\.laz: no colour \(rgb\) in this file, but the model uses rgb: .*features\.rgb: false"):
        predict_scene(scene, constant_predictor(np.eye(15)[0]), cfg)
    cfg = apply_overrides(cfg, ["features.rgb=false", "features.intensity=true", "data.voxel_size=0.5"])
    assert (predict_scene(scene, constant_predictor(np.eye(15)[3]), cfg).labels == 3).all()
    scene.intensity = None
    with pytest.raises(PointCloudError, match="no intensity in this file.*features.intensity: false"):
        predict_scene(scene, constant_predictor(np.eye(15)[0]), cfg)


def test_intensity_feature_values_and_device_batches_agree():
    from reference import patch_inputs

    from pointseg.data.features import PointAttributes, point_features
    from pointseg.data.tiling import tile_scene
    from pointseg.predict.batches import PatchBatcher

    cfg = load_config(None, ["data.voxel_size=0.5", "features.intensity=true"])
    one = point_features(torch.zeros(4, 3), torch.zeros(4, dtype=torch.int64), torch.zeros(1, 2), 25.0, cfg.features,
                         PointAttributes(rgb=torch.zeros(4, 3), intensity=torch.tensor([0, 255, 65535, 70000.0])))
    np.testing.assert_allclose(one[:, 6].numpy(), [0, 0.5, 1, 1], rtol=1e-6)  # log1p(255) / log1p(65535) = 0.5
    rng = np.random.default_rng(1)
    local = rng.uniform(0, 90, (3000, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, (3000, 3)).astype(np.uint8)
    intensity = rng.integers(0, 65536, 3000).astype(np.float32)
    tiled = tile_scene(local, cfg.data.voxel_size, cfg.data.patch_size, 25, 0, "keep")
    patches = list(range(tiled.n_patches))
    batch, points = PatchBatcher(tiled, local, PointAttributes(rgb=rgb, intensity=intensity), cfg, torch.device("cpu")).batch(patches)
    assert batch.feats.shape[1] == cfg.features.channels == 7
    per_point = batch.feats[batch.inverse].numpy()
    for b, idx in enumerate(batch.point_index):  # a loop over patches
        _, expected = patch_inputs(local, idx.numpy(), tiled.patch_bounds(patches[b]), 0.5, 25.0, rgb, intensity)
        start = sum(batch.points_per_sample[:b])
        np.testing.assert_allclose(per_point[start : start + len(idx)], expected, rtol=1e-5, atol=1e-5)


def test_prepare_las_and_ply_scenes_with_named_test_scenes(tmp_path, tiny_cfg, caplog):
    from pointseg.data.dataset import PatchDataset
    from pointseg.data.prepare import prepare_dataset

    src = tmp_path / "src"
    src.mkdir()
    codes = np.array([2, 6, 3, 5])
    make_las(src / "tile_a.las", "1.4", 6, n=3000, colour=None, codes=codes, seed=1)
    make_las(src / "tile_b.laz", "1.4", 6, n=3000, colour=None, codes=codes, seed=2)
    make_las(src / "tile_c.laz", "1.2", 1, n=3000, colour=None, codes=codes, seed=3, extra=False)
    cfg = apply_overrides(tiny_cfg, ["data.scene_glob=*.la[sz]", "data.test_scenes=[tile_c, tile_zz]", "data.min_points_per_patch=10"])
    prepare_dataset(src, tmp_path / "prep", cfg.data, progress=False)
    import json

    m = json.loads((tmp_path / "prep" / "manifest.json").read_text())
    assert {s["name"]: s["role"] for s in m["scenes"]} == {"tile_a": "trainval", "tile_b": "trainval", "tile_c": "test"}
    assert all(s["number"] is None and s["rgb"] is False and s["intensity"] is True for s in m["scenes"])
    assert "['tile_zz'] match no scene file" in caplog.text
    labels = np.load(tmp_path / "prep" / "scenes" / "tile_a" / "labels.npy")
    ints, _, _, written = make_las(tmp_path / "again.las", "1.4", 6, n=3000, colour=None, codes=codes, seed=1)
    np.testing.assert_array_equal(labels, np.array([0, 1, 2, 4])[[list(codes).index(c) for c in written]])
    with pytest.raises(PointCloudError, match=r"tile_\w\.la[sz]: no colour \(rgb\) in this scene, but the config uses rgb: train with a config with features\.rgb: false"):
        PatchDataset(tmp_path / "prep", "train", cfg)
    cfg = apply_overrides(cfg, ["features.rgb=false", "features.intensity=true"])
    sample = PatchDataset(tmp_path / "prep", "test", cfg)[0]
    assert sample.voxel_feats.shape[1] == 4 and 0 <= sample.voxel_feats[:, 3].min() and sample.voxel_feats[:, 3].max() <= 1


def test_label_scenes_las_in_las_out_with_an_untrained_checkpoint(tmp_path, tiny_cfg):
    from pointseg.models import build_model
    from pointseg.models.checkpoint import save_checkpoint
    from pointseg.predict.evaluate import evaluate_predictions
    from pointseg.predict.label import label_scenes

    cfg = apply_overrides(tiny_cfg, ["features.rgb=false", "features.intensity=true"])
    save_checkpoint(tmp_path / "m.pt", {"model": build_model(cfg).state_dict()}, cfg)
    src = tmp_path / "in"
    src.mkdir()
    make_las(src / "t.laz", "1.4", 6, n=1500, colour=None)
    summary = label_scenes(tmp_path / "m.pt", src, tmp_path / "out", torch.device("cpu"), ["infer.probabilities=true"], progress=False)
    out = laspy.read(str(tmp_path / "out" / "t_pred.laz"))
    assert summary["scenes"] == 1 and len(out.points) == 1500
    np.testing.assert_allclose(sum(np.asarray(out[f]) for f in out.point_format.extra_dimension_names if f.startswith("prob_")), 1, atol=1e-5)
    assert ((out.entropy >= 0) & (out.entropy <= np.log(15) + 1e-5)).all()
    assert (tmp_path / "out" / "metrics.json").is_file()  # the file's classification is its ground truth
    evaluate_predictions(tmp_path / "out", src)
    label_scenes(tmp_path / "m.pt", src / "t.laz", tmp_path / "ply", torch.device("cpu"), ["infer.output_format=ply"], progress=False)
    from plyfile import PlyData

    v = PlyData.read(str(tmp_path / "ply" / "t_pred.ply"))["vertex"].data
    assert {"scalar_class", "scalar_confidence", "scalar_entropy"} <= set(v.dtype.names) and "red" not in v.dtype.names


def test_ply_output_gains_entropy_probabilities_and_the_las_fields_and_laz_converts_to_las(tmp_path, caplog):
    from plyfile import PlyData

    src = tmp_path / "in.laz"
    make_las(src, "1.4", 7, n=50)
    a = laspy.read(str(src))
    a.return_number[:], a.number_of_returns[:] = np.arange(50) % 3 + 1, 3
    a.write(str(src))
    scene = read_scene(src)
    probs = np.random.default_rng(3).dirichlet(np.ones(15), 50).astype(np.float32)
    entropy = -(probs * np.log(probs)).sum(1)
    out = write_labelled(output_path(tmp_path, src, "ply"), scene, probs.argmax(1), probs.max(1), entropy, probs)
    ply = PlyData.read(str(out))
    v = ply["vertex"].data
    assert out.name == "in_pred.ply"
    np.testing.assert_array_equal(v["scalar_class"], probs.argmax(1))
    np.testing.assert_array_equal(v["scalar_entropy"], entropy.astype(np.float32))
    np.testing.assert_array_equal(np.stack([v[f"scalar_prob_{n}"] for n in ("ground", "fence")], 1), probs[:, [0, 14]])
    np.testing.assert_array_equal(np.c_[v["x"], v["y"], v["z"]], scene.xyz)
    # the LAS fields a PLY can hold, as stored (intensity widened to int32: Open3D skips 16-bit properties)
    assert v["scalar_intensity"].dtype == np.int32 and v["scalar_original_class"].dtype == np.uint8
    np.testing.assert_array_equal(v["scalar_intensity"], a.intensity)
    np.testing.assert_array_equal(v["scalar_return_number"], np.arange(50) % 3 + 1)
    np.testing.assert_array_equal(v["scalar_number_of_returns"], 3)
    np.testing.assert_array_equal(v["scalar_original_class"], a.classification)
    assert f"crs {WKT}" in ply.comments and "field scalar_confidence: max class probability 0..1" in ply.comments
    # and one line saying what it cannot hold
    said = [r.getMessage() for r in caplog.records if "a PLY cannot hold" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith(f"{out}: a PLY cannot hold a CRS")
    assert "gps_time, height_above_ground, tile_id of in.laz" in said[0] and "--format laz" in said[0]
    las_out = write_labelled(output_path(tmp_path, src, "las"), scene, probs.argmax(1), probs.max(1))
    b = laspy.read(str(las_out))
    assert las_out.suffix == ".las" and not b.header.are_points_compressed
    np.testing.assert_array_equal(b.X, laspy.read(str(src)).X)


def test_new_las_from_a_text_scene_has_returns_software_descriptions_and_the_given_crs(tmp_path):
    pytest.importorskip("pyproj")
    from pointseg.io.crs import parse_crs

    rng = np.random.default_rng(2)
    xyz = np.round(rng.uniform(0, 500, (40, 3)) + ORIGIN, 6)
    scene = Scene(tmp_path / "5_points_GTv3.txt", xyz, rng.integers(0, 256, (40, 3)).astype(np.uint8))
    probs = rng.dirichlet(np.ones(15), 40).astype(np.float32)
    out = write_labelled(tmp_path / "5_pred.laz", scene, probs.argmax(1), probs.max(1), np.zeros(40), probs,
                         crs=parse_crs("EPSG:32631"))
    b = laspy.read(str(out))
    np.testing.assert_array_equal(b.return_number, 1)
    np.testing.assert_array_equal(b.number_of_returns, 1)
    assert b.header.generating_software.startswith("pointseg ")
    assert b.header.parse_crs().to_epsg() == 32631
    described = {d.name: d.description for d in b.point_format.extra_dimensions}
    assert described["pred_class"] == "pointseg predicted class 0..14" and described["confidence"] == "max class probability 0..1"
    assert described["prob_medium_vegetation"] == "probability of medium vegetation"
    assert all(0 < len(d.encode()) <= 32 for d in described.values())
    with pytest.raises(ValueError, match=r"--crs 'EPSG:99999999': not a coordinate reference system"):
        parse_crs("EPSG:99999999")


def test_crs_option_is_refused_for_an_input_with_another_crs(tmp_path):
    pytest.importorskip("pyproj")
    from pointseg.io.crs import check_crs_option, parse_crs

    import pyproj

    utm31 = pyproj.CRS.from_epsg(32631)
    header = laspy.LasHeader(version="1.4", point_format=6)
    header.add_crs(utm31)
    las = laspy.LasData(header)
    las.points = laspy.ScaleAwarePointRecord.zeros(2, header=header)
    las.write(str(tmp_path / "utm31.las"))
    make_las(tmp_path / "none.las", "1.4", 6, n=5, colour=None, crs=False)
    (tmp_path / "t.txt").write_text("0,0,0,0,0,0\n")
    check_crs_option(parse_crs("32631"), [tmp_path / "utm31.las", tmp_path / "none.las", tmp_path / "t.txt"])  # the same CRS: fine
    with pytest.raises(PointCloudError, match=r"utm31\.las: carries the CRS 'WGS 84 / UTM zone 31N', but --crs is 'WGS 84 / UTM zone 32N'; leave --crs out"):
        check_crs_option(parse_crs("EPSG:32632"), [tmp_path / "none.las", tmp_path / "utm31.las"])
    # a LAS input without a CRS gets it in its labelled copy; one with a CRS keeps its own
    out = write_labelled(tmp_path / "none_pred.las", read_scene(tmp_path / "none.las"), np.zeros(5), np.ones(5), crs=parse_crs("EPSG:32632"))
    assert laspy.read(str(out)).header.parse_crs().to_epsg() == 32632


@pytest.mark.parametrize("epsg", [32631, 32632])
def test_geokey_crs_text_tells_tiles_apart(tmp_path, epsg):
    from laspy.vlrs.known import GeoKeyDirectoryVlr, GeoKeyEntryStruct, GeoKeysHeaderStructs

    header = laspy.LasHeader(version="1.2", point_format=3)
    geokeys = GeoKeyDirectoryVlr()
    geokeys.geo_keys_header = GeoKeysHeaderStructs()
    geokeys.geo_keys_header.number_of_keys = 1
    key = GeoKeyEntryStruct()
    key.id, key.tiff_tag_location, key.count, key.value_offset = 3072, 0, 1, epsg  # ProjectedCSTypeGeoKey
    geokeys.geo_keys = [key]
    header.vlrs.append(geokeys)
    las = laspy.LasData(header)
    las.points = laspy.ScaleAwarePointRecord.zeros(3, header=header)
    las.write(str(tmp_path / "g.las"))
    assert read_bounds(tmp_path / "g.las").crs == f"GeoKeys 3072:0:1:{epsg}"
    out = write_labelled(tmp_path / "g_pred.las", read_scene(tmp_path / "g.las"), np.zeros(3), np.ones(3))
    assert read_bounds(out).crs == f"GeoKeys 3072:0:1:{epsg}"  # the copy keeps the GeoKey VLR
