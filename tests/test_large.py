"""Files larger than memory: read and written in chunks as the in-memory readers and writers do; labelled tile by tile
from disk (a tiny infer.max_memory forces it) with the in-memory run's labels; prepared tile by tile into the arrays
the in-memory prepare writes."""

import json
import logging

import laspy
import numpy as np
import pytest
import torch
from plyfile import PlyData

from pointseg.config import apply_overrides
from pointseg.io import PointCloudError, load_class_map, read_scene, write_ply, write_stpls3d_txt
from pointseg.io.columns import PointColumns
from pointseg.io.las import write_las_new
from pointseg.io.stream import open_stream
from pointseg.models.checkpoint import save_checkpoint
from pointseg.models.random_weights import random_context_model
from pointseg.predict.label import label_scenes
from pointseg.synthetic.city import make_scene
from test_las import make_las

SIZE, ORIGIN = 70.0, (612000.0, 4100000.0, 80.0)
TINY = "infer.max_memory=1e-9"  # GiB: far below what one tile needs, so every file is labelled tile by tile
ASPRS = load_class_map("asprs")


def read_all(path, class_map=None, chunk=777):
    """Every chunk of a full pass and the file's summary."""
    stream = open_stream(path, class_map)
    chunks = list(stream.chunks(chunk))
    return chunks, stream.summary()


def stream_error(path, class_map=None, chunk=3):
    with pytest.raises(PointCloudError) as err:
        read_all(path, class_map, chunk)
    return str(err.value)


def memory_error(path, class_map=None):
    with pytest.raises(PointCloudError) as err:
        read_scene(path, class_map)
    return str(err.value)


@pytest.mark.parametrize("suffix", [".las", ".laz"])
def test_las_read_in_chunks_gives_the_in_memory_points_colours_and_classes(tmp_path, suffix, caplog):
    path = tmp_path / f"tile{suffix}"
    make_las(path, n=3000, evlr=True)
    with caplog.at_level(logging.WARNING):
        whole = read_scene(path, ASPRS)
        memory_warnings = [r.getMessage() for r in caplog.records]
        caplog.clear()
        chunks, summary = read_all(path, ASPRS)
    assert [r.getMessage() for r in caplog.records] == memory_warnings  # the one warning for codes not in the map, same counts
    assert [c.start for c in chunks] == list(range(0, 3000, 777))
    np.testing.assert_array_equal(np.concatenate([c.xyz for c in chunks]), whole.xyz)
    np.testing.assert_array_equal(summary.rgb(np.concatenate([c.colour for c in chunks])), whole.rgb)
    np.testing.assert_array_equal(np.concatenate([c.intensity for c in chunks]), whole.intensity)
    np.testing.assert_array_equal(np.concatenate([c.labels for c in chunks]), whole.labels)
    assert summary.points == 3000 and summary.out_of_range_labels == whole.n_out_of_range_labels > 0
    np.testing.assert_array_equal(summary.origin, whole.origin)


def test_text_and_ply_read_in_chunks_give_the_in_memory_scene(tmp_path):
    rng = np.random.default_rng(0)
    n = 2000
    xyz = np.c_[rng.uniform(0, 50, n), rng.uniform(0, 40, n), rng.uniform(0, 9, n)] + ORIGIN
    rgb = rng.integers(0, 256, (n, 3)).astype(np.uint8)
    labels = rng.integers(-1, 17, n)  # some outside 0..14: set to -100 with one warning
    write_stpls3d_txt(tmp_path / "s.txt", xyz, rgb, labels)
    unit = rgb.astype(np.float32) / 255  # colours as floats in 0..1
    write_ply(tmp_path / "s.ply", xyz, None, {"red": unit[:, 0], "green": unit[:, 1], "blue": unit[:, 2], "class": labels.astype(np.int32),
                                              "intensity": rng.uniform(0, 9, n).astype(np.float32)})
    for path in (tmp_path / "s.txt", tmp_path / "s.ply"):
        whole = read_scene(path)
        chunks, summary = read_all(path)
        np.testing.assert_array_equal(np.concatenate([c.xyz for c in chunks]), whole.xyz)
        np.testing.assert_array_equal(summary.rgb(np.concatenate([c.colour for c in chunks])), whole.rgb)
        np.testing.assert_array_equal(np.concatenate([c.labels for c in chunks]), whole.labels)
        assert summary.out_of_range_labels == whole.n_out_of_range_labels == int(((labels < 0) | (labels > 14)).sum())


