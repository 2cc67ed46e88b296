"""report.html: one self-contained page per run (PNG images embedded as base64, inline CSS, no script)."""

import base64
import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import pointseg
from pointseg.constants import CLASS_NAMES, CLASS_PALETTE
from pointseg.metrics import Scores
from pointseg.viz.files import HTML_MARK, save_html

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 24px; color: #222; max-width: 1700px; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; } th { background: #f2f2f2; }
td.name, th.name { text-align: left; } .sw { display: inline-block; width: 12px; height: 12px; border: 1px solid #555; margin-right: 6px; vertical-align: -1px; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; margin: 4px 0; image-rendering: pixelated; }
img.plot { image-rendering: auto; } .row { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.muted { color: #666; font-size: 0.9em; } pre { background: #f6f6f6; padding: 8px; font-size: 0.8em; overflow-x: auto; }
"""


@dataclass
class SceneSection:
    """One scene in the report: its name, files, scores (None without ground truth) and pictures {caption: PNG}."""

    name: str
    files: dict[str, str]
    scores: Scores | None
    pictures: dict[str, Path] = field(default_factory=dict)


def embed(path: Path, alt: str, css_class: str = "") -> str:
    """An <img> holding the PNG at `path` as a data URI."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    cls = f' class="{css_class}"' if css_class else ""
    return f'<img{cls} alt="{html.escape(alt)}" title="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _pct(v: float) -> str:
    return "–" if v is None or np.isnan(v) else f"{100 * v:.1f}"


def metrics_tables(rows: dict[str, Scores], file_points: dict[str, int] | None = None) -> str:
    """Points (in the file, scored), OA and mIoU per scene (and pooled), then IoU per class in %, as HTML tables."""
    names = list(rows)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    out = ['<table><tr><th class="name"></th>' + head + "</tr>"]
    if file_points:
        out.append('<tr><td class="name">points in file</td>' + "".join(f"<td>{file_points[n]:,}</td>" if n in file_points else "<td>–</td>"
                                                                        for n in names) + "</tr>")
    out.append('<tr><td class="name">points scored</td>' + "".join(f"<td>{rows[n].points:,}</td>" for n in names) + "</tr>")
    out.append('<tr><td class="name">OA (%)</td>' + "".join(f"<td><b>{_pct(rows[n].oa)}</b></td>" for n in names) + "</tr>")
    out.append('<tr><td class="name">mIoU (%)</td>' + "".join(f"<td><b>{_pct(rows[n].miou)}</b></td>" for n in names) + "</tr>")
    for c, cname in enumerate(CLASS_NAMES):
        r, g, b = (int(v) for v in CLASS_PALETTE[c])
        label = f'<span class="sw" style="background: rgb({r},{g},{b})"></span>IoU {html.escape(cname)}'
        out.append(f'<tr><td class="name">{label}</td>' + "".join(f"<td>{_pct(rows[n].iou[c])}</td>" for n in names) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def info_table(items: dict[str, Any]) -> str:
    return "<table>" + "".join(f'<tr><th class="name">{html.escape(str(k))}</th><td class="name">{html.escape(str(v))}</td></tr>'
                               for k, v in items.items()) + "</table>"


def build_report(title: str, pooled: Scores | None, rows: dict[str, Scores], plots: dict[str, Path], scenes: list[SceneSection],
                 run: dict[str, Any], config: dict[str, Any] | None, seconds: dict[str, float],
                 file_points: dict[str, int] | None = None) -> str:
    """The page as a string. `plots`: run-wide figures {caption: PNG}; `run`: model/checkpoint facts;
    `file_points`: {scene or 'all': points in the file(s)}."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', HTML_MARK,
             f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
             f'<p class="muted">written {time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())} by pointseg {pointseg.__version__}; '
             f"{len(scenes)} scene(s): {html.escape(', '.join(s.name for s in scenes))}</p>"]
    if pooled is not None:
        parts.append(f"<p><b>All scenes: OA {_pct(pooled.oa)}%, mIoU {_pct(pooled.miou)}%</b> over {pooled.points:,} labelled points "
                     "(one confusion matrix summed over all points; ground truth −100 ignored).</p>")
        parts += ["<h2>Metrics</h2>", metrics_tables(rows, file_points)]
    else:
        parts.append("<p>No ground truth: pictures of the predictions only.</p>")
    if plots:
        parts.append("<h2>Per-class IoU, confusion matrix" + (", training curves" if "training curves" in plots else "") + "</h2><div class=\"row\">")
        parts += [embed(p, cap, "plot") for cap, p in plots.items()]
        parts.append("</div>")
    parts.append("<h2>Scenes</h2>")
    for s in scenes:
        score = f" — OA {_pct(s.scores.oa)}%, mIoU {_pct(s.scores.miou)}%" if s.scores else " — no ground truth"
        parts.append(f"<h3 id=\"scene-{html.escape(s.name)}\">{html.escape(s.name)}{score}</h3>")
        parts.append('<p class="muted">' + "; ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in s.files.items()) + "</p>")
        parts.append('<div class="row">' + "".join(embed(p, f"{s.name}: {cap}", "plot" if "confusion" in cap else "")
                                                   for cap, p in s.pictures.items()) + "</div>")
    parts.append("<h2>Model, checkpoint, timing</h2>")
    parts.append(info_table(run))
    if seconds:
        parts.append("<table><tr><th class=\"name\">scene</th><th>seconds (read, predict, write)</th></tr>"
                     + "".join(f'<tr><td class="name">{html.escape(n)}</td><td>{t:.2f}</td></tr>' for n, t in seconds.items())
                     + f'<tr><td class="name"><b>total</b></td><td><b>{sum(seconds.values()):.2f}</b></td></tr></table>')
    if config is not None:
        parts.append("<details><summary>full config</summary><pre>" + html.escape(json.dumps(config, indent=1)) + "</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, page: str) -> Path:
    return save_html(path, page)
