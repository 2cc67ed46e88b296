"""Map furniture around a map raster: the panel's title, coordinates at its edges, a scale bar and a north arrow.

A framed panel is composed in whole pixels, so a map pixel's place in the PNG stays known exactly: the map sits at
`Frame.top` rows and `Frame.left` columns from the panel's top-left corner, pixel for pixel, inside a 1-pixel
frame. Top-down maps (north up) get eastings under the map and northings on its left (rotated), both at round
numbers in the file's coordinates, and below them a scale bar and a north arrow; an oblique view gets its title only.
Text is drawn by matplotlib (Agg, no display) at fixed sizes in pixels.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DPI = 100
TITLE_PX = 16  # text sizes in pixels (not points)
LABEL_PX = 12
INK = (34, 34, 34)
PAGE = (255, 255, 255)
TICK = 5  # tick length in pixels


@dataclass(frozen=True)
class Frame:
    """Margins (pixels) around a map: title rows above, label columns left, label and scale-bar rows below."""

    top: int
    left: int
    right: int
    bottom: int


TOP_DOWN = Frame(top=30, left=24, right=32, bottom=60)
OBLIQUE = Frame(top=30, left=8, right=8, bottom=8)


@dataclass(frozen=True)
class Text:
    """A text at (x, y) pixels from the left and top edges, `size` pixels high."""

    x: float
    y: float
    text: str
    size: float
    ha: str = "left"
    va: str = "top"
    rotation: float = 0.0
    bold: bool = False


def points(px: float) -> float:
    """Font size in points for a text `px` pixels high at DPI."""
    return px * 72 / DPI


def text_layer(width: int, height: int, texts: list[Text]) -> np.ndarray:
    """(height, width, 3) uint8: the texts drawn in INK on PAGE."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.transforms import IdentityTransform

    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor=np.array(PAGE) / 255)
    FigureCanvasAgg(fig)
    for t in texts:
        fig.text(t.x, height - t.y, t.text, transform=IdentityTransform(), fontsize=points(t.size), ha=t.ha, va=t.va,
                 rotation=t.rotation, weight="bold" if t.bold else "normal", color=np.array(INK) / 255)
    fig.canvas.draw()
    drawn = np.asarray(fig.canvas.buffer_rgba())[:, :, :3]
    out = np.empty((height, width, 3), np.uint8)  # figure sizes round to whole pixels either way: fit exactly
    out[:] = PAGE
    h, w = min(height, drawn.shape[0]), min(width, drawn.shape[1])
    out[:h, :w] = drawn[:h, :w]
    return out


@lru_cache(maxsize=1)
def _measuring_figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(dpi=DPI)
    return fig, FigureCanvasAgg(fig).get_renderer()


def text_width(text: str, size: float, bold: bool = False) -> float:
    """The width in pixels matplotlib draws `text` at `size` pixels."""
    fig, renderer = _measuring_figure()
    t = fig.text(0, 0, text, fontsize=points(size), weight="bold" if bold else "normal")
    width = t.get_window_extent(renderer).width
    t.remove()
    return width


def nice_number(value: float, up: bool = True) -> float:
    """The nearest of 1, 2, 2.5, 5 x 10^k at or above `value` (up) or at or below it."""
    exponent = math.floor(math.log10(value))
    steps = [1, 2, 2.5, 5, 10]
    mantissa = value / 10**exponent
    pick = next(s for s in steps if s >= mantissa - 1e-9) if up else max(s for s in steps if s <= mantissa + 1e-9)
    return pick * 10**exponent


