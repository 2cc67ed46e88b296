"""The synthetic airborne LiDAR scans (pointseg.synthetic.lidar, las_scene, make_synthetic --sensor lidar)."""

import hashlib

import laspy
import numpy as np
import pytest

from pointseg.errors import OutputExistsError
from pointseg.io import load_class_map, read_scene
from pointseg.synthetic.geometry import scene_geometry
from pointseg.synthetic.las_scene import US_SURVEY_FOOT, lidar_path, write_lidar_las, write_lidar_scenes
from pointseg.synthetic.lidar import Flight, make_lidar_scene, simulate_scan

# A low flight over a 120 m scene: swaths of 109 m, strips 76 m apart, so the scene holds a whole 33 m overlap
# and ground seen by one strip only.
LOW = Flight(altitude=150.0, overlap=0.3)


@pytest.fixture(scope="module")
def low_scan():
    geo = scene_geometry(5, 120.0)
    return geo, simulate_scan(geo, 5, LOW)


def per_pulse(scan):
    """The real returns (not noise) sorted by pulse and return number: (pulse, return number, number of returns, label, xyz)."""
    real = scan.pulse >= 0
    order = np.lexsort((scan.return_number[real], scan.pulse[real]))
    pick = np.flatnonzero(real)[order]
    return scan.pulse[pick], scan.return_number[pick].astype(int), scan.number_of_returns[pick].astype(int), scan.labels[pick], scan.xyz[pick]


def test_photogrammetry_scenes_are_byte_identical_to_before_the_lidar_mode(tmp_path):
    """Hashes taken from the code before the LiDAR mode (commit 491587a)."""
    from pointseg.synthetic.files import write_synthetic_scenes

    paths = write_synthetic_scenes(tmp_path, [1, 2], size=50.0, density=9.0, seed=3)
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    assert digests == ["e8235c660b0480add379c21d82542dc272f2b8cedbf9225ae4c2632143439c35",
                       "969cf18d1cb7908a51321c153f673fd2c58031c4c5ff336147aa280537d21255"]


def test_lidar_scene_is_the_city_of_the_photogrammetry_scene_with_the_same_seed():
    from pointseg.synthetic.city import make_scene

    photo, geo = make_scene(6, 60.0), scene_geometry(6, 60.0)
    b = geo.buildings
    on = photo.labels == 1
    k = photo.instance[on] - 1  # buildings are the first objects
    u, v = b.local(photo.xyz[on, :2], k)
    assert np.mean((np.abs(u) <= b.length[k] / 2 + 0.6) & (np.abs(v) <= b.width[k] / 2 + 0.6)) > 0.99
    trees = [p for p in geo.primitives if p.shape == "crown" and p.cls == 4][0]
    assert len(trees.object) == len(np.unique(photo.instance[photo.labels == 4]))


