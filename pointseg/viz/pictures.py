"""Pictures of a labelled scene: framed maps with a legend, one PNG per colouring, plus an overview.

Every map sits in a frame (pointseg.viz.frame): its title above; for top-down maps (north up) coordinates at the
edges, a scale bar and a north arrow below; the map itself pixel for pixel as rasterized (times a whole
enlargement factor for small scenes), so a point's pixel in the PNG is known exactly from the raster and
`Picture.origin`. Single maps have their legend on the right; the overview (predicted | ground truth | errors) has
its legends below and is drawn at most PAGE_WIDTH pixels wide (coarser pixels for big scenes), the width
report.html shows it at 100 % in a 1400-pixel browser window, so its 14-pixel legend text stays 14 pixels there.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointseg.config import VizConfig
from pointseg.errors import InputError
from pointseg.viz.cloud import LabelledCloud
from pointseg.viz.colours import BACKGROUND, TITLES, Legend, available, colormap, colouring
from pointseg.viz.files import save_image
from pointseg.viz.frame import OBLIQUE as OBLIQUE_FRAME
from pointseg.viz.frame import PAGE, TOP_DOWN, Text, frame_map, points, text_layer, text_width
from pointseg.viz.names import scene_picture
from pointseg.viz.offscreen import OffscreenUnavailable, render_oblique
from pointseg.viz.topdown import OBLIQUE, TOP, Raster, View, enlarge, paint, render

log = logging.getLogger("pointseg.viz")

PAGE_WIDTH = 1320  # pixels: report.html's content width in a 1400-pixel window (less margins and a scroll bar)
GAP = 6  # pixels between the panels of an overview
FONT_PX = 14  # legend text, pixels
HEAD_PX = 15  # legend titles
ROW = 22  # legend pixels per line
PAD = 10  # legend margin
SWATCH = 26  # swatch width; text starts at PAD + SWATCH + 8
MIN_LEGEND_WIDTH = 240
COLORBAR_ROWS = 6


@dataclass
class Picture:
    """image (H, W, 3) uint8; the map's raster, its enlargement `scale` and `origin` (row, col) of its first map's
    top-left pixel: map pixel (r, c) of the raster covers image rows origin[0] + r*scale .. + scale-1, and the same
    for columns from origin[1]."""

    image: np.ndarray
    raster: Raster
    scale: int
    origin: tuple[int, int] = (0, 0)


def _legend_lines(legends: list[Legend], header: list[str]) -> list[tuple[str, str, np.ndarray | None]]:
    """The legend as lines: (kind, text, swatch colour); kind: header, title, note, entry, colorbar, gap."""
    lines: list[tuple[str, str, np.ndarray | None]] = [("header", part, None) for line in header for part in line.split("\n")]
    for lg in legends:
        lines.append(("gap", "", None))
        lines.append(("title", lg.title, None))
        lines += [("note", n, None) for n in lg.notes]
        lines += [("entry", text, np.asarray(rgb)) for text, rgb in lg.entries]
        if lg.colorbar:
            lines.append(("colorbar", "", None))
    return lines


def legend_width(legends: list[Legend], header: list[str]) -> int:
    """The pixels a legend panel needs for its longest line."""
    widths = [MIN_LEGEND_WIDTH]
    for kind, text, _ in _legend_lines(legends, header):
        if kind == "entry":
            widths.append(PAD + SWATCH + 8 + text_width(text, FONT_PX) + PAD)
        elif text:
            widths.append(PAD + text_width(text, HEAD_PX if kind == "title" else FONT_PX, kind == "title") + PAD)
    return int(np.ceil(max(widths)))


def legend_panel(legends: list[Legend], header: list[str], height: int, width: int | None = None) -> np.ndarray:
    """(max(height, needed), width, 3) uint8: header lines, then each legend's title, notes, swatches and colour
    bar, FONT_PX-pixel text drawn by matplotlib (Agg, no display); width: legend_width by default."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colorbar import ColorbarBase
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    lines = _legend_lines(legends, header)
    width = width or legend_width(legends, header)
    needed = 2 * PAD + sum(ROW * (COLORBAR_ROWS if kind == "colorbar" else 0.5 if kind == "gap" else 1) for kind, _, _ in lines)
    h = int(max(height, np.ceil(needed)))
    texts, swatches, bars = [], [], []
    top = float(PAD)
    for kind, text, colour in lines:
        if kind == "gap":
            top += ROW / 2
            continue
        if kind == "colorbar":
            bars.append(top + 4)
            top += COLORBAR_ROWS * ROW
            continue
        x = PAD + SWATCH + 8 if kind == "entry" else PAD
        texts.append(Text(x, top + 2, text, HEAD_PX if kind == "title" else FONT_PX, bold=kind == "title"))
        if kind == "entry":
            swatches.append((int(top) + 3, colour))
        top += ROW
    panel = text_layer(width, h, texts)
    for row, colour in swatches:  # swatches in exact colours, with a grey edge
        panel[row : row + ROW - 6, PAD : PAD + SWATCH] = (85, 85, 85)
        panel[row + 1 : row + ROW - 7, PAD + 1 : PAD + SWATCH - 1] = colour
    colorbars = [lg.colorbar for lg in legends if lg.colorbar]
    if bars:  # drawn on their own figure, then their rows copied in (nothing else lies in them)
        fig = Figure(figsize=(width / 100, h / 100), dpi=100, facecolor=np.array(PAGE) / 255)
        FigureCanvasAgg(fig)
        for y, (cmap, vmin, vmax) in zip(bars, colorbars):
            ax = fig.add_axes([PAD / width, 1 - (y + (COLORBAR_ROWS - 1) * ROW) / h, 22 / width, (COLORBAR_ROWS - 1) * ROW / h])
            ColorbarBase(ax, cmap=colormap(cmap), norm=Normalize(vmin, vmax), orientation="vertical")
            ax.tick_params(labelsize=points(13))
        fig.canvas.draw()
        drawn = np.asarray(fig.canvas.buffer_rgba())[:, :, :3]
        for y in bars:
            rows = slice(max(0, int(y) - 8), min(h, drawn.shape[0], int(y + COLORBAR_ROWS * ROW)))
            panel[rows, : min(width, drawn.shape[1])] = drawn[rows, :width]
    return panel


