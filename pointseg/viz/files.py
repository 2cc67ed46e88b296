"""Writing pictures and reports: atomic, never over a file pointseg did not write (pointseg.io.ownership)."""

from pathlib import Path

import numpy as np

from pointseg.errors import InputError
from pointseg.io.atomic import atomic_path

SOFTWARE = "pointseg"
HTML_MARK = f'<meta name="generator" content="{SOFTWARE}">'


def save_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 image as PNG, pixel for pixel, atomically."""
    from PIL import Image, PngImagePlugin  # Pillow: matplotlib's own PNG writer; RGB, not RGBA

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", SOFTWARE)
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image, np.uint8), "RGB").save(tmp, format="PNG", pnginfo=info)
    return path


def save_figure(path: str | Path, figure) -> Path:
    """Write a matplotlib Figure as PNG at its own size (figsize x dpi), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=figure.dpi, metadata={"Software": SOFTWARE})
    return path


def save_html(path: str | Path, text: str) -> Path:
    """Write an HTML page (which must carry HTML_MARK) atomically."""
    if HTML_MARK not in text[:2000]:
        raise ValueError("save_html: the page lacks pointseg's generator mark in its head")
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def png_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from a PNG's header; raises ValueError for a file that is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise InputError(f"{path}: not a PNG file")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
