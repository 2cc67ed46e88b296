import numpy as np
import pytest

from pointseg.io import PointCloudError, read_ply, read_scene, read_stpls3d_txt, write_ply, write_stpls3d_txt


def test_cumm_from_numpy_works_with_installed_numpy():
    # cumm-cu120 crashes the process (SIGFPE) with numpy 2; this guards the numpy < 2 pin.
    from cumm import tensorview as tv

    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = tv.from_numpy(a)
    assert list(t.shape) == [3, 4]
    np.testing.assert_array_equal(t.numpy_view(), a)


@pytest.fixture(params=["c", "pyarrow"])
def engine(request, monkeypatch):
    """Each txt test runs with both pandas CSV engines (pyarrow where installed)."""
    import pointseg.io.stpls3d as stpls3d

    if request.param == "pyarrow":
        pytest.importorskip("pyarrow")
    monkeypatch.setattr(stpls3d, "CSV_ENGINE", request.param)
    return request.param


def test_csv_engines_give_bit_identical_scenes(tmp_path):
    pytest.importorskip("pyarrow")
    from pointseg.synthetic.city import make_scene
    from pointseg.io.stpls3d import parse_csv

    s = make_scene(2, 60.0, 4.0, (612345.0, 4123456.0, 80.0))
    p = tmp_path / "2_points_GTv3.txt"
    write_stpls3d_txt(p, s.xyz, s.rgb, s.labels, s.instance)
    c, arrow = parse_csv(p, "c"), parse_csv(p, "pyarrow")
    assert list(c.dtypes) == list(arrow.dtypes)
    for col in c.columns:
        a, b = c[col].to_numpy(), arrow[col].to_numpy()
        assert np.array_equal(a.view(np.int64), b.view(np.int64))  # the same bits, not just close


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_txt_round_trip_keeps_georeferenced_coordinates(tmp_path, engine):
    rng = np.random.default_rng(0)
    xyz = rng.uniform(0, 100, (50, 3)) + [512345.123456, 4123456.654321, 100.0]
    rgb = rng.integers(0, 256, (50, 3)).astype(np.uint8)
    labels = rng.integers(0, 15, 50)
    inst = rng.integers(-100, 5, 50)
    p = tmp_path / "1_points_GTv3.txt"
    write_stpls3d_txt(p, xyz, rgb, labels, inst)
    s = read_stpls3d_txt(p)
    np.testing.assert_allclose(s.xyz, xyz, atol=1e-6)
    np.testing.assert_array_equal(s.rgb, rgb)
    np.testing.assert_array_equal(s.labels, labels)
    np.testing.assert_array_equal(s.instance, inst)
    # local float32 coordinates keep millimetres after subtracting the stored origin
    np.testing.assert_allclose(s.local_xyz() + s.origin, xyz, atol=1e-4)


def test_six_column_file_has_no_labels(tmp_path):
    s = read_stpls3d_txt(write(tmp_path, "a.txt", "1,2,3,10,20,30\n4,5,6,40,50,60\n"))
    assert s.labels is None and len(s) == 2


def test_out_of_range_labels_become_ignored_and_are_counted(tmp_path, caplog):
    s = read_stpls3d_txt(write(tmp_path, "a.txt", "0,0,0,1,1,1,3,-100\n1,1,1,1,1,1,15,2\n2,2,2,1,1,1,-100,3\n3,3,3,1,1,1,-7,3\n"))
    np.testing.assert_array_equal(s.labels, [3, -100, -100, -100])
    assert s.n_out_of_range_labels == 2
    assert "2 points with labels outside" in caplog.text


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "empty scene"),
        ("1,2,3,4,5\n", "5 columns, expected 6"),
        ("1,2,3,4,5,6,7\n", "7 columns"),
        ("1,2,abc,4,5,6\n", "non-numeric value 'abc' in column 3 at line 1"),
        ("1,2,3,4,5,6\n1,nan,3,4,5,6\n", "NaN or infinite coordinates (first at point 2)"),
        ("1,2,inf,4,5,6\n", "NaN or infinite"),
        ("1,2,3,4,5,300\n", "colours outside 0..255"),
        ("1,2,3,4,5,-1\n", "colours outside 0..255"),
        ("1,2,3,4,5,6,1,1\n1,2,3,4,5,6,,1\n", "missing or NaN value in column 7 at line 2"),
        ("1,2,3,4,5,6\n1,2,3,4,5,6,7,8,9\n", "inconsistent number of columns"),
        ("\n\n", "empty scene"),
    ],
)
def test_bad_txt_input_names_file_and_problem(tmp_path, text, problem, engine):
    p = write(tmp_path, "bad.txt", text)
    with pytest.raises(PointCloudError) as err:
        read_stpls3d_txt(p)
    assert str(p) in str(err.value) and problem in str(err.value)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(PointCloudError, match="file not found"):
        read_scene(tmp_path / "none.txt")
    with pytest.raises(PointCloudError, match="unsupported file type"):
        read_scene(write(tmp_path, "a.xyz", "x"))


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("field", ["class", "label", "semantic", "scalar_Classification"])
def test_ply_round_trip_with_label_field_names(tmp_path, binary, field, o3d):
    rng = np.random.default_rng(1)
    xyz = rng.uniform(0, 10, (20, 3)) + [600000.0, 5000000.0, 0]
    rgb = rng.integers(0, 256, (20, 3)).astype(np.uint8)
    labels = rng.integers(0, 15, 20).astype(np.int32)
    p = tmp_path / "s.ply"
    write_ply(p, xyz, rgb, {field: labels}, ["class 0 ground"], binary=binary)
    s = read_ply(p)
    np.testing.assert_array_equal(s.xyz, xyz)
    np.testing.assert_array_equal(s.rgb, rgb)
    np.testing.assert_array_equal(s.labels, labels)
    if o3d is None:
        pytest.skip("open3d is not installed here")
    cloud = o3d.io.read_point_cloud(str(p))
    assert len(cloud.points) == 20


def test_ply_without_xyz_is_rejected(tmp_path):
    p = tmp_path / "bad.ply"
    p.write_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty float a\nend_header\n1\n")
    with pytest.raises(PointCloudError, match="lacks x, y, z"):
        read_ply(p)


def test_atomic_write_leaves_no_partial_file_on_error(tmp_path):
    from pointseg.io import atomic_path, atomic_write_text
    from pointseg.io.ownership import OWN_FILES

    target = tmp_path / "out.bin"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.bin", *OWN_FILES])


def test_atomic_write_replaces_only_files_pointseg_wrote_and_nobody_changed(tmp_path):
    from pointseg.errors import OutputExistsError
    from pointseg.io import atomic_write_text

    mine, theirs = tmp_path / "mine.txt", tmp_path / "theirs.txt"
    theirs.write_text("the user's")
    with pytest.raises(OutputExistsError, match="theirs.txt: exist"):
        atomic_write_text(theirs, "ours")
    assert theirs.read_text() == "the user's"
    atomic_write_text(mine, "first")
    atomic_write_text(mine, "second")  # pointseg's own file: replaced
    assert mine.read_text() == "second"
    with open(mine, "a") as f:  # the user edits it: it is no longer pointseg's to replace
        f.write(" and a note")
    with pytest.raises(OutputExistsError, match="mine.txt: exist"):
        atomic_write_text(mine, "third")
    assert mine.read_text() == "second and a note"