def side_by_side(images: list[np.ndarray], gap: int = GAP) -> np.ndarray:
    """Images placed left to right from the top edge, `gap` page-coloured columns apart, padded below."""
    h = max(im.shape[0] for im in images)
    parts = []
    for i, im in enumerate(images):
        padded = np.empty((h, im.shape[1], 3), np.uint8)
        padded[:] = PAGE
        padded[: im.shape[0]] = im
        parts.append(padded)
        if i < len(images) - 1 and gap:
            parts.append(np.full((h, gap, 3), PAGE, np.uint8))
    return np.concatenate(parts, axis=1)


def stacked(images: list[np.ndarray], gap: int = GAP) -> np.ndarray:
    """Images placed top to bottom from the left edge, `gap` page-coloured rows apart, padded on the right."""
    w = max(im.shape[1] for im in images)
    parts = []
    for i, im in enumerate(images):
        padded = np.empty((im.shape[0], w, 3), np.uint8)
        padded[:] = PAGE
        padded[:, : im.shape[1]] = im
        parts.append(padded)
        if i < len(images) - 1 and gap:
            parts.append(np.full((gap, w, 3), PAGE, np.uint8))
    return np.concatenate(parts, axis=0)


def map_image(cloud: LabelledCloud, raster: Raster, mode: str, cfg: VizConfig, max_side: int | None = None) -> tuple[np.ndarray, Legend, int]:
    """The painted, enlarged map of one colouring: (image, legend, enlargement factor); never longer than max_side."""
    colours, legend = colouring(cloud, mode, cfg.errors)
    image, scale = enlarge(paint(raster, colours, BACKGROUND), cfg.min_pixels, max_side)
    return image, legend, scale


