"""Per-point colourings of a labelled cloud (classes, ground truth, errors, confidence, rgb) and their legends."""

import math
from dataclasses import dataclass, field

import numpy as np

from pointseg.constants import CLASS_NAMES, CLASS_PALETTE, NUM_CLASSES
from pointseg.errors import InputError
from pointseg.viz.cloud import LabelledCloud

BACKGROUND = (24, 24, 28)  # map pixels no point falls in
CORRECT = np.array([190, 190, 190], np.uint8)  # error map: a correctly labelled point
WRONG = np.array([235, 20, 20], np.uint8)  # error map with errors="red"
UNLABELLED = np.array([95, 75, 120], np.uint8)  # ground truth -100 (ignored: neither right nor wrong)

MODES = ("pred", "truth", "errors", "confidence", "entropy", "rgb")
TITLES = {"pred": "predicted classes", "truth": "ground truth", "errors": "errors", "confidence": "confidence",
          "entropy": "entropy", "rgb": "rgb"}
# Heat maps (colour map[part of its range], vmin, vmax): red = unsure in both. The ends of RdYlGn are cut off because they
# are dark: every colour keeps a contrast of at least 3:1 (WCAG's for graphics) against the dark BACKGROUND of the maps
# and the viewer (the full RdYlGn: 2.2:1; magma_r, the entropy map before: 0.84:1, unsure points near-black).
HEAT_MAPS = {"confidence": ("RdYlGn[0.1:0.9]", 0.0, 1.0), "entropy": ("RdYlGn_r[0.1:0.9]", 0.0, math.log(NUM_CLASSES))}


@dataclass
class Legend:
    """entries: (text, rgb uint8 (3,)) swatches; colorbar: (matplotlib colormap name, vmin, vmax) or None."""

    title: str
    entries: list[tuple[str, np.ndarray]] = field(default_factory=list)
    colorbar: tuple[str, float, float] | None = None
    notes: list[str] = field(default_factory=list)


def available(cloud: LabelledCloud) -> list[str]:
    """The colourings this cloud supports, in MODES order."""
    have = {"pred": cloud.pred is not None, "truth": cloud.truth is not None,
            "errors": cloud.pred is not None and cloud.truth is not None,
            "confidence": cloud.confidence is not None, "entropy": cloud.entropy is not None, "rgb": True}
    return [m for m in MODES if have[m]]


def class_colours(labels: np.ndarray) -> np.ndarray:
    """(N, 3) uint8: CLASS_PALETTE per label; -100 (and anything outside 0..14) UNLABELLED."""
    valid = (labels >= 0) & (labels < NUM_CLASSES)
    out = np.empty((len(labels), 3), np.uint8)
    out[:] = UNLABELLED
    out[valid] = CLASS_PALETTE[labels[valid]]
    return out


def error_colours(pred: np.ndarray, truth: np.ndarray, errors: str = "truth") -> np.ndarray:
    """(N, 3) uint8: CORRECT where pred == truth; wrong points in their true class's colour (errors="truth")
    or WRONG red (errors="red"); UNLABELLED where the truth is -100."""
    out = class_colours(truth) if errors == "truth" else np.broadcast_to(WRONG, (len(pred), 3)).copy()
    out[pred == truth] = CORRECT
    out[(truth < 0) | (truth >= NUM_CLASSES)] = UNLABELLED
    return out


def colormap(spec: str):
    """A matplotlib colour map by name, or part of one: 'RdYlGn[0.1:0.9]' is RdYlGn from 10% to 90% of its range."""
    import matplotlib
    from matplotlib.colors import ListedColormap

    name, _, part = spec.partition("[")
    if not part:
        return matplotlib.colormaps[name]
    lo, hi = (float(v) for v in part.rstrip("]").split(":"))
    return ListedColormap(matplotlib.colormaps[name](np.linspace(lo, hi, 256)), name=spec)


def heat_colours(values: np.ndarray, cmap: str, vmin: float, vmax: float) -> np.ndarray:
    """(N, 3) uint8 through a matplotlib colour map (or part of one, see `colormap`) over [vmin, vmax]."""
    scaled = np.clip((np.asarray(values, np.float64) - vmin) / (vmax - vmin), 0, 1)
    return (colormap(cmap)(scaled)[:, :3] * 255 + 0.5).astype(np.uint8)


