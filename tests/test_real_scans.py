"""Scoring against real scans (pointseg.predict.real_scans) on a scan made here: noise points are left out of what every
method sees and of the scores, and a model's scores are the IoU of its labelled file against the scan's classes."""

import json

import laspy
import numpy as np
import pytest
import torch

from pointseg.data.real_scans import RealScan
from pointseg.models.shipped import shipped_checkpoint
from pointseg.predict.real_scans import evaluate_scans
from pointseg.synthetic.las_scene import write_lidar_scenes
from pointseg.synthetic.lidar import Flight

NOISE = 7  # ASPRS low noise


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture(scope="module")
def noisy_scan(tmp_path_factory):
    """A synthetic 60 m scan (seed 11) with 40 more low-noise points 80 m under it (as IGN's artefacts are), and the
    points' noise mask."""
    root = tmp_path_factory.mktemp("real")
    path = write_lidar_scenes(root / "src", [1], 60.0, Flight(density=8.0), seed=11)[0]
    las = laspy.read(str(path))
    rng = np.random.default_rng(0)
    extra = laspy.ScaleAwarePointRecord.zeros(40, header=las.header)
    extra.x = rng.uniform(las.header.mins[0], las.header.maxs[0], 40)
    extra.y = rng.uniform(las.header.mins[1], las.header.maxs[1], 40)
    extra.z = np.full(40, las.header.mins[2] - 80.0)
    extra.classification = np.full(40, NOISE)
    extra.return_number = extra.number_of_returns = np.ones(40, np.uint8)
    extra.intensity = np.full(40, 300, np.uint16)
    out = laspy.LasData(las.header, las.points)
    out.points = laspy.ScaleAwarePointRecord(np.concatenate([las.points.array, extra.array]), las.points.point_format, las.header.scales,
                                             las.header.offsets)
    noisy = root / "noisy.laz"
    out.write(str(noisy))
    codes = np.asarray(laspy.read(str(noisy)).classification)
    return noisy, np.isin(codes, (7, 18))


def test_every_method_is_scored_on_the_scan_without_its_noise(noisy_scan, tmp_path):
    path, noise = noisy_scan
    scan = RealScan(name=path.name, manager="-", package="-", version="-", archive="-", archive_sha256="-", member="-", sha256="-",
                    description="made here")
    result = evaluate_scans([(scan, path)], {"lidar": shipped_checkpoint("lidar")}, tmp_path / "out", torch.device("cpu"))[0]
    assert noise.sum() >= 40 and result.points == len(noise) and result.scored == int((~noise).sum())

    source = laspy.read(str(path))
    copy = laspy.read(str(tmp_path / "out" / "inputs" / path.name))  # what the model was given: the scan without its noise
    np.testing.assert_array_equal(copy.xyz, source.xyz[~noise])
    pred = laspy.read(str(tmp_path / "out" / "lidar" / f"{path.stem}_pred.laz"))
    truth = np.asarray(source.classification)[~noise]
    labels = np.asarray(pred.pred_class)
    ground = iou(truth == 2, labels == 0)
    vegetation = iou(np.isin(truth, (3, 4, 5)), np.isin(labels, (2, 3, 4)))
    assert result.scores["lidar"]["ground"] == pytest.approx(ground) and result.scores["lidar"]["vegetation"] == pytest.approx(vegetation)
    # with the 80 m deep noise left out, both find the ground of a scan they never saw
    assert ground >= 0.85 and result.scores["SMRF + height rule"]["ground"] >= 0.85
    saved = json.loads((tmp_path / "out" / "results.json").read_text())[0]
    assert saved["scored"] == result.scored and saved["scores"]["lidar"]["ground"] == pytest.approx(ground)
    assert "| lidar |" in (tmp_path / "out" / "table.md").read_text()