def framed(image: np.ndarray, raster: Raster, scale: int, title: str) -> tuple[np.ndarray, tuple[int, int]]:
    """A map in its frame (pointseg.viz.frame): (panel, origin (row, col) of the map in it)."""
    panel, frame = frame_map(image, title, raster.resolution / scale if raster.corner else None, raster.corner, raster.unit)
    return panel, (frame.top, frame.left)


def header_lines(cloud: LabelledCloud, raster: Raster, view: View, what: str) -> list[str]:
    w, h = raster.extent
    where = "top-down, north up" if view.elevation >= 90 else f"oblique from the south-west, {view.elevation:g}° up"
    lines = [cloud.name, what, f"{where}, {len(cloud):,} points", f"{raster.resolution:.3g} m per pixel, {w:.0f} m x {h:.0f} m"]
    if raster.corner is not None:
        lines.append("edges: x (east) and y (north)\nin the file's coordinates")
    return lines


def fitting_raster(cloud: LabelledCloud, view: View, cfg: VizConfig, raster: Raster | None, max_side: int) -> Raster:
    """`raster` when its longer side fits in max_side pixels, else the cloud rasterized again at coarser pixels."""
    if raster is not None and max(raster.shape) <= max_side:
        return raster
    return render(cloud.xyz, view, cfg.resolution, min(cfg.max_pixels, max_side), cfg.fill, cloud.scale)


def picture(cloud: LabelledCloud, mode: str, cfg: VizConfig, view: View = TOP, raster: Raster | None = None,
            max_width: int | None = None) -> Picture:
    """One colouring of a cloud as a framed map with its legend on the right; with max_width, the whole picture
    fits in that many pixels (the map at coarser pixels where needed)."""
    raster = raster or render(cloud.xyz, view, cfg.resolution, cfg.max_pixels, cfg.fill, cloud.scale)
    frame = TOP_DOWN if raster.corner is not None else OBLIQUE_FRAME
    max_side = None
    if max_width is not None:
        _, legend = colouring(cloud, mode, cfg.errors)
        width = legend_width([legend], header_lines(cloud, raster, view, TITLES[mode]))
        max_side = max(16, max_width - width - frame.left - frame.right)
        raster = fitting_raster(cloud, view, cfg, raster, max_side)
    image, legend, scale = map_image(cloud, raster, mode, cfg, max_side)
    panel, origin = framed(image, raster, scale, TITLES[mode] if view.elevation >= 90 else f"{TITLES[mode]}, oblique view")
    legend_image = legend_panel([legend], header_lines(cloud, raster, view, TITLES[mode]), panel.shape[0])
    return Picture(side_by_side([panel, legend_image], gap=0), raster, scale, origin)


def overview(cloud: LabelledCloud, modes: list[str], cfg: VizConfig, view: View = TOP, raster: Raster | None = None,
             max_width: int = PAGE_WIDTH) -> Picture:
    """Several colourings side by side (e.g. prediction, ground truth, errors), each in its titled frame, with their
    legends below; at most max_width pixels wide (the maps at coarser pixels where needed)."""
    frame = TOP_DOWN if view.elevation >= 90 else OBLIQUE_FRAME
    max_side = (max_width - len(modes) * (frame.left + frame.right) - (len(modes) - 1) * GAP) // len(modes)
    raster = fitting_raster(cloud, view, cfg, raster, max_side)
    maps = [map_image(cloud, raster, m, cfg, max_side) for m in modes]
    panels = [framed(image, raster, scale, TITLES[m]) for m, (image, _, scale) in zip(modes, maps)]
    what = "left to right: " + ", ".join(TITLES[m] for m in modes)
    legends = [lg for _, lg, _ in maps if lg.title != "ground truth"] if "pred" in modes else [lg for _, lg, _ in maps]
    columns = [legend_panel([], header_lines(cloud, raster, view, what.replace(": ", ":\n", 1)), 0)]
    columns += [legend_panel([lg], [], 0) for lg in legends]
    row = side_by_side([p for p, _ in panels])
    legend_row = side_by_side(columns, gap=GAP)
    if legend_row.shape[1] > row.shape[1]:  # too many columns for the width: two rows of them
        half = (len(columns) + 1) // 2
        legend_row = stacked([side_by_side(columns[:half], gap=GAP), side_by_side(columns[half:], gap=GAP)])
    return Picture(stacked([row, legend_row]), raster, maps[0][2], panels[0][1])