def test_scan_is_seeded_and_deterministic():
    a, b = make_lidar_scene(7, 30.0), make_lidar_scene(7, 30.0)
    for field in ("xyz", "labels", "intensity", "return_number", "gps_time", "strip"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(make_lidar_scene(8, 30.0).xyz[:100], a.xyz[:100])


def test_ground_is_seen_under_tree_crowns(low_scan):
    """Unlike photogrammetry, pulses pass between the leaves: most places under a crown get ground returns,
    and many pulses that first meet a crown end on the ground."""
    geo, s = low_scan
    pulse, number, n_ret, label, _ = per_pulse(s)
    first_label = dict(zip(pulse[number == 1], label[number == 1]))
    last = number == n_ret
    ends = np.array([first_label.get(p, -1) for p in pulse[last]])
    through_crowns = ends == 4
    assert through_crowns.sum() > 1000
    assert np.mean(label[last][through_crowns] == 0) > 0.3  # measured 0.45
    canopy = geo.plan.canopy
    under = canopy.at(s.xyz[:, :2]) > -np.inf
    cells = lambda m: set(zip(*canopy.cells(s.xyz[m, :2])))  # noqa: E731
    assert len(cells(under & (s.labels == 0))) > 0.5 * len(cells(under))  # measured 0.7 of the 0.5 m cells


def test_multiple_returns_are_numbered_consistently_and_come_mostly_from_vegetation(low_scan):
    _, s = low_scan
    pulse, number, n_ret, label, xyz = per_pulse(s)
    assert n_ret.max() <= LOW.max_returns and number.min() == 1
    assert (number <= n_ret).all()
    whole = np.bincount(pulse)[pulse] == n_ret  # the scene's edge cuts a few pulses, as a tile's does
    assert whole.mean() > 0.99
    pulse, number, n_ret, label, xyz = pulse[whole], number[whole], n_ret[whole], label[whole], xyz[whole]
    starts = np.r_[True, pulse[1:] != pulse[:-1]]
    assert (number[starts] == 1).all()
    same = ~starts
    assert (number[same] == number[np.flatnonzero(same) - 1] + 1).all()  # 1, 2, ..., n
    assert (n_ret[same] == n_ret[np.flatnonzero(same) - 1]).all()
    # along a downward ray, a later return lies lower, at least min_separation (1.5 m) further, minus the slant
    assert (xyz[same, 2] - xyz[np.flatnonzero(same) - 1, 2] < -1.0).all()
    multi = np.unique(pulse[n_ret > 1])
    with_veg = np.unique(pulse[(n_ret > 1) & np.isin(label, [2, 3, 4])])
    assert len(multi) > 1000 and len(with_veg) > 0.8 * len(multi)  # measured 0.99
    roof_first = np.unique(pulse[(number == 1) & (label == 1)])
    assert np.isin(roof_first, multi).mean() < 0.05  # roofs stop pulses


def test_density_on_open_ground_is_the_setting_and_higher_in_strip_overlaps(low_scan):
    _, s = low_scan
    cell = np.floor(s.xyz[:, :2] / 5.0).astype(int)
    cid = cell[:, 0] * 100 + cell[:, 1]
    n = 100 * 100
    bare = np.bincount(cid, (s.labels == 0) & (s.number_of_returns == 1), minlength=n)
    open_ground = bare >= 0.95 * np.bincount(cid, minlength=n)  # cells of bare ground (first returns = pulses)
    interior = np.zeros(n, bool)
    interior[cid[((cell > 0) & (cell < 23)).all(axis=1)]] = True
    strips = sum(np.bincount(cid[s.strip == k], minlength=n) > 0 for k in np.unique(s.strip))
    firsts = np.bincount(cid[s.return_number == 1], minlength=n) / 25.0
    one = open_ground & interior & (strips == 1)
    two = open_ground & interior & (strips == 2)
    assert one.sum() > 20 and two.sum() > 20
    assert 0.75 * LOW.density < firsts[one].mean() < 1.25 * LOW.density  # measured 10.5
    assert firsts[two].mean() > 1.4 * firsts[one].mean()  # measured 17.0 (cells on an overlap's edge hold less)


def test_walls_get_far_fewer_points_per_square_metre_than_roofs(low_scan):
    geo, s = low_scan
    b = geo.buildings
    on = s.labels == 1
    k = s.instance[on] - 1  # building instances are numbered first, from 1
    eaves = b.base[k] + b.height[k]
    wall, roof = s.xyz[on, 2] < eaves - 0.5, s.xyz[on, 2] > eaves - 0.2
    wall_area = sum(sum(np.hypot(*np.diff(np.r_[r, r[:1]], axis=0).T).sum() for r in b.rings(i)) * b.height[i] for i in range(len(b.xy)))
    roof_area = (b.length * b.width - np.where(b.shape == 1, (b.length / 2 - b.cut[:, 0]) * (b.width / 2 - b.cut[:, 1]), 0)
                 - np.where(b.shape == 2, 4 * b.hole[:, 0] * b.hole[:, 1], 0)).sum()
    assert wall.sum() > 0
    assert wall.sum() / wall_area < 0.2 * roof.sum() / roof_area  # measured 0.2 vs 12.8 per m^2


def test_grass_returns_are_brighter_than_asphalt(low_scan):
    geo, s = low_scan
    material = geo.ground_materials(s.xyz[:, :2])
    single = (s.labels == 0) & (s.number_of_returns == 1)
    grass, asphalt = s.intensity[single & (material == "grass")], s.intensity[single & (material == "asphalt")]
    assert len(grass) > 1000 and len(asphalt) > 1000
    assert grass.mean() > 2 * asphalt.mean()  # near-infrared: measured 19100 vs 3900
    assert s.intensity[s.labels == 4].mean() < grass.mean()  # partial returns from leaves are weaker


def test_noise_points_are_coded_low_and_high_and_ignored(low_scan):
    geo, s = low_scan
    ground = geo.terrain(s.xyz[:, 0], s.xyz[:, 1])
    low, high = s.codes == 7, s.codes == 18
    assert low.any() and high.any()
    assert (s.xyz[low, 2] < ground[low]).all() and (s.xyz[high, 2] > ground[high] + 15).all()
    assert (s.labels[low | high] == -100).all() and (s.labels[~(low | high)] >= 0).all()


def test_las_file_reads_back_with_its_crs_fields_and_class_map(tmp_path):
    scan = make_lidar_scene(3, 50.0, colour="ortho")
    path = tmp_path / "3_lidar.laz"
    write_lidar_las(path, scan)
    las = laspy.read(str(path))
    assert str(las.header.version) == "1.4" and las.header.point_format.id == 7  # 6 without colour
    assert las.header.global_encoding.wkt
    wkt = [v for v in las.header.vlrs if v.record_id == 2112][0].string
    assert "UTM zone 31N" in wkt and 'AUTHORITY["EPSG","32631"]' in wkt
    np.testing.assert_allclose(las.x - 500000.0, scan.xyz[:, 0], atol=0.006)
    np.testing.assert_array_equal(np.asarray(las.return_number), scan.return_number)
    np.testing.assert_array_equal(np.asarray(las.point_source_id), scan.strip)
    assert np.abs(np.asarray(las.scan_angle) * 0.006).max() <= 21.0
    assert (np.diff(np.asarray(las.gps_time)[np.asarray(las.point_source_id) == scan.strip[0]]) >= 0).all()
    class_map = load_class_map("synthetic_lidar")
    codes = np.unique(np.asarray(las.classification))
    assert class_map.listed[codes].all()
    read = read_scene(path, class_map=class_map)
    np.testing.assert_array_equal(read.labels, scan.labels)
    assert read.rgb is not None and read.intensity is not None


def test_ortho_colour_is_the_top_surface_so_the_ground_under_a_crown_takes_its_colour():
    geo = scene_geometry(4, 60.0)
    s = simulate_scan(geo, 4, Flight(), colour="ortho")
    i, j = geo.plan.canopy.cells(s.xyz[:, :2])
    cell = i * 10000 + j
    rgb = s.rgb.astype(float)

    def mean_colour(mask):
        ids, inverse = np.unique(cell[mask], return_inverse=True)
        sums = np.stack([np.bincount(inverse, rgb[mask, c]) for c in range(3)], axis=1)
        return ids, sums / np.bincount(inverse)[:, None]

    crown_ids, crown_rgb = mean_colour(s.labels == 4)
    ground_ids, ground_rgb = mean_colour(s.labels == 0)
    both, a, b = np.intersect1d(crown_ids, ground_ids, return_indices=True)
    assert len(both) > 200  # 0.5 m cells where the laser saw both a crown and the ground beneath it
    same = np.abs(crown_rgb[a] - ground_rgb[b]).mean(axis=1)
    assert np.median(same) < 12  # the ground takes the crown's colour (noise 6 per channel)
    from pointseg.synthetic.layout import MATERIALS

    road = (s.labels == 0) & ~np.isin(cell, crown_ids) & (geo.ground_materials(s.xyz[:, :2]) == "asphalt")
    assert road.sum() > 1000  # elsewhere the ground has its own colour: asphalt grey on the open road
    assert np.median(np.abs(rgb[road] - MATERIALS["asphalt"][0]).mean(axis=1)) < 15


def test_feet_files_hold_the_same_scene_in_us_survey_feet(tmp_path):
    scan = make_lidar_scene(3, 40.0)
    write_lidar_las(tmp_path / "m.las", scan)
    write_lidar_las(tmp_path / "ft.las", scan, units="ftUS")
    m, ft = laspy.read(str(tmp_path / "m.las")), laspy.read(str(tmp_path / "ft.las"))
    wkt = [v for v in ft.header.vlrs if v.record_id == 2112][0].string
    assert "US survey foot" in wkt and "NAVD88 height (ftUS)" in wkt
    np.testing.assert_allclose((ft.z - ft.z.min()) * US_SURVEY_FOOT, m.z - m.z.min(), atol=0.01)
    np.testing.assert_allclose((ft.x - ft.x.min()) * US_SURVEY_FOOT, m.x - m.x.min(), atol=0.01)


def test_crs_texts_are_the_epsg_definitions():
    pyproj = pytest.importorskip("pyproj")
    from pointseg.synthetic.las_scene import WKT_NY_EAST_FTUS_NAVD88_FTUS, WKT_UTM31N

    assert pyproj.CRS.from_wkt(WKT_UTM31N).equals(pyproj.CRS.from_epsg(32631))
    feet = pyproj.CRS.from_wkt(WKT_NY_EAST_FTUS_NAVD88_FTUS)
    assert feet.equals(pyproj.CRS.from_epsg(8764)) and {a.unit_name for a in feet.axis_info} == {"US survey foot"}


def test_lidar_scenes_never_replace_a_file(tmp_path):
    theirs = lidar_path(tmp_path, 2)
    theirs.write_bytes(b"a user's own tile")
    with pytest.raises(OutputExistsError, match="2_lidar.laz: exist"):
        write_lidar_scenes(tmp_path, [1, 2], size=30.0)
    assert theirs.read_bytes() == b"a user's own tile" and not lidar_path(tmp_path, 1).exists()
    with pytest.raises(OutputExistsError):
        write_lidar_las(theirs, make_lidar_scene(1, 30.0))
    assert theirs.read_bytes() == b"a user's own tile"


def test_make_synthetic_cli_writes_lidar_and_refuses_photogrammetry_colours(tmp_path, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    tools = Path(__file__).resolve().parents[1] / "tools"
    monkeypatch.syspath_prepend(str(tools))

    def run(*argv):
        monkeypatch.setattr(sys, "argv", ["make_synthetic.py", "--out", str(tmp_path), "--scenes", "1", "--size", "30", *argv])
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(tools / "make_synthetic.py"), run_name="__main__")
        return done.value.code, capsys.readouterr().err

    assert run("--sensor", "lidar", "--density", "4")[0] == 0
    assert laspy.read(str(tmp_path / "1_lidar.laz")).header.point_count > 30 * 30 * 3
    code, err = run("--sensor", "lidar", "--colour", "class")
    assert code == 2 and "--colour class: not for --sensor lidar" in err
    assert run("--sensor", "lidar", "--density", "2")[0] == 0  # its own scan: replaced
    (tmp_path / "1_lidar.laz").write_bytes(b"the user's tile now")
    code, err = run("--sensor", "lidar")
    assert code == 2 and "1_lidar.laz: exist" in err and (tmp_path / "1_lidar.laz").read_bytes() == b"the user's tile now"
