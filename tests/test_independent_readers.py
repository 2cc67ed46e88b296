"""pointseg's outputs read back by readers that share no code with it: CloudCompare's command line (PLY; Debian's
2.11 build cannot open LAS/LAZ), Open3D's tensor reader (PLY) and the LASzip reference decoder (LAZ, PyPI `laszip`,
with the header and the Extra Bytes VLR parsed here from the raw bytes). Each test is skipped where its reader is
not installed: `apt-get install cloudcompare`, `pip install -e ".[readers]"`."""

import os
import shutil
import struct
import subprocess

import laspy
import numpy as np
import pytest
from test_las import ORIGIN, WKT, make_las

from pointseg.constants import CLASS_NAMES
from pointseg.io import Scene, read_scene, write_labelled
from pointseg.io.fields import CLOUDCOMPARE_FIRST_MATCHES, ORIGINAL_CLASS, PRED_CLASS, ply_name, probability_field

CLOUDCOMPARE = shutil.which("CloudCompare")


def prediction(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities (n, 15) float32, their argmax and entropy."""
    probs = np.random.default_rng(seed).dirichlet(np.ones(15) * 0.3, n).astype(np.float32)
    return probs, probs.argmax(1), -(probs * np.log(np.maximum(probs, 1e-12))).sum(1)


def test_no_pointseg_ply_name_is_taken_for_a_colour_or_a_normal_by_cloudcompare():
    """CloudCompare loads a PLY property as a scalar field only if its name contains 'scal' (or intensity, gray, grey),
    and matches colour and normal names first (PlyFilter.cpp, 2.11.3): every name pointseg writes must pass both."""
    names = [ply_name(n) for n in (PRED_CLASS, "confidence", "entropy", ORIGINAL_CLASS, "intensity", "return_number", "number_of_returns")]
    names += [ply_name(probability_field(c)) for c in range(len(CLASS_NAMES))]
    assert all("scal" in n.lower() for n in names)
    assert not [n for n in names if any(k in n.lower() for k in CLOUDCOMPARE_FIRST_MATCHES)]


def test_open3d_tensor_reader_gives_every_field_of_a_labelled_ply_under_its_name(tmp_path, o3d):
    if o3d is None:
        pytest.skip("Open3D is not installed")
    src = tmp_path / "tile.laz"
    make_las(src, "1.4", 6, n=200, colour=None)
    scene = read_scene(src)
    probs, labels, entropy = prediction(len(scene), 5)
    ply = write_labelled(tmp_path / "tile_pred.ply", scene, labels, probs.max(1), entropy, probs)
    cloud = o3d.t.io.read_point_cloud(str(ply))
    point = {k: v.numpy() for k, v in cloud.point.items()}
    source = laspy.read(str(src))
    np.testing.assert_array_equal(point["positions"], scene.xyz)  # float64, exact
    np.testing.assert_array_equal(point["scalar_class"][:, 0], labels)
    np.testing.assert_array_equal(point["scalar_entropy"][:, 0], entropy.astype(np.float32))
    np.testing.assert_array_equal(point["scalar_prob_street_sign"][:, 0], probs[:, 12])
    np.testing.assert_array_equal(point["scalar_intensity"][:, 0], source.intensity)  # int32: Open3D skips 16-bit properties
    np.testing.assert_array_equal(point["scalar_original_class"][:, 0], source.classification)


def cloudcompare_asc(ply, workdir) -> tuple[list[str], np.ndarray]:
    """CloudCompare's ASC export of a PLY, loaded headless with -GLOBAL_SHIFT AUTO (as the README says): (columns, values)."""
    workdir.mkdir()
    shutil.copy(ply, workdir / ply.name)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    cmd = [CLOUDCOMPARE, "-SILENT", "-O", "-GLOBAL_SHIFT", "AUTO", ply.name, "-C_EXPORT_FMT", "ASC", "-PREC", "9", "-ADD_HEADER", "-SAVE_CLOUDS"]
    result = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    exported = sorted(workdir.glob("*.asc"))
    assert result.returncode == 0 and exported, (result.stdout + result.stderr)[-2000:]
    lines = exported[0].read_text().splitlines()
    assert lines[0].startswith("//")
    return lines[0][2:].split(), np.loadtxt(lines[1:], ndmin=2)


@pytest.mark.skipif(CLOUDCOMPARE is None, reason="CloudCompare is not installed (Debian: apt-get install cloudcompare)")
@pytest.mark.parametrize("fmt", [6, 7], ids=["no-rgb", "rgb"])
def test_cloudcompare_loads_every_field_of_a_labelled_ply_without_a_dialog(tmp_path, fmt):
    """A PLY of a LAS input, with and without colour (without rgb, a name containing 'red' would become the red channel)."""
    src = tmp_path / "tile.laz"
    make_las(src, "1.4", fmt, n=300, colour=None if fmt == 6 else "16bit")
    scene = read_scene(src)
    probs, labels, entropy = prediction(len(scene), 1)
    ply = write_labelled(tmp_path / "tile_pred.ply", scene, labels, probs.max(1), entropy, probs)
    columns, values = cloudcompare_asc(ply, tmp_path / "cc")
    expected_fields = ["class", "confidence", "entropy"] + [probability_field(c) for c in range(15)]
    expected_fields += ["intensity", "return_number", "number_of_returns", "original_class"]
    assert columns == ["X", "Y", "Z"] + (["R", "G", "B"] if fmt == 7 else []) + expected_fields
    got = dict(zip(columns, values.T))
    source = laspy.read(str(src))
    np.testing.assert_allclose(np.c_[got["X"], got["Y"], got["Z"]], scene.xyz, atol=1e-5, rtol=0)  # shifted: float32 of local values
    np.testing.assert_array_equal(got["class"], labels)
    np.testing.assert_allclose(got["confidence"], probs.max(1), rtol=1e-6, atol=1e-9)  # 9 decimals in the ASC
    np.testing.assert_allclose(got["entropy"], entropy, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["prob_military_vehicle"], probs[:, 8], rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(got["intensity"], source.intensity)
    np.testing.assert_array_equal(got["original_class"], source.classification)
    if fmt == 7:
        np.testing.assert_array_equal(np.c_[got["R"], got["G"], got["B"]], scene.rgb)


@pytest.mark.skipif(CLOUDCOMPARE is None, reason="CloudCompare is not installed (Debian: apt-get install cloudcompare)")
def test_a_ply_saved_again_by_cloudcompare_reads_back_as_a_prediction(tmp_path):
    """CloudCompare saves scalar fields as float `scalar_<name>`: pointseg reads its own fields back from such a file."""
    from pointseg.io import read_prediction

    rng = np.random.default_rng(4)
    xyz = rng.uniform(0, 50, (200, 3)) + ORIGIN
    probs, labels, entropy = prediction(200, 4)
    ply = write_labelled(tmp_path / "s_pred.ply", Scene(tmp_path / "s.txt", xyz, rng.integers(0, 256, (200, 3)).astype(np.uint8)),
                         labels, probs.max(1), entropy)
    work = tmp_path / "cc"
    work.mkdir()
    shutil.copy(ply, work / ply.name)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    cmd = [CLOUDCOMPARE, "-SILENT", "-O", "-GLOBAL_SHIFT", "AUTO", ply.name, "-C_EXPORT_FMT", "PLY", "-PLY_EXPORT_FMT", "BINARY_LE", "-SAVE_CLOUDS"]
    result = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    saved = [p for p in work.glob("*.ply") if p.name != ply.name]
    assert result.returncode == 0 and saved, (result.stdout + result.stderr)[-2000:]
    again = saved[0].with_name("s_again_pred.ply")
    saved[0].rename(again)
    p = read_prediction(again)
    np.testing.assert_array_equal(p.pred, labels)
    np.testing.assert_allclose(p.confidence, probs.max(1), rtol=1e-6)
    np.testing.assert_allclose(p.scene.xyz, xyz, atol=1e-5, rtol=0)


EB_TYPES = {1: "u1", 2: "i1", 3: "<u2", 4: "<i2", 5: "<u4", 6: "<i4", 7: "<u8", 8: "<i8", 9: "<f4", 10: "<f8"}


def raw_header(path) -> dict:
    """What a LAS/LAZ header and its VLRs say, read from the bytes (LAS 1.4 R15, tables 3, 24): no laspy."""
    data = path.read_bytes()
    assert data[:4] == b"LASF"
    header_size, = struct.unpack_from("<H", data, 94)
    n_vlr, = struct.unpack_from("<I", data, 100)
    info = {"version": (data[24], data[25]), "software": data[58:90].split(b"\0")[0].decode(), "extra": [], "wkt": None}
    pos = header_size
    for _ in range(n_vlr):  # a loop over the file's VLRs
        user = data[pos + 2 : pos + 18].split(b"\0")[0].decode()
        record, length = struct.unpack_from("<HH", data, pos + 18)
        body = data[pos + 54 : pos + 54 + length]
        if user == "LASF_Spec" and record == 4:
            for k in range(length // 192):
                entry = body[k * 192 : (k + 1) * 192]
                name = entry[4:36].split(b"\0")[0].decode()
                info["extra"].append((name, EB_TYPES[entry[2]], entry[160:192].split(b"\0")[0].decode()))
        if user == "LASF_Projection" and record == 2112:
            info["wkt"] = body.split(b"\0")[0].decode()
        pos += 54 + length
    return info


def laszip_points(path) -> dict[str, np.ndarray]:
    """Every point decoded by the LASzip reference library (its C API, not lazrs): X, Y, Z, classification, return
    numbers and the extra bytes."""
    laszip = pytest.importorskip("laszip")
    reader = laszip.LasZipDll()
    reader.open_reader(str(path))
    header = reader.header()
    n = header.extended_number_of_point_records or header.number_of_point_records
    fields = {k: [] for k in ("X", "Y", "Z", "classification", "return_number", "number_of_returns", "extra")}
    for _ in range(n):  # the C API hands out one point at a time
        reader.read_point()
        p = reader.point()
        extended = header.point_data_format >= 6
        fields["X"].append(p.X)
        fields["Y"].append(p.Y)
        fields["Z"].append(p.Z)
        fields["classification"].append(p.extended_classification if extended else p.classification)
        fields["return_number"].append(p.extended_return_number if extended else p.return_number)
        fields["number_of_returns"].append(p.extended_number_of_returns if extended else p.number_of_returns)
        fields["extra"].append(bytes(p.extra_bytes))
    reader.close_reader()
    return {k: (b"".join(v) if k == "extra" else np.array(v)) for k, v in fields.items()}


def test_laszip_reference_decoder_reads_a_labelled_laz_copy(tmp_path):
    pytest.importorskip("laszip")
    src = tmp_path / "tile.laz"
    make_las(src, "1.4", 7, n=200)
    scene = read_scene(src)
    probs, labels, entropy = prediction(len(scene), 2)
    out = write_labelled(tmp_path / "tile_pred.laz", scene, labels, probs.max(1), entropy, probs, write_class="classification")
    header, points, source = raw_header(out), laszip_points(out), laspy.read(str(src))
    assert header["version"] == (1, 4) and header["software"].startswith("pointseg ") and header["wkt"] == WKT
    names = [e[0] for e in header["extra"]]
    assert names == ["height_above_ground", "tile_id", "pred_class", "original_class", "confidence", "entropy"] + [
        probability_field(c) for c in range(15)]
    described = {name: text for name, _, text in header["extra"]}
    assert described["pred_class"] == "pointseg predicted class 0..14" and described["original_class"] == "classification of the input"
    assert described["prob_low_vegetation"] == "probability of low vegetation"
    extra = np.frombuffer(points["extra"], np.dtype([(name, kind) for name, kind, _ in header["extra"]]))
    np.testing.assert_array_equal(np.c_[points["X"], points["Y"], points["Z"]], np.c_[source.X, source.Y, source.Z])
    np.testing.assert_array_equal(extra["pred_class"], labels)
    np.testing.assert_array_equal(extra["original_class"], source.classification)  # kept beside the written codes
    np.testing.assert_array_equal(points["classification"], np.array([2, 6, 3, 4, 5] + [1] * 10)[labels])
    np.testing.assert_array_equal(extra["confidence"], probs.max(1))
    np.testing.assert_array_equal(extra["prob_fence"], probs[:, 14])
    np.testing.assert_array_equal(extra["height_above_ground"], source.height_above_ground)  # the input's own extra bytes


def test_laszip_reference_decoder_reads_a_text_scene_written_as_laz_with_its_crs(tmp_path):
    pytest.importorskip("laszip")
    pytest.importorskip("pyproj")
    from pointseg.io.crs import parse_crs

    rng = np.random.default_rng(3)
    xyz = np.round(rng.uniform(0, 300, (150, 3)) + ORIGIN, 6)
    probs, labels, entropy = prediction(150, 3)
    out = write_labelled(tmp_path / "5_pred.laz", Scene(tmp_path / "5.txt", xyz, None), labels, probs.max(1), entropy,
                         crs=parse_crs("EPSG:32631"))
    header, points = raw_header(out), laszip_points(out)
    assert header["software"].startswith("pointseg ") and "UTM zone 31N" in header["wkt"]
    np.testing.assert_array_equal(points["return_number"], 1)
    np.testing.assert_array_equal(points["number_of_returns"], 1)
    extra = np.frombuffer(points["extra"], np.dtype([(name, kind) for name, kind, _ in header["extra"]]))
    np.testing.assert_array_equal(extra["pred_class"], labels)
    b = laspy.read(str(out))
    np.testing.assert_allclose(np.c_[points["X"], points["Y"], points["Z"]] * b.header.scales + b.header.offsets, xyz, atol=1e-6, rtol=0)
