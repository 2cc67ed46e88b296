"""Plots of the numbers with matplotlib (Agg, no display): confusion matrix, per-class IoU, training curves.

Each function returns a matplotlib Figure of a fixed size in pixels (figsize x dpi, no tight bounding box),
to be written with pointseg.viz.files.save_figure or turned into an array with figure_array.
"""

from pathlib import Path
from typing import Any

import numpy as np

from pointseg.constants import CLASS_NAMES, CLASS_PALETTE, NUM_CLASSES
from pointseg.metrics import scores
from pointseg.train.run_dir import METRICS_LOG, read_metrics_log
from pointseg.viz.names import TRAINING_CURVES

DPI = 100
CONFUSION_SIZE = (10.0, 8.5)  # inches: 1000 x 850 pixels
IOU_SIZE = (8.0, 5.5)
CURVES_SIZE = (12.0, 8.0)


def _figure(size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def figure_array(fig) -> np.ndarray:
    """(H, W, 3) uint8 pixels of a figure (for TensorBoard)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()


def confusion_figure(conf: np.ndarray, title: str):
    """Row-normalized confusion matrix (rows: ground truth, columns: prediction) of the classes present in
    either; each cell shows its share of the row in percent, the row labels carry the point counts."""
    conf = np.asarray(conf, np.int64)
    present = np.flatnonzero((conf.sum(0) + conf.sum(1)) > 0)
    if len(present) == 0:
        present = np.arange(NUM_CLASSES)
    sub = conf[np.ix_(present, present)]
    rows = sub.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(rows > 0, sub / np.maximum(rows, 1), np.nan)
    fig = _figure(CONFUSION_SIZE)
    ax = fig.add_axes([0.27, 0.25, 0.62, 0.66])
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    names = [CLASS_NAMES[c] for c in present]
    ax.set_xticks(range(len(present)), [f"{n} ({int(c):,})" for n, c in zip(names, sub.sum(0))], rotation=55, ha="right", fontsize=8)
    ax.set_yticks(range(len(present)), [f"{n} ({int(c):,})" for n, c in zip(names, rows[:, 0])], fontsize=8)
    ax.set_xlabel("predicted class (points predicted)")
    ax.set_ylabel("true class (points)")
    small = len(present) <= 15
    for i in range(len(present)):  # a loop over the matrix cells (at most 15 x 15)
        for j in range(len(present)):
            if small and rows[i, 0] > 0 and sub[i, j] > 0:
                v = norm[i, j]
                ax.text(j, i, f"{100 * v:.0f}" if v >= 0.01 else "<1", ha="center", va="center", fontsize=7,
                        color="white" if v > 0.6 else "black")
    s = scores(conf)
    ax.set_title(f"{title}\nrow-normalized (% of each true class); OA {100 * s.oa:.1f}%, mIoU {100 * s.miou:.1f}%, {s.points:,} points scored", fontsize=10)
    cax = fig.add_axes([0.91, 0.25, 0.02, 0.66])
    fig.colorbar(image, cax=cax).set_label("share of the true class")
    return fig


def iou_figure(iou: np.ndarray, title: str, per_scene: dict[str, np.ndarray] | None = None):
    """Horizontal bars of per-class IoU (C,) in %, in the class colours; classes without IoU (NaN) marked
    'n/a'. With `per_scene`, each scene's IoU as a small black tick over the bars."""
    iou = np.asarray(iou, np.float64)
    fig = _figure(IOU_SIZE)
    ax = fig.add_axes([0.24, 0.1, 0.7, 0.8])
    y = np.arange(NUM_CLASSES)[::-1]
    values = np.nan_to_num(iou) * 100
    ax.barh(y, values, color=CLASS_PALETTE / 255, edgecolor="#444444", linewidth=0.5)
    for yi, raw in zip(y, iou):  # the values in a column right of the bars (scene ticks may reach 100)
        ax.text(103, yi, "n/a" if np.isnan(raw) else f"{100 * raw:.1f}", va="center", fontsize=8)
    if per_scene and len(per_scene) > 1:
        for scene_iou in per_scene.values():
            ok = ~np.isnan(scene_iou)
            ax.plot(scene_iou[ok] * 100, y[ok], "|", color="black", markersize=9)
    ax.set_yticks(y, CLASS_NAMES, fontsize=9)
    ax.set_xlim(0, 112)
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel("IoU (%)" + ("; ticks: single scenes" if per_scene and len(per_scene) > 1 else ""))
    miou = np.nanmean(iou) if np.isfinite(iou).any() else float("nan")
    ax.set_title(f"{title}: per-class IoU, mIoU {100 * miou:.1f}%", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def curves_figure(records: list[dict[str, Any]], title: str):
    """2 x 2 panels over epochs: the loss and each loss_<term>; learning rate; validation OA and mIoU; voxels/s."""
    fig = _figure(CURVES_SIZE)
    axes = fig.subplots(2, 2)
    epochs = np.array([r["epoch"] for r in records])

    def series(key: str) -> tuple[np.ndarray, np.ndarray]:
        have = [i for i, r in enumerate(records) if isinstance(r.get(key), (int, float)) and r[key] == r[key]]
        return epochs[have], np.array([records[i][key] for i in have], np.float64)

    ax = axes[0, 0]
    for key in ["loss"] + sorted({k for r in records for k in r if k.startswith("loss_")}):
        x, v = series(key)
        if len(x):
            ax.plot(x, v, marker="o", markersize=3, linewidth=2 if key == "loss" else 1, label="loss (total)" if key == "loss" else f"{key[5:]} (unweighted)")
    ax.set_title("training loss per epoch")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    x, v = series("lr")
    ax.plot(x, v, marker="o", markersize=3, color="tab:purple")
    ax.set_title("learning rate (end of epoch)")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    ax = axes[1, 0]
    for key, label in (("val_oa", "OA"), ("val_miou", "mIoU")):
        x, v = series(key)
        if len(x):
            ax.plot(x, 100 * v, marker="o", markersize=3, label=label)
    ax.set_title("validation (%)")
    ax.set_ylim(0, 100)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax = axes[1, 1]
    x, v = series("voxels_per_s")
    scale, unit = (1e6, "M voxels/s") if len(v) and v.max() >= 1e6 else (1e3, "k voxels/s")
    ax.plot(x, v / scale, marker="o", markersize=3, color="tab:green")
    ax.set_title(f"training speed ({unit}, whole epoch)")
    from matplotlib.ticker import MaxNLocator

    for a in axes.flat:
        a.set_xlabel("epoch")
        a.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no ticks at 1.5
        a.grid(alpha=0.3)
    fig.suptitle(title)
    fig.subplots_adjust(hspace=0.35, wspace=0.25, left=0.07, right=0.97, top=0.9, bottom=0.08)
    return fig


def write_training_curves(work_dir: str | Path) -> Path:
    """work_dir/training_curves.png from work_dir/metrics.jsonl."""
    from pointseg.viz.files import save_figure

    work_dir = Path(work_dir)
    records = read_metrics_log(work_dir / METRICS_LOG)
    return save_figure(work_dir / TRAINING_CURVES, curves_figure(records, f"{work_dir.name}: {len(records)} epochs"))


def per_class_scores(confusions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """IoU (C,) per confusion matrix."""
    return {name: scores(c).iou for name, c in confusions.items()}
