"""Coordinate units: a LAS/LAZ file in feet is processed in metres and gets the labels of the same file in metres."""

import laspy
import numpy as np
import pytest
import torch
from pyproj import CRS

from pointseg.errors import PointCloudError
from pointseg.io import read_scene
from pointseg.io.units import US_SURVEY_FOOT, crs_units, wkt_linear_units

ORIGIN = np.array([500000.0, 4000000.0, 300.0])


def write_las(path, xyz, rgb, crs, scale):
    header = laspy.LasHeader(version="1.4", point_format=7)
    header.offsets, header.scales = np.floor(xyz.min(axis=0)), np.full(3, scale)
    if crs is not None:
        header.add_crs(CRS.from_user_input(crs))
    las = laspy.LasData(header)
    las.x, las.y, las.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    las.red, las.green, las.blue = (rgb[:, i].astype(np.uint16) * 257 for i in range(3))
    las.classification = np.full(len(xyz), 2, np.uint8)
    las.write(str(path))
    return path


def test_units_of_crss_in_metres_feet_and_degrees():
    assert crs_units(CRS.from_epsg(32631)) == (1.0, None)
    assert crs_units(CRS.from_epsg(6880)) == (US_SURVEY_FOOT, None)  # NAD83(2011) / Nebraska (ftUS)
    assert crs_units(CRS.from_user_input("EPSG:6880+6360")) == (US_SURVEY_FOOT, US_SURVEY_FOOT)  # + NAVD88 height (ftUS)
    assert crs_units(CRS.from_user_input("EPSG:2154+5720")) == (1.0, 1.0)
    assert crs_units(CRS.from_epsg(4326)) == (None, None)  # degrees: not linear
    assert wkt_linear_units('PROJCS["x",GEOGCS["g",UNIT["degree",0.0174532925199433]],UNIT["US survey foot",0.3048006096012192]]') == (
        0.3048006096012192, "US survey foot")


def test_a_tile_in_feet_gets_the_labels_of_the_same_tile_in_metres(tmp_path, tiny_cfg):
    from pointseg.config import apply_overrides
    from pointseg.models.checkpoint import save_checkpoint
    from pointseg.models.random_weights import random_context_model
    from pointseg.predict.label import label_scenes
    from pointseg.synthetic.city import make_scene

    s = make_scene(4, 70.0, 4.0, (0.0, 0.0, 0.0))
    # every point well inside its 0.5 m voxel: the feet file's sub-millimetre rounding then moves no point to another voxel
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, s.xyz.shape)
    s.xyz = ORIGIN + np.floor(s.xyz / 0.5) * 0.5 + 0.25 + jitter
    (tmp_path / "m").mkdir()
    (tmp_path / "ft").mkdir()
    metres = write_las(tmp_path / "m" / "tile.las", s.xyz, s.rgb, "EPSG:32615", 0.001)
    xyz_m = read_scene(metres).xyz
    feet = write_las(tmp_path / "ft" / "tile.las", xyz_m / US_SURVEY_FOOT, s.rgb, "EPSG:6880", 0.0001)  # heights in feet too
    read = read_scene(feet)
    assert (read.units.horizontal, read.units.vertical) == (US_SURVEY_FOOT, US_SURVEY_FOOT) and "Nebraska (ftUS)" in read.units.source
    np.testing.assert_allclose(read.local_xyz(), read_scene(metres).local_xyz(), atol=2e-4)  # the same metres to a fraction of a mm

    cfg = apply_overrides(tiny_cfg, ["data.voxel_size=0.5"])
    save_checkpoint(tmp_path / "model.pt", {"model": random_context_model(cfg).state_dict()}, cfg)
    labels = {}
    for name, path in (("m", metres), ("ft", feet)):
        label_scenes(tmp_path / "model.pt", path, tmp_path / f"out_{name}", torch.device("cpu"), progress=False)
        labels[name] = np.asarray(laspy.read(str(tmp_path / f"out_{name}" / "tile_pred.las"))["pred_class"])
    assert len(np.unique(labels["m"])) >= 3  # the random model's labels vary, so equality means something
    assert (labels["m"] == labels["ft"]).mean() >= 0.999
    out = laspy.read(str(tmp_path / "out_ft" / "tile_pred.las"))
    np.testing.assert_array_equal(out.X, laspy.read(str(feet)).X)  # coordinates written exactly as read: in feet


def test_units_setting_for_files_without_a_crs_and_contradictions(tmp_path):
    rng = np.random.default_rng(0)
    xyz = rng.uniform(0, 100, (500, 3)) + ORIGIN
    rgb = rng.integers(0, 256, (500, 3)).astype(np.uint8)
    bare = write_las(tmp_path / "bare.las", xyz, rgb, None, 0.001)
    assert read_scene(bare).units.metric
    assert read_scene(bare, units="ftUS").units.horizontal == US_SURVEY_FOOT
    in_metres = write_las(tmp_path / "utm.las", xyz, rgb, "EPSG:32631", 0.001)
    with pytest.raises(PointCloudError, match=r"utm.las: the units setting says ft, but the file's CRS is in metres"):
        read_scene(in_metres, units="ft")
    geographic = write_las(tmp_path / "lonlat.las", np.c_[rng.uniform(2, 3, 500), rng.uniform(43, 44, 500), rng.uniform(0, 50, 500)],
                           rgb, "EPSG:4326", 1e-7)
    with pytest.raises(PointCloudError, match=r"lonlat.las: coordinates in degrees .*reproject"):
        read_scene(geographic)
