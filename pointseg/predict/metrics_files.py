"""Per-scene and pooled scores written as metrics.json and metrics.csv, and printed as a table."""

import json
from pathlib import Path

import numpy as np

from pointseg.constants import CLASS_NAMES
from pointseg.io.atomic import atomic_write_text
from pointseg.metrics import POOLED, Scores, format_table, scores


def metrics_paths(out_dir: str | Path) -> tuple[Path, Path]:
    """out_dir/metrics.json and out_dir/metrics.csv."""
    return Path(out_dir) / "metrics.json", Path(out_dir) / "metrics.csv"


UNITS = ("oa, miou, iou: fractions 0..1 (metrics.csv and the printed table: percent); points_scored: points with ground "
         "truth (not -100), the ones scored; points_in_file: all points of the scene's file")


def write_metrics(out_dir: str | Path, confusions: dict[str, np.ndarray], file_points: dict[str, int] | None = None) -> str:
    """Scores per scene and over all scenes (one confusion matrix summed over all points); returns the table.

    metrics.json: fractions 0..1 (its "units" says so); metrics.csv: percent (the column names say so), like the
    table. Both give the points scored and, from `file_points` {scene: points in its file}, the file's points."""
    pooled = np.asarray(sum(confusions.values()))
    rows: dict[str, Scores] = {name: scores(c) for name, c in confusions.items()}
    rows[POOLED] = scores(pooled)
    in_file = None
    if file_points is not None:
        in_file = {name: int(file_points[name]) for name in confusions if name in file_points}
        in_file[POOLED] = sum(in_file.values()) if len(in_file) == len(confusions) else None
    json_path, csv_path = metrics_paths(out_dir)
    payload: dict = {"units": UNITS}
    for name, s in rows.items():
        payload[name] = s.as_dict() | {"points_in_file": None if in_file is None else in_file.get(name)}
    payload["confusion_matrix_all"] = pooled.tolist()
    atomic_write_text(json_path, json.dumps(payload, indent=1))
    header = "scene,points_in_file,points_scored,oa_pct,miou_pct," + ",".join(f"iou_pct_{c.replace(' ', '_')}" for c in CLASS_NAMES)
    lines = [header]

    def pct(v: float) -> str:
        return "" if np.isnan(v) else f"{100 * v:.4f}"

    for name, s in rows.items():
        points = "" if in_file is None or in_file.get(name) is None else str(in_file[name])
        lines.append(f"{name},{points},{s.points},{pct(s.oa)},{pct(s.miou)}," + ",".join(pct(v) for v in s.iou))
    atomic_write_text(csv_path, "\n".join(lines) + "\n")
    return format_table(rows, in_file)