def test_text_errors_in_chunks_name_the_in_memory_reader_s_line_and_whole_file_counts(tmp_path):
    good = "612000.5,4100000.5,80.25,10,20,30,1,-100\n"
    cases = {
        "nan.txt": [good] * 4 + ["nan,4100000.5,80.25,10,20,30,1,-100\n"] + [good] * 3 + ["612000.5,inf,1,10,20,30,1,-100\n"],
        "text.txt": [good] * 5 + ["612000.5,4100000.5,80.25,10,20,30,1,-100\n", "612000.5,4100000.5,80.25,1O,20,30,1,-100\n"]
                    + [good] * 2 + ["612000.5,x,80.25,10,20,30,1,-100\n"],
        "colour.txt": [good] * 4 + ["612000.5,4100000.5,80.25,10,20,300,1,-100\n"] + [good] * 4 + ["612000.5,4100000.5,80.25,-1,20,30,1,-100\n"],
        "missing.txt": [good] * 4 + ["612000.5,4100000.5,80.25,10,20,30,,-100\n"] + [good] * 2 + ["612000.5,4100000.5,80.25,10,,30,1,-100\n"],
        "label.txt": [good] * 7 + ["612000.5,4100000.5,80.25,10,20,30,1.5,-100\n"],
    }
    for name, lines in cases.items():
        path = tmp_path / name
        path.write_text("".join(lines))
        assert stream_error(path) == memory_error(path), name
    assert "2 points with NaN or infinite coordinates (first at point 5)" in stream_error(tmp_path / "nan.txt")
    assert "'x' in column 2 at line 10" in stream_error(tmp_path / "text.txt")  # the lowest column, though column 4 fails first
    assert "column 5 at line 8" in stream_error(tmp_path / "missing.txt")


def test_ply_errors_in_chunks_match_the_in_memory_reader(tmp_path):
    xyz = np.c_[np.arange(9.0), np.zeros(9), np.zeros(9)]
    bad_xyz = xyz.copy()
    bad_xyz[[4, 7], 1] = np.nan
    write_ply(tmp_path / "nan.ply", bad_xyz, None)
    colours = np.full((9, 3), 10.0, np.float32)
    colours[[3, 8], 0] = [256.0, -3.0]
    write_ply(tmp_path / "colour.ply", xyz, None, {"red": colours[:, 0], "green": colours[:, 1], "blue": colours[:, 2]})  # float colours
    write_ply(tmp_path / "label.ply", xyz, None, {"class": np.r_[np.zeros(6), 2.5, 0, 0].astype(np.float32)})
    for name in ("nan.ply", "colour.ply", "label.ply"):
        assert stream_error(tmp_path / name) == memory_error(tmp_path / name), name


def test_columns_written_at_scattered_rows_in_small_windows(tmp_path, monkeypatch):
    monkeypatch.setattr("pointseg.io.columns.WINDOW_BYTES", 400)  # many windows (100 rows of a float32 column)
    rng = np.random.default_rng(1)
    n = 1000
    cols = PointColumns(tmp_path, n, {"a": (np.float32, ()), "p": (np.float32, (3,))})
    truth_a, truth_p = np.zeros(n, np.float32), np.zeros((n, 3), np.float32)
    for part in np.array_split(rng.permutation(n), 7):  # seven "tiles" of scattered rows
        rows = np.sort(part)
        a, p = rng.normal(size=len(rows)).astype(np.float32), rng.normal(size=(len(rows), 3)).astype(np.float32)
        cols.write(rows, {"a": a, "p": p})
        truth_a[rows], truth_p[rows] = a, p
    got = cols.read(100, 900)
    np.testing.assert_array_equal(got["a"], truth_a[100:900])
    np.testing.assert_array_equal(got["p"], truth_p[100:900])
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), truth_a)


