import json

import numpy as np
import pytest
from plyfile import PlyData

from pointseg.predict.evaluate import evaluate_predictions
from pointseg.predict.label import label_scenes
from pointseg.train.loop import train
from pointseg.io import read_stpls3d_txt
import torch


def test_synthetic_scenes_prepare_train_infer_export(prepared, tiny_cfg, demo_scenes, tmp_path, o3d):
    train(tiny_cfg, prepared, tmp_path / "work", device="cpu", progress=False)
    out = tmp_path / "pred"
    assert (tmp_path / "work" / "training_curves.png").is_file()  # written at the end of train()
    summary = label_scenes(tmp_path / "work" / "last.pt", demo_scenes / "5_points_GTv3.txt", out, torch.device("cpu"), progress=False, pictures=True)
    assert summary["scenes"] == 1
    ply_path = out / "5_points_GTv3_pred.ply"
    assert summary["outputs"] == [ply_path] and summary["report"] == out / "report.html"  # what infer's last lines name
    assert summary["metrics"] == [out / "metrics.json", out / "metrics.csv"]
    scene = read_stpls3d_txt(demo_scenes / "5_points_GTv3.txt")
    ply = PlyData.read(str(ply_path))
    v = ply["vertex"].data
    assert ply.elements[0].count == len(scene) and not ply.text and ply.byte_order == "<"
    assert v["x"].dtype == np.float64 and v["scalar_class"].dtype == np.uint8 and v["scalar_confidence"].dtype == np.float32
    np.testing.assert_allclose(np.c_[v["x"], v["y"], v["z"]], scene.xyz, atol=1e-9, rtol=0)
    assert v["scalar_class"].max() <= 14 and ((v["scalar_confidence"] > 0) & (v["scalar_confidence"] <= 1 + 1e-6)).all()
    assert "class 0 ground" in ply.comments and "class 14 fence" in ply.comments
    if o3d is not None:  # always present under tools/test.sh (POINTSEG_REQUIRE_OPEN3D=1)
        cloud = o3d.io.read_point_cloud(str(ply_path))
        assert len(cloud.points) == len(scene)
        np.testing.assert_allclose(np.asarray(cloud.points), scene.xyz, atol=1e-9, rtol=0)

    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"5_points_GTv3", "all"} and 0 <= metrics["all"]["oa"] <= 1
    csv = (out / "metrics.csv").read_text().splitlines()
    assert csv[0].startswith("scene,points_in_file,points_scored,oa_pct,miou_pct,iou_pct_ground")
    row = dict(zip(csv[0].split(","), csv[-1].split(",")))  # the pooled row, in percent; metrics.json in fractions
    assert row["scene"] == "all" and float(row["oa_pct"]) == pytest.approx(100 * metrics["all"]["oa"], abs=1e-4)
    assert int(row["points_in_file"]) == len(scene) == metrics["all"]["points_in_file"]
    assert int(row["points_scored"]) == metrics["all"]["points_scored"] == (scene.labels >= 0).sum()
    report = (out / "report.html").read_text()  # --pictures: maps, plots and the report beside the metrics
    assert "5_points_GTv3" in report and "last.pt" in report and f"{100 * metrics['all']['miou']:.1f}" in report
    assert {"confusion_all.png", "confusion_5_points_GTv3.png", "iou_all.png", "training_curves.png"} <= {p.name for p in out.iterdir()}
    assert (out / "pictures" / "5_points_GTv3_errors.png").is_file()
    again = evaluate_predictions(out, demo_scenes)
    assert json.loads((out / "metrics.json").read_text())["all"]["oa"] == metrics["all"]["oa"]
    assert "mIoU" in again


def test_evaluate_refuses_predictions_with_invalid_classes(demo_scenes, tmp_path):
    import pytest
    from pointseg.io import PointCloudError, write_ply

    scene = read_stpls3d_txt(demo_scenes / "5_points_GTv3.txt")
    labels = scene.labels.clip(0, 14).astype(np.int16)
    labels[3] = 20
    write_ply(tmp_path / "5_points_GTv3_pred.ply", scene.xyz, scene.rgb, {"class": labels})
    with pytest.raises(PointCloudError, match="5_points_GTv3_pred.ply: 1 points with a predicted class outside 0..14"):
        evaluate_predictions(tmp_path, demo_scenes)
