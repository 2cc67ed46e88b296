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


def write_metrics(out_dir: str | Path, confusions: dict[str, np.ndarray]) -> str:
    """Scores per scene and over all scenes (one confusion matrix summed over all points); returns the table."""
    pooled = np.asarray(sum(confusions.values()))
    rows: dict[str, Scores] = {name: scores(c) for name, c in confusions.items()}
    rows[POOLED] = scores(pooled)
    json_path, csv_path = metrics_paths(out_dir)
    payload = {name: s.as_dict() for name, s in rows.items()}
    payload["confusion_matrix_all"] = pooled.tolist()
    atomic_write_text(json_path, json.dumps(payload, indent=1))
    header = "scene,points,oa,miou," + ",".join(f"iou_{c.replace(' ', '_')}" for c in CLASS_NAMES)
    lines = [header]
    for name, s in rows.items():
        iou = ",".join("" if np.isnan(v) else f"{v:.6f}" for v in s.iou)
        lines.append(f"{name},{s.points},{s.oa:.6f},{s.miou:.6f},{iou}")
    atomic_write_text(csv_path, "\n".join(lines) + "\n")
    return format_table(rows)