def coordinate_text(value: float, step: float) -> str:
    """A coordinate at the precision of the tick step: 612050, 12.5."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


def ticks(lo: float, hi: float, step: float) -> np.ndarray:
    """Multiples of `step` within [lo, hi]."""
    return np.arange(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1) * step


def _line(image: np.ndarray, rows: slice, cols: slice, colour=INK) -> None:
    image[rows, cols] = colour


def frame_map(map_image: np.ndarray, title: str, metres_per_pixel: float | None = None,
              corner: tuple[float, float] | None = None, unit: float = 1.0) -> tuple[np.ndarray, Frame]:
    """A map (h, w, 3) uint8 in its frame: (panel image, margins). With `corner` (the map's lower-left x, y, in the
    file's units) and `metres_per_pixel` (of map_image, enlargement included): coordinates at the edges (in the file's
    units: `unit` metres each), a scale bar in metres and a north arrow."""
    top_down = corner is not None and metres_per_pixel is not None
    frame = TOP_DOWN if top_down else OBLIQUE
    h, w = map_image.shape[:2]
    width, height = frame.left + w + frame.right, frame.top + h + frame.bottom
    width = max(width, frame.left + int(math.ceil(text_width(title, TITLE_PX, bold=True))) + 8)  # a small map: room for its title
    texts = [Text(frame.left, 7, title, TITLE_PX, bold=True)]
    lines: list[tuple[slice, slice]] = []
    if top_down:
        texts += _coordinates(frame, w, h, metres_per_pixel / unit, corner, lines)
        texts += _scale_bar_and_north(frame, w, h, metres_per_pixel, lines)
    panel = text_layer(width, height, texts)
    panel[frame.top : frame.top + h, frame.left : frame.left + w] = map_image
    _line(panel, slice(frame.top - 1, frame.top + h + 1), slice(frame.left - 1, frame.left))  # the frame, outside the map
    _line(panel, slice(frame.top - 1, frame.top + h + 1), slice(frame.left + w, frame.left + w + 1))
    _line(panel, slice(frame.top - 1, frame.top), slice(frame.left - 1, frame.left + w + 1))
    _line(panel, slice(frame.top + h, frame.top + h + 1), slice(frame.left - 1, frame.left + w + 1))
    for rows, cols in lines:
        _line(panel, rows, cols)
    if top_down:
        _north_arrow(panel, frame.left + w - 4, frame.top + h + 30)
    return panel, frame


def _coordinates(frame: Frame, w: int, h: int, mpp: float, corner: tuple[float, float], lines: list) -> list[Text]:
    """Eastings below the map, northings left of it (rotated), at round steps with their labels apart; mpp: coordinate
    units per pixel."""
    x0, y0 = corner
    x1, y1 = x0 + w * mpp, y0 + h * mpp
    widest = max(text_width(coordinate_text(v, 1.0), LABEL_PX) for v in (x0, x1, y0, y1))
    step = nice_number((widest + 16) * mpp)
    texts = []
    for x in ticks(x0, x1, step):
        col = frame.left + int(round((x - x0) / mpp))
        col = min(col, frame.left + w - 1)
        label = coordinate_text(x, step)
        half = text_width(label, LABEL_PX) / 2
        if col - half < 0 or col + half > frame.left + w + frame.right:
            continue  # no room for its label
        lines.append((slice(frame.top + h + 1, frame.top + h + 1 + TICK), slice(col, col + 1)))
        texts.append(Text(col, frame.top + h + TICK + 3, label, LABEL_PX, ha="center"))
    for y in ticks(y0, y1, step):
        row = frame.top + int(round((y1 - y) / mpp))
        row = min(row, frame.top + h - 1)
        label = coordinate_text(y, step)
        half = text_width(label, LABEL_PX) / 2
        if row - half < frame.top - 4 or row + half > frame.top + h + 4:
            continue
        lines.append((slice(row, row + 1), slice(frame.left - 1 - TICK, frame.left - 1)))
        texts.append(Text(frame.left - TICK - 3, row, label, LABEL_PX, ha="right", va="center", rotation=90))
    return texts


def _scale_bar_and_north(frame: Frame, w: int, h: int, mpp: float, lines: list) -> list[Text]:
    """A scale bar of a round length, about a quarter of the map wide (4 segments, alternately filled), and the N."""
    length = nice_number(max(w / 4, 24) * mpp, up=False)
    bar = max(4, int(round(length / mpp)))
    top = frame.top + h + 32
    left = frame.left
    lines += [(slice(top, top + 1), slice(left, left + bar + 1)), (slice(top + 6, top + 7), slice(left, left + bar + 1))]
    for k in range(5):  # the ends and the segment boundaries (a loop over 5 lines)
        col = left + int(round(k * bar / 4))
        lines.append((slice(top, top + 7), slice(col, col + 1)))
    for k in (0, 2):  # filled segments
        lines.append((slice(top, top + 7), slice(left + int(round(k * bar / 4)), left + int(round((k + 1) * bar / 4)))))
    unit = f"{length:g} m"
    return [Text(left + bar + 8, top + 3, unit, LABEL_PX, va="center"), Text(left + w - 14, top + 3, "N", LABEL_PX, ha="right", va="center", bold=True)]


def _north_arrow(panel: np.ndarray, col: int, row: int) -> None:
    """An arrow pointing up (north) with its tip at (row, col): a 9-pixel head on a 2-pixel shaft."""
    for k in range(9):  # rows of the arrow head (9 rows)
        panel[row + k, col - k // 2 : col + k // 2 + 1] = INK
    panel[row + 9 : row + 22, col - 1 : col + 1] = INK
