import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pointseg.config import VizConfig
from pointseg.constants import CLASS_PALETTE
from pointseg.io import write_ply, write_stpls3d_txt
from pointseg.viz.cloud import LabelledCloud
from pointseg.viz.colours import BACKGROUND, CORRECT, UNLABELLED, WRONG, available
from pointseg.viz.files import png_size
from pointseg.viz.pictures import scene_pictures
from pointseg.viz.frame import TOP_DOWN
from pointseg.viz.topdown import EMPTY, View, fill_holes, project, rasterize

ROOT = Path(__file__).resolve().parents[1]
EXACT = VizConfig(resolution=1.0, min_pixels=0, fill=0, oblique="none")  # one map pixel per metre, no enlargement


def read_png(path) -> np.ndarray:
    import matplotlib.image

    return (matplotlib.image.imread(path)[:, :, :3] * 255).round().astype(np.uint8)


def grid_cloud(n_x: int, n_y: int, pred, truth=None, confidence=None) -> LabelledCloud:
    """One point at the centre of each 1 m cell (i + 0.5, j + 0.5), georeferenced; point k = i * n_y + j."""
    i, j = np.meshgrid(np.arange(n_x), np.arange(n_y), indexing="ij")
    xyz = np.c_[i.ravel() + 0.5, j.ravel() + 0.5, np.zeros(i.size)] + [600000.0, 4000000.0, 50.0]
    return LabelledCloud(Path("grid_pred.ply"), "grid", xyz, np.zeros((len(xyz), 3), np.uint8), pred, truth, confidence)


T, L = TOP_DOWN.top, TOP_DOWN.left  # the map's top-left pixel in a top-down picture (below its title, right of the northings)


def pixel_of(i: int, j: int, n_y: int) -> tuple[int, int]:
    """Image (row, col) of grid cell (i, j): x to the right, north (larger y) up."""
    return T + n_y - 1 - j, L + i


def test_top_down_map_shows_the_highest_point_in_its_class_colour_at_known_pixels(tmp_path):
    # a 4 m x 3 m scene: corners (0.5, 0.5) ground and (3.5, 2.5) building; at (2.5, 1.5) a vehicle 5 m above
    # a ground point (the vehicle must win); cell (0.5, 2.5) has no point (background)
    xyz = np.array([[0.5, 0.5, 0.0], [3.5, 2.5, 0.0], [2.5, 1.5, 5.0], [2.5, 1.5, 0.2], [1.5, 0.5, 0.0]]) + [500000.0, 4e6, 100.0]
    pred = np.array([0, 1, 5, 0, 14])
    cloud = LabelledCloud(Path("s_pred.ply"), "s", xyz, np.zeros((5, 3), np.uint8), pred)
    image = read_png(scene_pictures(cloud, tmp_path, EXACT, ["pred"])["pred"])
    expected = {(2, 0): CLASS_PALETTE[0], (0, 3): CLASS_PALETTE[1], (1, 2): CLASS_PALETTE[5], (2, 1): CLASS_PALETTE[14], (0, 0): BACKGROUND}
    for (r, c), colour in expected.items():
        np.testing.assert_array_equal(image[T + r, L + c], colour, err_msg=f"pixel {(r, c)}")
    assert image.shape[0] >= T + 3 and image.shape[1] > L + 4  # the framed map, then the legend panel on its right
    frame = np.r_[image[T - 1, L - 1 : L + 5], image[T + 3, L - 1 : L + 5], image[T : T + 3, L - 1], image[T : T + 3, L + 4]]
    np.testing.assert_array_equal(frame, np.tile([34, 34, 34], (len(frame), 1)))  # a 1-pixel frame just outside the map

    # enlarged x3 for a small scene: map pixel (r, c) becomes the 3 x 3 block from (3r, 3c)
    image = read_png(scene_pictures(cloud, tmp_path, VizConfig(resolution=1.0, min_pixels=12, fill=0, oblique="none"), ["pred"])["pred"])
    np.testing.assert_array_equal(image[T + 3 : T + 6, L + 6 : L + 9].reshape(-1, 3), np.tile(CLASS_PALETTE[5], (9, 1)))
    np.testing.assert_array_equal(image[T : T + 3, L : L + 3].reshape(-1, 3), np.tile(BACKGROUND, (9, 1)))