@pytest.mark.parametrize("suffix", [".ply", ".laz"])
def test_writers_in_chunks_write_the_bytes_of_the_in_memory_writers(tmp_path, suffix):
    """A text scene's labelled copy as PLY (pointseg.io.ply.write_ply) and as a new LAZ (write_las_new), chunk by chunk."""
    from pointseg.io import write_labelled
    from pointseg.io.dispatch import labelled_fields
    from pointseg.io.fields import prediction_columns
    from pointseg.io.labelled import ply_comments
    from pointseg.io.stream import labelled_writer

    rng = np.random.default_rng(2)
    n = 3000
    xyz = np.c_[rng.uniform(0, 50, n), rng.uniform(0, 40, n), rng.uniform(0, 9, n)] + ORIGIN
    write_stpls3d_txt(tmp_path / "s.txt", xyz, rng.integers(0, 256, (n, 3)), rng.integers(0, 15, n))
    scene = read_scene(tmp_path / "s.txt")
    labels, conf, ent = rng.integers(0, 15, n), rng.uniform(0, 1, n).astype(np.float32), rng.uniform(0, 2, n).astype(np.float32)
    write_labelled(tmp_path / f"memory{suffix}", scene, labels, conf, ent)
    chunks, summary = read_all(tmp_path / "s.txt", chunk=1000)
    out = tmp_path / f"x{suffix}"
    fields, _, names = labelled_fields(out, prediction_columns(labels[:0], conf[:0], ent[:0]), None, None)
    comments = ply_comments(names)
    with labelled_writer(tmp_path / f"chunks{suffix}", summary, {k: v.dtype for k, v in fields.items()}, True, comments) as w:
        for c in chunks:
            part = slice(c.start, c.start + len(c))
            fields, codes, _ = labelled_fields(out, prediction_columns(labels[part], conf[part], ent[part]), None, None)
            w.write(c, fields, codes, summary.rgb(c.colour))
    assert (tmp_path / f"chunks{suffix}").read_bytes() == (tmp_path / f"memory{suffix}").read_bytes()


def test_a_writer_that_fails_leaves_no_file(tmp_path):
    from pointseg.io.stream import labelled_writer

    (tmp_path / "s.txt").write_text("1,2,3,10,20,30\n4,5,6,10,20,30\n")
    chunks, summary = read_all(tmp_path / "s.txt", chunk=1)
    with pytest.raises(RuntimeError, match="1 vertices written, the header says 2"):
        with labelled_writer(tmp_path / "out.ply", summary, {"class": np.dtype(np.uint8)}, False) as w:
            w.write(chunks[0], {"class": np.zeros(1, np.uint8)})  # one of the two points
    assert list(tmp_path.iterdir()) == [tmp_path / "s.txt"]


@pytest.fixture(scope="module")
def scene_files(tmp_path_factory, tiny_cfg):
    """A 70 m and a 90 m georeferenced scene, each as LAZ (with an extra dimension and a CRS) and as text, and a
    checkpoint of a tiny U-Net with random weights whose labels depend on context."""
    from laspy.vlrs.known import WktCoordinateSystemVlr

    cfg = apply_overrides(tiny_cfg, ["data.voxel_size=0.5"])
    root = tmp_path_factory.mktemp("large")
    for name, size in (("scene", SIZE), ("wide", 90.0)):  # the wide one (3 x 3 patches, some sparse) for prepare
        s = make_scene(3, size, 3.0, ORIGIN)
        write_stpls3d_txt(root / f"{name}.txt", s.xyz, s.rgb, s.labels, s.instance)
        whole = read_scene(root / f"{name}.txt")
        write_las_new(root / f"{name}.laz", whole.xyz, whole.rgb, {"height": np.arange(len(whole), dtype=np.float32)},
                      ASPRS.to_codes(np.maximum(whole.labels, 0)))
        las = laspy.read(root / f"{name}.laz")
        las.header.vlrs.append(WktCoordinateSystemVlr('PROJCS["WGS 84 / UTM zone 31N",UNIT["metre",1]]'))
        las.write(str(root / f"{name}.laz"))
    save_checkpoint(root / "model.pt", {"model": random_context_model(cfg).state_dict()}, cfg)
    return root