def contrast_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """WCAG contrast ratios (1..21) between colours a (..., 3) and b (..., 3), uint8 sRGB."""
    def luminance(c: np.ndarray) -> np.ndarray:
        c = np.asarray(c, np.float64) / 255
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return c @ np.array([0.2126, 0.7152, 0.0722])

    la, lb = luminance(a), luminance(b)
    return (np.maximum(la, lb) + 0.05) / (np.minimum(la, lb) + 0.05)


def _class_entries(labels: np.ndarray, prefix: str = "") -> list[tuple[str, np.ndarray]]:
    """A swatch per class present in `labels`, with its share of the points."""
    valid = labels[(labels >= 0) & (labels < NUM_CLASSES)]
    counts = np.bincount(valid, minlength=NUM_CLASSES)
    total = max(len(labels), 1)
    return [(f"{prefix}{CLASS_NAMES[c]} {percent(counts[c], total)}", CLASS_PALETTE[c]) for c in np.flatnonzero(counts)]


def percent(part: float, total: float) -> str:
    """'12.3%', or '<0.1%' for a small non-zero share."""
    share = 100 * part / max(total, 1)
    return "<0.1%" if 0 < share < 0.05 else f"{share:.1f}%"


def colouring(cloud: LabelledCloud, mode: str, errors: str = "truth") -> tuple[np.ndarray, Legend]:
    """Colours (N, 3) uint8 of every point for `mode` (one of MODES) and the legend that explains them."""
    if mode not in available(cloud):
        raise InputError(f"{cloud.path}: cannot colour by '{mode}' (available: {', '.join(available(cloud))})")
    title = TITLES[mode]
    if mode in ("pred", "truth"):
        labels = cloud.pred if mode == "pred" else cloud.truth
        legend = Legend(title, _class_entries(labels))
        n_unlabelled = int(((labels < 0) | (labels >= NUM_CLASSES)).sum())
        if n_unlabelled:
            legend.entries.append((f"unlabelled {100 * n_unlabelled / len(labels):.1f}%", UNLABELLED))
        return class_colours(labels), legend
    if mode == "errors":
        pred, truth = cloud.pred, cloud.truth
        scored = (truth >= 0) & (truth < NUM_CLASSES)
        wrong = scored & (pred != truth)
        n_scored = max(int(scored.sum()), 1)
        legend = Legend(title, [(f"correct {100 * (scored & ~wrong).sum() / n_scored:.1f}%", CORRECT)])
        if errors == "red":
            legend.entries.append((f"wrong {100 * wrong.sum() / n_scored:.1f}%", WRONG))
        else:
            legend.notes.append(f"wrong {100 * wrong.sum() / n_scored:.1f}%, in the colour of their true class:")
            legend.entries += _class_entries(np.where(wrong, truth, -1))
        if not scored.all():
            legend.entries.append((f"no ground truth {100 * (~scored).mean():.1f}%", UNLABELLED))
        return error_colours(pred, truth, errors), legend
    if mode in HEAT_MAPS:
        cmap, vmin, vmax = HEAT_MAPS[mode]
        values = cloud.confidence if mode == "confidence" else cloud.entropy
        note = "low (red): the model is unsure" if mode == "confidence" else "high (red): the model is unsure (nats)"
        return heat_colours(values, cmap, vmin, vmax), Legend(title, colorbar=(cmap, vmin, vmax), notes=[note])
    return np.asarray(cloud.rgb, np.uint8), Legend(title, notes=["the points' own colours"])


def legend_text(legend: Legend) -> str:
    """The legend as terminal lines, each swatch a block in its 24-bit colour (tools/view.py)."""
    lines = [legend.title] + [f"  {n}" for n in legend.notes]
    lines += [f"  \x1b[38;2;{int(c[0])};{int(c[1])};{int(c[2])}m\u2588\u2588\x1b[0m {text}" for text, c in legend.entries]
    if legend.colorbar:
        cmap, vmin, vmax = legend.colorbar
        lines.append(f"  colour map {cmap}: {vmin:.2f} .. {vmax:.2f}")
    return "\n".join(lines)
