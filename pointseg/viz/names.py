"""The names of the pictures and the report a run writes: one place for the writers (pointseg.viz.run, .pictures,
.plots) and for the check that none of them would replace a user's file before any work (pointseg.predict.outputs)."""

from pathlib import Path

from pointseg.metrics import POOLED

PICTURE_DIR = "pictures"
REPORT = "report.html"
TRAINING_CURVES = "training_curves.png"
# every picture of one scene: one map per colouring, the overview of pred | truth | errors, the oblique view
SCENE_VIEWS = ("pred", "truth", "errors", "confidence", "entropy", "rgb", "overview", "oblique",
               "confidence_page", "entropy_page", "oblique_page")  # _page: a copy that fits report.html at 100 %


def scene_picture(out_dir: str | Path, name: str, view: str) -> Path:
    """out_dir/<name>_<view>.png (out_dir: the pictures folder)."""
    return Path(out_dir) / f"{name}_{view}.png"


def confusion_picture(out_dir: str | Path, name: str) -> Path:
    """out_dir/confusion_<name>.png; name POOLED ('all') for the whole run."""
    return Path(out_dir) / f"confusion_{name}.png"


def iou_picture(out_dir: str | Path) -> Path:
    return Path(out_dir) / f"iou_{POOLED}.png"


def run_pictures(out_dir: str | Path, names: list[str]) -> list[Path]:
    """Every file write_run_pictures may write into out_dir for scenes `names` (which of them it writes depends on
    what the files hold: ground truth, confidence, entropy)."""
    out_dir = Path(out_dir)
    paths = [scene_picture(out_dir / PICTURE_DIR, n, v) for n in names for v in SCENE_VIEWS]
    paths += [confusion_picture(out_dir, n) for n in [*names, POOLED]]
    return paths + [iou_picture(out_dir), out_dir / TRAINING_CURVES, out_dir / REPORT]