@pytest.mark.parametrize("errors", ["red", "truth"])
def test_error_map_marks_exactly_the_wrong_points(tmp_path, errors):
    n_x, n_y = 12, 9
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 15, n_x * n_y)
    pred = truth.copy()
    wrong = rng.random(len(pred)) < 0.3
    pred[wrong] = (truth[wrong] + rng.integers(1, 15, wrong.sum())) % 15
    truth[rng.random(len(truth)) < 0.1] = -100  # ignored: neither right nor wrong
    cloud = grid_cloud(n_x, n_y, pred, truth)
    image = read_png(scene_pictures(cloud, tmp_path, VizConfig(resolution=1.0, min_pixels=0, fill=0, errors=errors, oblique="none"), ["errors"])["errors"])
    for k in range(len(pred)):  # a loop over 108 hand-made points, each checked against its own expectation
        r, c = pixel_of(k // n_y, k % n_y, n_y)
        if truth[k] == -100:
            expected = UNLABELLED
        elif pred[k] == truth[k]:
            expected = CORRECT
        else:
            expected = WRONG if errors == "red" else CLASS_PALETTE[truth[k]]
        np.testing.assert_array_equal(image[r, c], expected, err_msg=f"point {k}")
    map_pixels = image[T : T + n_y, L : L + n_x].reshape(-1, 3)
    is_correct = (map_pixels == CORRECT).all(axis=1)
    assert is_correct.sum() == ((pred == truth) & (truth >= 0)).sum()


def test_fill_takes_the_highest_neighbour_and_leaves_occupied_pixels():
    depth = np.array([1.0, 3.0, 2.0])
    index = np.array([[0, EMPTY, 1], [EMPTY, EMPTY, EMPTY], [EMPTY, EMPTY, 2]])
    filled = fill_holes(index, depth)
    np.testing.assert_array_equal(filled, [[0, 1, 1], [0, 1, 1], [EMPTY, 2, 2]])  # (1, 0) sees only point 0


def test_side_view_keeps_the_point_nearest_the_viewer():
    # looking from the south, level: u = x, v = z, the smaller y is nearer
    xyz = np.array([[0.5, 9.0, 0.5], [0.5, 2.0, 0.5], [1.5, 5.0, 1.5]])
    u, v, depth = project(xyz, View("south", azimuth=-90.0, elevation=0.0))
    np.testing.assert_allclose(u, [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(v, [0, 0, 1], atol=1e-12)
    raster = rasterize(u, v, depth, 1.0, 100, fill=0)
    np.testing.assert_array_equal(raster.index, [[EMPTY, 2], [1, EMPTY]])


def test_big_scenes_get_coarser_pixels_within_the_cap():
    rng = np.random.default_rng(0)
    u, v = rng.uniform(0, 5000, 20000), rng.uniform(0, 1200, 20000)
    raster = rasterize(u, v, np.zeros(20000), 0.25, 1000, fill=0)
    assert max(raster.shape) == 1000 and raster.resolution == pytest.approx(5.0, rel=1e-3)


def test_confusion_matrix_and_training_curve_pngs_have_their_sizes(tmp_path):
    from pointseg.viz.files import save_figure
    from pointseg.viz.plots import CONFUSION_SIZE, CURVES_SIZE, DPI, IOU_SIZE, confusion_figure, iou_figure, read_metrics_log, write_training_curves

    conf = np.zeros((15, 15), np.int64)
    conf[0, 0], conf[0, 1], conf[1, 1], conf[5, 0] = 900, 100, 50, 7
    path = save_figure(tmp_path / "confusion.png", confusion_figure(conf, "hand-made"))
    assert png_size(path) == (CONFUSION_SIZE[0] * DPI, CONFUSION_SIZE[1] * DPI)
    assert read_png(path).shape == (CONFUSION_SIZE[1] * DPI, CONFUSION_SIZE[0] * DPI, 3)  # decodes: a valid PNG
    iou = np.full(15, np.nan)
    iou[:3] = [0.5, 0.9, 0.0]
    assert png_size(save_figure(tmp_path / "iou.png", iou_figure(iou, "hand-made"))) == (IOU_SIZE[0] * DPI, IOU_SIZE[1] * DPI)

    records = [{"epoch": 1, "step": 5, "loss": 2.0, "lr": 1e-3, "voxels_per_s": 5e4, "loss_wdice": 0.9, "loss_wce": 2.2, "val_oa": 0.3, "val_miou": 0.1},
               {"epoch": 2, "step": 10, "loss": 1.5, "lr": 1e-3, "voxels_per_s": 6e4, "loss_wdice": 0.8, "loss_wce": 1.4},
               {"epoch": 2, "step": 10, "loss": 1.4, "lr": 1e-3, "voxels_per_s": 6e4, "loss_wdice": 0.8, "loss_wce": 1.2},  # resumed
               {"epoch": 3, "step": 15, "loss": 1.1, "lr": 5e-4, "voxels_per_s": 6e4, "loss_wdice": 0.7, "loss_wce": 0.8, "val_oa": 0.6, "val_miou": 0.3}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert [r["loss"] for r in read_metrics_log(tmp_path / "metrics.jsonl")] == [2.0, 1.4, 1.1]
    path = write_training_curves(tmp_path)
    assert path == tmp_path / "training_curves.png" and png_size(path) == (CURVES_SIZE[0] * DPI, CURVES_SIZE[1] * DPI)
    (tmp_path / "metrics.jsonl").write_text(json.dumps(records[0]) + "\n{\"epoch\": 2, \"lo")
    with pytest.raises(ValueError, match="metrics.jsonl: line 2 is not JSON"):
        write_training_curves(tmp_path)


def test_meaningless_picture_settings_are_named():
    from pointseg.config import load_config

    with pytest.raises(ValueError, match="heat: expected one of 'confidence', 'entropy', got 'entropi'"):
        VizConfig(heat="entropi")
    with pytest.raises(ValueError, match=r"viz.resolution: expected a number > 0, got 0.0"):
        load_config(None, ["viz.resolution=0"])


def test_pictures_never_replace_a_file_pointseg_did_not_write(tmp_path):
    from pointseg.viz.files import save_image

    image = np.zeros((4, 5, 3), np.uint8)
    save_image(tmp_path / "ours.png", image)
    save_image(tmp_path / "ours.png", image + 1)  # our own picture: replaced
    assert read_png(tmp_path / "ours.png")[0, 0, 0] == 1
    (tmp_path / "holiday.png").write_bytes(b"\x89PNG\r\n\x1a\n somebody's photo")
    with pytest.raises(FileExistsError, match="holiday.png: exist.* not written by pointseg"):
        save_image(tmp_path / "holiday.png", image)
    assert (tmp_path / "holiday.png").read_bytes().endswith(b"somebody's photo")


def write_scene_pair(folder: Path, name: str, n_x: int, n_y: int, seed: int, with_truth: bool = True) -> tuple[Path, Path]:
    """A labelled scene file and a prediction file (class + confidence) for the same grid of points."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 15, n_x * n_y)
    pred = np.where(rng.random(len(truth)) < 0.8, truth, rng.integers(0, 15, len(truth)))
    cloud = grid_cloud(n_x, n_y, pred, truth)
    scene = folder / "raw" / f"{name}.txt"
    write_stpls3d_txt(scene, cloud.xyz, cloud.rgb, truth if with_truth else None, np.zeros(len(truth), np.int64) if with_truth else None)
    pred_path = folder / f"{name}_pred.ply"
    write_ply(pred_path, cloud.xyz, cloud.rgb, {"class": pred.astype(np.uint8), "confidence": rng.random(len(truth)).astype(np.float32)})
    return pred_path, scene


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run's pictures and report: scene 7 with ground truth, 'harbour <east>' without."""
    from pointseg.config import Config
    from pointseg.viz.run import write_run_pictures

    out = tmp_path_factory.mktemp("run")
    a = write_scene_pair(out, "7_points_GTv3", 30, 20, 1)
    b = write_scene_pair(out, "harbour <east>", 25, 25, 2, with_truth=False)
    report = write_run_pictures(out, {"7_points_GTv3": (None, a[1]), "harbour <east>": (b[0], b[1])},
                                VizConfig(min_pixels=100), config=Config(), seconds={"7_points_GTv3": 1.5, "harbour <east>": 2.0})
    assert report == out / "report.html"
    return out


def test_report_embeds_its_images_and_names_every_scene(run_dir):
    page = (run_dir / "report.html").read_text()
    assert "7_points_GTv3" in page and "harbour &lt;east&gt;" in page and "<east>" not in page
    sources = re.findall(r'<img[^>]*src="([^"]*)"', page)
    # scene 7: overview, confidence, oblique, confusion; harbour: prediction, confidence, oblique; run: IoU chart, confusion
    assert len(sources) == 9
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert all(base64.b64decode(s.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n" for s in sources)
    for png in ["confusion_all.png", "iou_all.png", "confusion_7_points_GTv3.png", "pictures/7_points_GTv3_errors.png",
                "pictures/7_points_GTv3_oblique.png", "pictures/harbour <east>_pred.png"]:
        assert png_size(run_dir / png)[0] > 0, png
    assert not (run_dir / "confusion_harbour <east>.png").exists()  # no ground truth, no confusion matrix
    assert "mIoU" in page and "full config" in page


def test_report_is_not_written_over_a_page_pointseg_did_not_write(tmp_path):
    from pointseg.viz.run import write_run_pictures

    (tmp_path / "report.html").write_text("<html>my own notes</html>")
    with pytest.raises(FileExistsError, match="report.html: exist.* not written by pointseg"):
        write_run_pictures(tmp_path, {"7_points_GTv3": (None, None)}, VizConfig())
    assert (tmp_path / "report.html").read_text() == "<html>my own notes</html>" and not (tmp_path / "pictures").exists()


@pytest.mark.skipif(not any(Path(p, "chromium").exists() for p in os.environ.get("PATH", "").split(os.pathsep)),
                    reason="chromium is not installed (Debian: apt-get install chromium)")
def test_report_opens_in_headless_chromium_and_shows_its_pictures(run_dir):
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "check_report.py"), str(run_dir / "report.html"), "--height", "1600"],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "images: 9" in result.stdout and png_size(run_dir / "report_screenshot.png") == (1400, 1600)


def test_evaluate_with_pictures_writes_confusion_matrices_beside_metrics(tmp_path):
    from pointseg.predict.evaluate import evaluate_predictions

    write_scene_pair(tmp_path, "5_points_GTv3", 20, 20, 5)
    table = evaluate_predictions(tmp_path, tmp_path / "raw", pictures=True, viz=EXACT)
    assert "mIoU" in table
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert png_size(tmp_path / "confusion_all.png") == (1000, 850) and (tmp_path / "report.html").is_file()
    assert f"{100 * metrics['all']['miou']:.1f}" in (tmp_path / "report.html").read_text()


def test_tensorboard_gets_per_class_iou_and_the_confusion_matrix_image():
    from pointseg.viz.tensorboard import log_validation

    class Writer:
        def __init__(self):
            self.scalars, self.images = {}, {}

        def add_scalar(self, tag, value, step):
            self.scalars[tag] = (value, step)

        def add_image(self, tag, image, step, dataformats):
            self.images[tag] = (image, step, dataformats)

        def flush(self):
            pass

    conf = np.zeros((15, 15), np.int64)
    conf[0, 0], conf[0, 1], conf[1, 1] = 3, 1, 4  # ground IoU 3/4, building 4/5
    writer = Writer()
    log_validation(writer, 7, conf)
    assert writer.scalars == {"val_iou/ground": (0.75, 7), "val_iou/building": (0.8, 7)}
    image, step, fmt = writer.images["val/confusion_matrix"]
    assert image.shape == (850, 1000, 3) and image.dtype == np.uint8 and step == 7 and fmt == "HWC"
    assert "val/iou" in writer.images


def test_render_tool_draws_prediction_truth_errors_and_refuses_a_missing_truth(tmp_path):
    pred, scene = write_scene_pair(tmp_path, "9_points_GTv3", 20, 10, 9)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    run = [sys.executable, str(ROOT / "tools" / "render.py"), str(pred), "--out", str(tmp_path / "pics"), "--oblique", "none"]
    result = subprocess.run(run + ["--gt", str(tmp_path / "raw")], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert {p.name for p in (tmp_path / "pics").iterdir() if not p.name.startswith(".")} == {
        f"9_points_GTv3_{v}.png" for v in ("pred", "truth", "errors", "confidence", "overview")}
    result = subprocess.run(run + ["--views", "errors"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"error: {pred}: cannot draw errors; this file gives pred, confidence, rgb (ground truth and errors need --gt)"]


def test_viewer_without_a_display_says_so_in_one_line_and_points_to_render(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "view.py"), "scene_pred.ply", "--gt", "scene.txt"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no display" in lines[0]
    assert lines[0].endswith("python tools/render.py scene_pred.ply --gt scene.txt")


def test_open3d_offscreen_failure_is_reported_and_the_zbuffer_view_drawn(monkeypatch, caplog):
    """With no usable Vulkan driver Open3D's renderer aborts its process: it runs in a child, so this one survives,
    says why in one warning and draws the z-buffer view instead."""
    from pointseg.viz.offscreen import OffscreenUnavailable, render_oblique
    from pointseg.viz.pictures import oblique_picture

    monkeypatch.setenv("VK_ICD_FILENAMES", str(Path("/nonexistent/icd.json")))
    cloud = grid_cloud(6, 4, np.arange(24) % 15)
    try:
        image = render_oblique(cloud.xyz, np.zeros((24, 3), np.uint8), 64, 48)
    except OffscreenUnavailable as err:
        assert "apt-get install libvulkan1 mesa-vulkan-drivers" in str(err)
        image = oblique_picture(cloud, "pred", VizConfig(oblique="open3d", min_pixels=0))
        assert "drawing the oblique view with the z-buffer" in caplog.text and image.ndim == 3
    else:  # a machine whose Open3D renders without Vulkan
        assert image.shape == (48, 64, 3)


def round_step(step: float) -> bool:
    """1, 2, 2.5 or 5 x 10^k."""
    mantissa = step / 10 ** np.floor(np.log10(step))
    return any(np.isclose(mantissa, m) for m in (1, 2, 2.5, 5, 10))


def test_top_down_maps_have_coordinates_at_round_values_a_scale_bar_and_a_north_arrow(tmp_path):
    n_x, n_y = 300, 300  # 300 m x 300 m at 1 m per pixel; map column c covers x = 600000.5 + c .. + 1 (the points' minimum)
    cloud = grid_cloud(n_x, n_y, np.zeros(n_x * n_y, np.int64))
    image = read_png(scene_pictures(cloud, tmp_path, EXACT, ["pred"])["pred"])
    ink = (image == 34).all(axis=2)  # frame.INK
    cols = np.flatnonzero(ink[T + n_y + 1, L : L + n_x])  # the easting ticks hang under the frame
    eastings = 600000.5 + cols
    step = float(np.round(np.diff(eastings).mean()))
    assert len(cols) >= 3 and round_step(step) and np.abs(np.diff(eastings) - step).max() <= 1
    assert np.abs(eastings - np.round(eastings / step) * step).max() <= 0.5  # at round coordinates, to the pixel
    rows = np.flatnonzero(ink[T : T + n_y, L - 3])  # the northing ticks, left of the frame; map row r covers y from 4000300.5 - r down
    northings = 4000200.5 - rows
    assert len(rows) >= 2 and np.abs(northings - np.round(northings / step) * step).max() <= 0.5
    line = ink[T + n_y + 32, L:]  # the scale bar's top line, from the map's left edge: a round number of metres (1 m per pixel)
    length = int(np.argmin(line)) - 1  # its last inked pixel is the bar's end
    assert not ink[T + n_y + 32, L - 1] and round_step(length) and n_x / 8 <= length <= n_x / 4
    arrow = ink[T + n_y + 30 : T + n_y + 52, L + n_x - 8 : L + n_x]  # the north arrow: tip up, widening downwards
    widths = arrow.sum(axis=1)
    assert widths[0] >= 1 and widths[8] > widths[0] and (widths[10:] >= 2).all()


def test_overview_fits_the_report_page_with_legible_legends_for_a_big_scene(tmp_path):
    from pointseg.viz.pictures import FONT_PX, PAGE_WIDTH, overview

    rng = np.random.default_rng(0)
    n = 20000
    xyz = np.c_[rng.uniform(0, 800, n), rng.uniform(0, 500, n), rng.uniform(0, 30, n)] + [600000.0, 4000000.0, 0.0]
    truth = rng.integers(0, 15, n)
    cloud = LabelledCloud(Path("big_pred.ply"), "big", xyz, np.zeros((n, 3), np.uint8), (truth + 1) % 15, truth)
    pic = overview(cloud, ["pred", "truth", "errors"], VizConfig())  # 0.25 m would be 3200 px per map
    assert pic.image.shape[1] <= PAGE_WIDTH and FONT_PX >= 13  # shown 1:1 in report.html: 14-pixel legend text stays 14 pixels
    assert pic.raster.resolution > 0.25 and max(pic.raster.shape) * pic.scale <= PAGE_WIDTH // 3


def test_heat_maps_keep_a_3_to_1_contrast_on_the_dark_background():
    """Unsure points must not vanish into the maps' and the viewer's background (entropy was magma_r: near-black)."""
    from pointseg.viz.colours import HEAT_MAPS, contrast_ratio, heat_colours

    for mode, (cmap, vmin, vmax) in HEAT_MAPS.items():
        colours = heat_colours(np.linspace(vmin, vmax, 256), cmap, vmin, vmax)
        assert contrast_ratio(colours, np.array(BACKGROUND)).min() >= 3.0, mode
    unsure = heat_colours(np.array([0.0, np.log(15)]), *HEAT_MAPS["entropy"])  # red = unsure, in both maps
    assert unsure[1, 0] > unsure[1, 1] and unsure[0, 1] > unsure[0, 0]
    assert (heat_colours(np.array([0.0]), *HEAT_MAPS["confidence"]) == unsure[1]).all()


def test_training_curves_have_whole_epoch_ticks():
    from pointseg.viz.plots import curves_figure

    records = [{"epoch": e, "loss": 1.0 / e, "lr": 1e-3, "voxels_per_s": 5e4, "val_oa": 0.5, "val_miou": 0.2} for e in (1, 2, 3)]
    fig = curves_figure(records, "three epochs")
    fig.canvas.draw()
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        shown = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert shown and all(float(t).is_integer() for t in shown), shown


@pytest.mark.parametrize("how", ["pred_class", "classification", "ply"])
def test_a_labelled_copy_of_a_las_file_gives_its_input_classification_as_ground_truth(tmp_path, how):
    """Pictures and the viewer take the ground truth a labelled LAS/LAZ copy carries (classification, or original_class
    after --write-class classification; a PLY of it: scalar_original_class), through the run's class map."""
    from test_las import make_las

    from pointseg.io import output_path, read_scene, write_labelled
    from pointseg.io.class_map import load_class_map
    from pointseg.viz.cloud import read_labelled

    src = tmp_path / "tile.laz"
    _, _, _, codes = make_las(src, "1.4", 7, n=300)
    scene = read_scene(src)
    pred = np.random.default_rng(1).integers(0, 15, 300)
    out = output_path(tmp_path / "out", src, "ply" if how == "ply" else "auto")
    write_labelled(out, scene, pred, np.ones(300), write_class="classification" if how == "classification" else "pred_class")
    cloud = read_labelled(out)
    expected = load_class_map("asprs").to_classes(codes)[0]
    np.testing.assert_array_equal(cloud.pred, pred)
    np.testing.assert_array_equal(cloud.truth, expected)
    assert {"truth", "errors"} <= set(available(cloud))
    # the class map it was labelled with, from its record: code 25 is a class there
    (tmp_path / "custom.yaml").write_text("classes: {2: 0, 6: 1, 3: 2, 4: 3, 5: 4, 25: 14}\n")
    (out.parent / "tile_pred.json").write_text(json.dumps({"settings": {"class_map": str(tmp_path / "custom.yaml")}}))
    np.testing.assert_array_equal(read_labelled(out).truth, np.where(codes == 25, 14, expected))


def test_a_cloud_in_feet_is_drawn_in_metres_and_labelled_in_feet():
    """A 20 m x 10 m grid stored in US survey feet gets the metre grid's raster (0.5 m pixels, same shape, same points),
    its header in metres, and edge coordinates in the file's own feet."""
    from pointseg.viz.frame import _coordinates
    from pointseg.viz.pictures import header_lines
    from pointseg.viz.topdown import TOP, render

    ft = 1200 / 3937
    i, j = np.meshgrid(np.arange(40), np.arange(20), indexing="ij")
    grid = np.stack([i.ravel() * 0.5 + 0.25, j.ravel() * 0.5 + 0.25, np.ones(i.size)], axis=1)
    metres = np.concatenate([[[0.0, 0.0, 0.0]], grid]) + [1000.0, 2000.0, 0.0]  # the corner point: the rest mid-pixel
    feet = metres / ft
    in_m, in_ft = render(metres, TOP, 0.5, 3000, 0), render(feet, TOP, 0.5, 3000, 0, (ft, ft, ft))
    assert in_ft.shape == in_m.shape == (20, 40) and in_ft.resolution == in_m.resolution
    np.testing.assert_array_equal(in_ft.index, in_m.index)
    cloud = LabelledCloud(Path("t_pred.las"), "t", feet, np.zeros((len(feet), 3), np.uint8), scale=(ft, ft, ft))
    assert "0.5 m per pixel, 20 m x 10 m" in header_lines(cloud, in_ft, TOP, "predicted classes")
    texts = _coordinates(TOP_DOWN, 40, 20, 0.5 / ft, in_ft.corner, [])
    eastings = [float(t.text.replace(",", "")) for t in texts if t.rotation == 0]
    assert eastings and all(1000 / ft - 1 <= e <= 1020 / ft + 1 for e in eastings)  # feet: 3281..3347, not 1000..1020


def test_a_text_scene_labelled_in_feet_is_drawn_in_metres(tmp_path, tiny_cfg):
    """A text scene read with --units ft is labelled into a PLY without a CRS: its record says in which units the run
    read it, so its pictures are drawn in metres (before, 3.28 times too large)."""
    import torch

    from pointseg.config import apply_overrides
    from pointseg.models.checkpoint import save_checkpoint
    from pointseg.models.random_weights import random_context_model
    from pointseg.predict.label import label_scenes
    from pointseg.synthetic.city import make_scene
    from pointseg.viz.cloud import read_labelled

    cfg = apply_overrides(tiny_cfg, ["data.voxel_size=0.5"])
    save_checkpoint(tmp_path / "model.pt", {"model": random_context_model(cfg).state_dict()}, cfg)
    s = make_scene(3, 30.0, 2.0, (1000.0, 2000.0, 10.0))
    write_stpls3d_txt(tmp_path / "s.txt", s.xyz, s.rgb, s.labels, s.instance)
    for units, scale in (("ft", 0.3048), ("auto", 1.0)):
        label_scenes(tmp_path / "model.pt", tmp_path / "s.txt", tmp_path / units, torch.device("cpu"), [f"infer.units={units}"], progress=False)
        cloud = read_labelled(tmp_path / units / "s_pred.ply")
        assert cloud.scale == (scale, scale, scale)
        np.testing.assert_allclose(cloud.xyz, s.xyz, atol=1e-3)  # written as read: the numbers stay the file's