def label(root, name, out, *overrides):
    return label_scenes(root / "model.pt", root / name, root / out, torch.device("cpu"), list(overrides), progress=False)


@pytest.mark.parametrize("name, fmt", [("scene.laz", "laz"), ("scene.txt", "ply")])
def test_a_file_labelled_tile_by_tile_equals_the_in_memory_run(scene_files, name, fmt, caplog):
    root = scene_files
    stem, run = name.split(".")[0], name.replace(".", "_")
    label(root, name, f"mem_{run}", "infer.max_memory=64", "infer.probabilities=true")
    with caplog.at_level(logging.INFO):
        label(root, name, f"tiled_{run}", TINY, "infer.probabilities=true")
    assert any("labelling 9 big tiles of 25 m" in r.getMessage() for r in caplog.records)  # 70 m: 3 x 3 tiles of the 25 m lattice
    assert not (root / f"tiled_{run}" / ".large").exists()  # the work folder is gone
    mem, tiled = root / f"mem_{run}" / f"{stem}_pred.{fmt}", root / f"tiled_{run}" / f"{stem}_pred.{fmt}"
    if fmt == "ply":
        a, b = PlyData.read(str(mem))["vertex"].data, PlyData.read(str(tiled))["vertex"].data
        assert (a["scalar_class"] == b["scalar_class"]).mean() >= 0.999
        assert len(np.unique(a["scalar_class"])) >= 3  # the random model's labels vary: the comparison can fail
    else:
        a, b = laspy.read(mem), laspy.read(tiled)
        assert (a.pred_class == b.pred_class).mean() >= 0.999
        for dim in a.point_format.dimension_names:  # every dimension of the input is copied as it is
            if dim not in ("pred_class", "confidence", "entropy") and not dim.startswith("prob_"):
                np.testing.assert_array_equal(a[dim], b[dim], err_msg=dim)
        assert [(v.user_id, v.record_id, v.record_data_bytes()) for v in a.header.vlrs] == \
               [(v.user_id, v.record_id, v.record_data_bytes()) for v in b.header.vlrs]
    # stronger than asked: on one thread the same votes are summed in the same order, so the files are the same bytes
    assert mem.read_bytes() == tiled.read_bytes()
    assert (root / f"mem_{run}" / "metrics.json").read_text() == (root / f"tiled_{run}" / "metrics.json").read_text()


@pytest.mark.parametrize("name, overrides, big_tiles", [("wide.laz", [], 16), ("wide.txt", ["data.test_scenes=[wide]"], 4)])
def test_a_file_prepared_tile_by_tile_gives_the_in_memory_arrays_and_manifest(scene_files, tmp_path, name, overrides, big_tiles, caplog):
    """A 90 m training scene (patches at 25 m stride, 25 m tiles: 4 x 4 big tiles) and a test scene (50 m, 2 x 2)."""
    from pointseg.config import load_config
    from pointseg.data.prepare import prepare_dataset

    src = tmp_path / "src"
    src.mkdir()
    (src / name).symlink_to(scene_files / name)
    settings = ["data.voxel_size=0.5", "data.scene_glob=wide.*", "data.val_block_size=50", "data.min_points_per_patch=6000", *overrides]
    runs = {}
    for run, budget in (("memory", 64), ("tiled", 1e-9)):
        cfg = load_config("cpu_demo", [*settings, f"data.max_memory={budget}"])
        with caplog.at_level(logging.INFO):
            prepare_dataset(src, tmp_path / run, cfg.data, progress=False)
        runs[run] = tmp_path / run
    assert sum("prepared (" in r.getMessage() for r in caplog.records) == big_tiles  # one line per big tile of the tiled run
    a, b = (json.loads((runs[r] / "manifest.json").read_text()) for r in ("memory", "tiled"))
    for m in (a, b):
        m["data_config"].pop("max_memory")
    assert a == b  # scenes, origins, patches (bounds, points, voxels, class counts), split, weights
    sizes = [p["points"] for p in a["scenes"][0]["patches"]]
    assert min(sizes) >= 6000 and len(sizes) > 1  # a sparse corner patch merged into a neighbour, across big tiles
    scene = runs["memory"] / "scenes" / "wide"
    names = sorted(p.name for p in scene.glob("*.npy"))
    assert names == sorted(p.name for p in (runs["tiled"] / "scenes" / "wide").glob("*.npy"))
    for n in names:
        x, y = np.load(scene / n), np.load(runs["tiled"] / "scenes" / "wide" / n)
        assert x.dtype == y.dtype, n
        np.testing.assert_array_equal(x, y, err_msg=n)
    assert not (runs["tiled"] / ".large").exists()


