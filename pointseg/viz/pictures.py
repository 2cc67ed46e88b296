"""Pictures of a labelled scene: maps with a legend panel, one PNG per colouring, plus an overview.

Layout of every picture: the map(s) start at the top-left pixel, pixel for pixel as rasterized (times a
whole enlargement factor for small scenes), and the legend is a panel on the right, drawn with
matplotlib. So a point's pixel in the PNG is known exactly from the raster.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointseg.config import VizConfig
from pointseg.errors import InputError
from pointseg.viz.cloud import LabelledCloud
from pointseg.viz.colours import BACKGROUND, TITLES, Legend, available, colouring
from pointseg.viz.files import save_image
from pointseg.viz.names import scene_picture
from pointseg.viz.offscreen import OffscreenUnavailable, render_oblique
from pointseg.viz.topdown import OBLIQUE, TOP, Raster, View, enlarge, paint, render

log = logging.getLogger("pointseg.viz")

PAGE = (255, 255, 255)  # behind the legend and around maps of different heights
GAP = 6  # pixels between the maps of an overview
LEGEND_WIDTH = 300
ROW = 19  # legend pixels per line


@dataclass
class Picture:
    """image (H, W, 3) uint8; the map's raster and its enlargement `scale` (map pixel (r, c) of the raster
    covers image rows r*scale..r*scale+scale-1 and the same columns)."""

    image: np.ndarray
    raster: Raster
    scale: int


def legend_panel(legends: list[Legend], header: list[str], height: int) -> np.ndarray:
    """(max(height, needed), LEGEND_WIDTH, 3) uint8: header lines, then each legend's title, notes,
    swatches and colour bar, rendered by matplotlib (Agg, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lines = sum(1 + line.count("\n") for line in header) + sum(1 + len(lg.notes) + len(lg.entries) + (6 if lg.colorbar else 0) + 1 for lg in legends)
    needed = 12 + ROW * lines
    h = max(height, needed)
    fig = Figure(figsize=(LEGEND_WIDTH / 100, h / 100), dpi=100, facecolor=np.array(PAGE) / 255)
    FigureCanvasAgg(fig)

    def y(px: float) -> float:  # figure fraction from pixels below the top
        return 1 - px / h

    top = 10.0
    for text in [part for line in header for part in line.split("\n")]:
        fig.text(8 / LEGEND_WIDTH, y(top), text, va="top", ha="left", fontsize=9, color="#222222")
        top += ROW
    for lg in legends:
        top += ROW / 2
        fig.text(8 / LEGEND_WIDTH, y(top), lg.title, va="top", ha="left", fontsize=10, weight="bold")
        top += ROW
        for note in lg.notes:
            fig.text(8 / LEGEND_WIDTH, y(top), note, va="top", ha="left", fontsize=8.5, color="#333333", wrap=True)
            top += ROW
        for text, rgb in lg.entries:
            fig.patches.append(_swatch(fig, 10, top + 2, 22, ROW - 6, np.asarray(rgb) / 255, h))
            fig.text(40 / LEGEND_WIDTH, y(top), text, va="top", ha="left", fontsize=9)
            top += ROW
        if lg.colorbar:
            import matplotlib
            from matplotlib.colorbar import ColorbarBase
            from matplotlib.colors import Normalize

            cmap, vmin, vmax = lg.colorbar
            ax = fig.add_axes([12 / LEGEND_WIDTH, y(top + 5 * ROW), 0.08, 5 * ROW / h])
            ColorbarBase(ax, cmap=matplotlib.colormaps[cmap], norm=Normalize(vmin, vmax), orientation="vertical")
            ax.tick_params(labelsize=8)
            top += 6 * ROW
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()


def _swatch(fig, x: float, top: float, w: float, hgt: float, colour: np.ndarray, h: int):
    from matplotlib.patches import Rectangle

    return Rectangle((x / LEGEND_WIDTH, 1 - (top + hgt) / h), w / LEGEND_WIDTH, hgt / h, transform=fig.transFigure,
                     facecolor=colour, edgecolor="#555555", linewidth=0.5)


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


def map_image(cloud: LabelledCloud, raster: Raster, mode: str, cfg: VizConfig) -> tuple[np.ndarray, Legend, int]:
    """The painted, enlarged map of one colouring: (image, legend, enlargement factor)."""
    colours, legend = colouring(cloud, mode, cfg.errors)
    image, scale = enlarge(paint(raster, colours, BACKGROUND), cfg.min_pixels)
    return image, legend, scale


def header_lines(cloud: LabelledCloud, raster: Raster, view: View, what: str) -> list[str]:
    w, h = raster.extent
    where = "top-down" if view.elevation >= 90 else f"oblique, {view.elevation:g}° up"
    return [cloud.name, what, f"{where}, {len(cloud):,} points", f"{raster.resolution:.3g} m per pixel, {w:.0f} m x {h:.0f} m"]


def picture(cloud: LabelledCloud, mode: str, cfg: VizConfig, view: View = TOP, raster: Raster | None = None) -> Picture:
    """One colouring of a cloud as a map with its legend."""
    raster = raster or render(cloud.xyz, view, cfg.resolution, cfg.max_pixels, cfg.fill)
    image, legend, scale = map_image(cloud, raster, mode, cfg)
    panel = legend_panel([legend], header_lines(cloud, raster, view, TITLES[mode]), image.shape[0])
    return Picture(side_by_side([image, panel], gap=0), raster, scale)


def overview(cloud: LabelledCloud, modes: list[str], cfg: VizConfig, view: View = TOP, raster: Raster | None = None) -> Picture:
    """Several colourings side by side (e.g. prediction, ground truth, errors) with one legend panel."""
    raster = raster or render(cloud.xyz, view, cfg.resolution, cfg.max_pixels, cfg.fill)
    maps = [map_image(cloud, raster, m, cfg) for m in modes]
    what = "left to right: " + ", ".join(TITLES[m] for m in modes)
    what = what.replace(": ", ":\n", 1)
    legends = [lg for _, lg, _ in maps if lg.title != "ground truth"] if "pred" in modes else [lg for _, lg, _ in maps]
    height = maps[0][0].shape[0]
    panel = legend_panel(legends, header_lines(cloud, raster, view, what), height)
    if panel.shape[0] > height and len(legends) > 1:  # taller than the maps: one column per legend
        columns = [legend_panel([lg], header_lines(cloud, raster, view, what) if i == 0 else [], height) for i, lg in enumerate(legends)]
        panel = side_by_side(columns, gap=0)
    return Picture(side_by_side([side_by_side([m for m, _, _ in maps]), panel], gap=GAP), raster, maps[0][2])


def scene_pictures(cloud: LabelledCloud, out_dir: str | Path, cfg: VizConfig, modes: list[str] | None = None) -> dict[str, Path]:
    """Write <name>_<mode>.png for each colouring the cloud has (or `modes`), <name>_overview.png when it has
    prediction and ground truth, and <name>_oblique.png (cfg.side_view). Returns {label: path}."""
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
    raster = render(cloud.xyz, TOP, cfg.resolution, cfg.max_pixels, cfg.fill)
    written = {}
    for mode in modes:
        written[mode] = save_image(scene_picture(out_dir, cloud.name, mode), picture(cloud, mode, cfg, TOP, raster).image)
    if "errors" in have:
        written["overview"] = save_image(scene_picture(out_dir, cloud.name, "overview"), overview(cloud, ["pred", "truth", "errors"], cfg, TOP, raster).image)
    if cfg.oblique != "none":
        main = "pred" if "pred" in have else have[0]
        written["oblique"] = save_image(scene_picture(out_dir, cloud.name, "oblique"), oblique_picture(cloud, main, cfg))
    return written


def oblique_picture(cloud: LabelledCloud, mode: str, cfg: VizConfig) -> np.ndarray:
    """An oblique view with its legend: Open3D's perspective renderer (cfg.oblique "open3d") where it works,
    else (saying so in the log) the orthographic z-buffer view."""
    if cfg.oblique == "open3d":
        colours, legend = colouring(cloud, mode, cfg.errors)
        try:
            image = render_oblique(cloud.xyz, colours, background=BACKGROUND)
        except OffscreenUnavailable as err:
            log.warning("%s; drawing the oblique view with the z-buffer (viz.oblique: zbuffer) instead", err)
        else:
            header = [cloud.name, TITLES[mode], f"Open3D perspective view, {len(cloud):,} points"]
            return side_by_side([image, legend_panel([legend], header, image.shape[0])], gap=0)
    return picture(cloud, mode, cfg, OBLIQUE).image
