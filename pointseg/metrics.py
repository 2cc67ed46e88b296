"""Confusion matrix -> overall accuracy, per-class IoU, mIoU."""

from dataclasses import dataclass

import numpy as np

from pointseg.constants import CLASS_NAMES, IGNORE_LABEL, NUM_CLASSES

POOLED = "all"  # the row of scores over all scenes (one confusion matrix summed over all points)


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """(C, C) int64, rows ground truth, columns prediction; points labelled -100 are left out."""
    gt, pred = np.asarray(gt).ravel(), np.asarray(pred).ravel()
    keep = gt != IGNORE_LABEL
    gt, pred = gt[keep].astype(np.int64), pred[keep].astype(np.int64)
    if gt.size and (gt.min() < 0 or gt.max() >= num_classes or pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(f"confusion_matrix: labels outside 0..{num_classes - 1}")
    return np.bincount(gt * num_classes + pred, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


@dataclass
class Scores:
    """oa in [0, 1]; iou (C,) with NaN for a class absent from both ground truth and prediction; miou over the rest;
    points: the points scored (ground truth not -100), not all the file's points."""

    oa: float
    iou: np.ndarray
    miou: float
    points: int

    def as_dict(self) -> dict:
        return {
            "oa": self.oa,
            "miou": self.miou,
            "points_scored": self.points,
            "iou": {name: (None if np.isnan(v) else float(v)) for name, v in zip(CLASS_NAMES, self.iou)},
        }


def scores(conf: np.ndarray) -> Scores:
    """Scores of a confusion matrix. IoU_c = TP / (TP + FP + FN); classes with TP + FP + FN = 0 are NaN
    and left out of mIoU; a class absent from the ground truth but predicted has IoU 0."""
    conf = np.asarray(conf, np.float64)
    tp = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
    total = conf.sum()
    oa = float(tp.sum() / total) if total else float("nan")
    miou = float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")
    return Scores(oa, iou, miou, int(total))


def format_table(rows: dict[str, Scores], file_points: dict[str, int] | None = None) -> str:
    """A text table: one column per row key (scene or 'all'); the points in the file (when `file_points` gives them) and
    the points scored, then OA, mIoU and IoU per class in percent."""
    names = list(rows)
    width = max(18, *(len(n) + 2 for n in names))
    head = f"{'scores in %':<22}" + "".join(f"{n:>{width}}" for n in names)

    def line(label: str, values: list[float]) -> str:
        return f"{label:<22}" + "".join(f"{'-' if np.isnan(v) else f'{100 * v:.2f}':>{width}}" for v in values)

    def count(label: str, values: list[int | None]) -> str:
        return f"{label:<22}" + "".join(f"{'-' if v is None else f'{v:,}':>{width}}" for v in values)

    out = [head]
    if file_points is not None:
        out.append(count("points in file", [file_points.get(n) for n in names]))
    out += [count("points scored", [rows[n].points for n in names])]
    out += [line("OA", [rows[n].oa for n in names]), line("mIoU", [rows[n].miou for n in names])]
    out += [line(f"IoU {c}", [rows[n].iou[i] for n in names]) for i, c in enumerate(CLASS_NAMES)]
    return "\n".join(out)


# Coarse groups for scoring against ASPRS-classified scans: pointseg's classes and the ASPRS codes of each group.
GROUPS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "ground": ((0,), (2,)),
    "vegetation": ((2, 3, 4), (3, 4, 5)),
    "building": ((1,), (6,)),
    "object": ((1, 2, 3, 4), (3, 4, 5, 6)),  # vegetation and building together (what a height rule finds)
}


def iou(truth: np.ndarray, pred: np.ndarray) -> float:
    """IoU of two (N,) boolean masks; NaN when both are empty."""
    union = np.count_nonzero(truth | pred)
    return float(np.count_nonzero(truth & pred) / union) if union else float("nan")


def group_scores(codes: np.ndarray, pred: dict[str, np.ndarray]) -> dict[str, float]:
    """IoU per coarse group: codes (N,) ASPRS classification of the scored points; pred {group: (N,) bool}; groups
    the truth lacks entirely (e.g. no building in a scan) are NaN."""
    out = {}
    for name, (_, asprs) in GROUPS.items():
        if name in pred:
            truth = np.isin(codes, asprs)
            out[name] = iou(truth, pred[name]) if truth.any() else float("nan")
    return out


def class_groups(labels: np.ndarray) -> dict[str, np.ndarray]:
    """{group: (N,) bool} of pointseg class labels (N,)."""
    return {name: np.isin(labels, classes) for name, (classes, _) in GROUPS.items()}