def test_a_run_killed_midway_resumes_at_the_next_big_tile_and_writes_the_same_file(scene_files, monkeypatch, caplog):
    import pointseg.predict.large as large

    root = scene_files
    if not (root / "mem_scene_laz" / "scene_pred.laz").exists():  # the test above writes it
        label(root, "scene.laz", "mem_scene_laz", "infer.max_memory=64", "infer.probabilities=true")
    real, calls = large.label_tile, []

    def dies_after_three(*args, **kwargs):
        calls.append(args[2])
        if len(calls) > 3:
            raise KeyboardInterrupt  # as if the process were killed
        return real(*args, **kwargs)

    monkeypatch.setattr(large, "label_tile", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        label(root, "scene.laz", "resumed", TINY, "infer.probabilities=true")
    work = root / "resumed" / ".large" / "scene"
    assert len(json.loads((work / "progress.json").read_text())["done"]) == 3 and not (root / "resumed" / "scene_pred.laz").exists()
    monkeypatch.setattr(large, "label_tile", real)
    calls.clear()
    with caplog.at_level(logging.INFO):
        label(root, "scene.laz", "resumed", TINY, "infer.probabilities=true")
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "reusing the blocks of an earlier pass" in messages and "resuming after 3 labelled big tiles" in messages
    assert (root / "resumed" / "scene_pred.laz").read_bytes() == (root / "mem_scene_laz" / "scene_pred.laz").read_bytes()
    assert (root / "resumed" / "metrics.json").read_text() == (root / "mem_scene_laz" / "metrics.json").read_text()
    assert not (root / "resumed" / ".large").exists()


def test_a_bad_large_file_is_refused_with_the_in_memory_message_and_leaves_nothing(scene_files, tmp_path):
    lines = (scene_files / "scene.txt").read_text().splitlines(keepends=True)
    lines[1234] = "612000.5,nan,80.25,10,20,30,1,-100\n"
    (tmp_path / "bad.txt").write_text("".join(lines))
    summary = label_scenes(scene_files / "model.pt", tmp_path / "bad.txt", tmp_path / "out", torch.device("cpu"), [TINY], progress=False)
    assert summary["failed"] == {str(tmp_path / "bad.txt"): memory_error(tmp_path / "bad.txt")}
    assert "1 points with NaN or infinite coordinates (first at point 1235)" in memory_error(tmp_path / "bad.txt")
    assert list((tmp_path / "out").iterdir()) == []  # no work folder, no half-written output


@pytest.fixture(scope="module")
def lidar_feet(tmp_path_factory, tiny_cfg):
    """A 70 m lidar scan (intensity, return numbers, no colour) in US survey feet with its CRS, and a checkpoint of a
    random model whose features are intensity (scaled by the file's 99th percentile) and return numbers."""
    from pointseg.synthetic.las_scene import write_lidar_scenes
    from pointseg.synthetic.lidar import Flight

    root = tmp_path_factory.mktemp("lidar_feet")
    write_lidar_scenes(root, [1], size=70.0, flight=Flight(density=4.0), units="ftUS")
    cfg = apply_overrides(tiny_cfg, ["data.voxel_size=0.5", "data.class_map=synthetic_lidar", "features.rgb=false", "features.intensity=true",
                                     "features.intensity_norm=scene", "features.returns=true"])
    save_checkpoint(root / "model.pt", {"model": random_context_model(cfg).state_dict()}, cfg)
    return root


@pytest.mark.parametrize("fmt", ["laz", "ply"])
def test_a_lidar_file_in_feet_labelled_tile_by_tile_equals_the_in_memory_run(lidar_feet, fmt, caplog):
    """Units, attributes and output fields on the big-file path: a scan in US survey feet is tiled in metres (25 m big
    tiles, not 25 ft), a lidar model gets intensity (with the whole file's scale) and return numbers in every big tile,
    and the labelled file (LAZ with described extra dimensions; PLY with scalar_* fields, the input's intensity and
    returns) is the in-memory run's, byte for byte."""
    root = lidar_feet
    runs = {}
    for run, budget in (("mem", "infer.max_memory=64"), ("tiled", TINY)):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            label_scenes(root / "model.pt", root / "1_lidar.laz", root / f"{run}_{fmt}", torch.device("cpu"),
                         [budget, f"infer.output_format={fmt}"], progress=False)
        runs[run] = " ".join(r.getMessage() for r in caplog.records)
        assert "US survey feet" in runs[run]  # the run says in which units it read the coordinates
    assert "big tiles of 25 m" in runs["tiled"] and "big tiles" not in runs["mem"]
    mem, tiled = (root / f"{run}_{fmt}" / f"1_lidar_pred.{fmt}" for run in ("mem", "tiled"))
    assert mem.read_bytes() == tiled.read_bytes()
    record = json.loads((root / f"tiled_{fmt}" / "1_lidar_pred.json").read_text())
    assert "US survey feet" in record["units"] and record["inputs"]
    if fmt == "ply":
        names = PlyData.read(str(tiled))["vertex"].data.dtype.names
        assert {"scalar_class", "scalar_confidence", "scalar_entropy", "scalar_intensity", "scalar_return_number"} <= set(names)
        assert len(np.unique(PlyData.read(str(tiled))["vertex"].data["scalar_class"])) >= 3
    else:
        las = laspy.read(str(tiled))
        assert len(np.unique(las.pred_class)) >= 3  # the random model's labels vary: the comparison means something
        described = {d.name: d.description for d in las.point_format.extra_dimensions}
        assert described["pred_class"].startswith("pointseg") and las.header.generating_software.startswith("pointseg")
        np.testing.assert_array_equal(las.X, laspy.read(str(root / "1_lidar.laz")).X)  # coordinates as read: in feet


@pytest.fixture(scope="module")
def far_outlier(tmp_path_factory, tiny_cfg):
    """The 70 m georeferenced scene with one more point at 0, 0, 0 (as real LAS files have them), as LAZ and as text,
    and a checkpoint of a random model."""
    cfg = apply_overrides(tiny_cfg, ["data.voxel_size=0.5"])
    root = tmp_path_factory.mktemp("far")
    s = make_scene(3, SIZE, 3.0, ORIGIN)
    xyz, rgb = np.r_[s.xyz, [[0.0, 0.0, 0.0]]], np.r_[s.rgb, [[10, 10, 10]]]
    labels = np.r_[s.labels, [0]]
    write_stpls3d_txt(root / "far.txt", xyz, rgb, labels, np.zeros(len(xyz), np.int64))
    write_las_new(root / "far.laz", xyz, rgb, {}, ASPRS.to_codes(np.maximum(labels, 0)))
    save_checkpoint(root / "model.pt", {"model": random_context_model(cfg).state_dict()}, cfg)
    return root


def test_a_0_0_0_point_in_a_large_file_is_labelled_on_its_own_and_the_bulk_as_in_memory(far_outlier, caplog):
    """Before, the big tiles' origin was 0, 0, 0: the bulk's float32 coordinates 4,100 km out were rounded to 0.25 m.
    Now the far point is labelled last, on its own, and the file is the in-memory run's, byte for byte."""
    root = far_outlier
    logs = {}
    for run, budget in (("mem", "infer.max_memory=64"), ("tiled", TINY)):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            label_scenes(root / "model.pt", root / "far.laz", root / run, torch.device("cpu"), [budget], progress=False)
        logs[run] = " ".join(r.getMessage() for r in caplog.records)
    n = laspy.read(root / "far.laz").header.point_count
    for run in logs:
        assert f"1 point(s) more than 100 m from the bulk of the scene (e.g. point {n} at 0.00, 0.00, 0.00) are labelled on their own" in logs[run]
    assert "labelling 9 big tiles of 25 m" in logs["tiled"]  # the 70 m bulk alone: no grid of big tiles from 0, 0
    mem, tiled = (laspy.read(root / run / "far_pred.laz") for run in ("mem", "tiled"))
    assert len(np.unique(tiled.pred_class)) >= 3
    assert (root / "mem" / "far_pred.laz").read_bytes() == (root / "tiled" / "far_pred.laz").read_bytes()


def test_a_large_file_prepared_tile_by_tile_sets_a_far_outlier_aside_as_in_memory(far_outlier, tmp_path, caplog):
    from pointseg.config import load_config
    from pointseg.data.prepare import prepare_dataset

    src = tmp_path / "src"
    src.mkdir()
    (src / "far.txt").symlink_to(far_outlier / "far.txt")
    runs = {}
    for run, budget in (("memory", 64), ("tiled", 1e-9)):
        caplog.clear()
        cfg = load_config("cpu_demo", ["data.voxel_size=0.5", "data.scene_glob=far.*", "data.test_scenes=[far]", f"data.max_memory={budget}"])
        with caplog.at_level(logging.INFO):
            prepare_dataset(src, tmp_path / run, cfg.data, progress=False)
        assert "far.txt: 1 point(s) more than 100 m from the rest of the scene" in caplog.text and "set aside" in caplog.text
        runs[run] = tmp_path / run
    assert sum("prepared (" in r.getMessage() for r in caplog.records) == 4  # the tiled run: the bulk's 2 x 2 big tiles (50 m) only
    a, b = (json.loads((runs[r] / "manifest.json").read_text()) for r in ("memory", "tiled"))
    for m in (a, b):
        m["data_config"].pop("max_memory")
    assert a == b
    scene = a["scenes"][0]
    bulk = read_scene(far_outlier / "far.txt").xyz[:-1]
    assert scene["set_aside_points"] == 1 and scene["points"] == len(bulk) and scene["origin"] == np.floor(bulk.min(axis=0)).tolist()
    for name in sorted(p.name for p in (runs["memory"] / "scenes" / "far").glob("*.npy")):
        np.testing.assert_array_equal(np.load(runs["memory"] / "scenes" / "far" / name), np.load(runs["tiled"] / "scenes" / "far" / name), err_msg=name)


def test_the_intensity_scale_of_a_streamed_file_counts_its_last_chunks(monkeypatch):
    """Decimal intensities (a PLY's float field) are sampled across the whole file: with room for 1,000 values, 100
    chunks whose last fifth is twice as bright give the 99th percentile of all of them (before, the sample filled up
    in the first 63 chunks and the bright fifth was never seen)."""
    from pointseg.io.stream import _Percentile

    monkeypatch.setattr(_Percentile, "SAMPLE", 1000)
    rng = np.random.default_rng(0)
    chunks = [rng.uniform(0.5, 100.5, 997) * (1 if k < 80 else 2) for k in range(100)]
    p = _Percentile()
    for c in chunks:
        p.add(c)
    exact = np.percentile(np.concatenate(chunks), 99)  # about 191: in the bright fifth
    assert abs(p.value() - exact) < 0.02 * exact
    assert sum(len(a) for a in p.sample) <= 1000


def test_block_folders_of_killed_passes_are_removed_only_when_their_process_is_gone_from_this_machine(tmp_path):
    import subprocess
    import sys

    from pointseg.data.blocks import BLOCKS_KIND, clean_block_leftovers
    from pointseg.io.ownership import mark_dir
    from pointseg.processes import MACHINE, tag

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    names = {"killed": f".blocks-{dead}@{MACHINE}", "running": f".blocks-{tag()}", "elsewhere": f".blocks-{dead}@another-node"}
    for name in names.values():
        mark_dir(tmp_path / name, BLOCKS_KIND)
    (tmp_path / ".blocks-notes").mkdir()  # not pointseg's
    clean_block_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names["running"], names["elsewhere"], ".blocks-notes"])