def scene_pictures(cloud: LabelledCloud, out_dir: str | Path, cfg: VizConfig, modes: list[str] | None = None,
                   page_width: int = PAGE_WIDTH) -> dict[str, Path]:
    """Write <name>_<mode>.png for each colouring the cloud has (or `modes`), <name>_overview.png when it has
    prediction and ground truth (at most page_width pixels wide), and <name>_oblique.png (cfg.oblique). Returns
    {label: path}; for a heat map or oblique view wider than page_width, also '<label>_page': a copy drawn to fit
    (<name>_<mode>_page.png), which report.html shows."""
    out_dir = Path(out_dir)
    have = available(cloud)
    heat = cfg.heat if cfg.heat in have else next((m for m in ("confidence", "entropy") if m in have), None)
    if modes is None:
        modes = [m for m in ("pred", "truth", "errors") if m in have] + ([heat] if heat else [])
        modes = modes or ["rgb"]  # a scene without labels: its own colours
    missing = [m for m in modes if m not in have]
    if missing:
        hint = " (ground truth and errors need --gt)" if {"truth", "errors"} & set(missing) else ""
        raise InputError(f"{cloud.path}: cannot draw {', '.join(missing)}; this file gives {', '.join(have)}{hint}")
    raster = render(cloud.xyz, TOP, cfg.resolution, cfg.max_pixels, cfg.fill, cloud.scale)
    written = {}
    for mode in modes:
        image = picture(cloud, mode, cfg, TOP, raster).image
        written[mode] = save_image(scene_picture(out_dir, cloud.name, mode), image)
        if mode in ("confidence", "entropy") and image.shape[1] > page_width:
            written[f"{mode}_page"] = save_image(scene_picture(out_dir, cloud.name, f"{mode}_page"), picture(cloud, mode, cfg, TOP, raster, page_width).image)
    if "errors" in have:
        written["overview"] = save_image(scene_picture(out_dir, cloud.name, "overview"),
                                         overview(cloud, ["pred", "truth", "errors"], cfg, TOP, raster, page_width).image)
    if cfg.oblique != "none":
        main = "pred" if "pred" in have else have[0]
        image = oblique_picture(cloud, main, cfg)
        written["oblique"] = save_image(scene_picture(out_dir, cloud.name, "oblique"), image)
        if image.shape[1] > page_width:
            written["oblique_page"] = save_image(scene_picture(out_dir, cloud.name, "oblique_page"), oblique_picture(cloud, main, cfg, page_width))
    return written


def oblique_picture(cloud: LabelledCloud, mode: str, cfg: VizConfig, max_width: int | None = None) -> np.ndarray:
    """An oblique view with its legend: Open3D's perspective renderer (cfg.oblique "open3d") where it works,
    else (saying so in the log) the orthographic z-buffer view; with max_width, at most that many pixels wide."""
    if cfg.oblique == "open3d":
        colours, legend = colouring(cloud, mode, cfg.errors)
        header = [cloud.name, TITLES[mode], f"Open3D perspective view, {len(cloud):,} points"]
        width = legend_width([legend], header)
        size = (900, 600) if max_width is None else (max(64, min(900, max_width - width - 16)),) * 2
        try:
            image = render_oblique(cloud.xyz, colours, size[0], min(600, size[1] * 2 // 3), background=BACKGROUND)
        except OffscreenUnavailable as err:
            log.warning("%s; drawing the oblique view with the z-buffer (viz.oblique: zbuffer) instead", err)
        else:
            panel, _ = frame_map(image, f"{TITLES[mode]}, perspective view")
            return side_by_side([panel, legend_panel([legend], header, panel.shape[0])], gap=0)
    return picture(cloud, mode, cfg, OBLIQUE, max_width=max_width).image
