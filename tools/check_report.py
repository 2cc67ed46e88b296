"""Open a report.html in headless Chromium as a user would, screenshot it and check what it shows:
python tools/check_report.py REPORT.html [--out SHOT.png] [--width 1400] [--height 3000].

Checks: the page loads (Chromium writes the screenshot), every image in it is a PNG embedded as a
data URI (nothing to fetch: the file can be mailed), and the screenshot shows the images, i.e.
pixels in pointseg's class colours. It also says which images the browser shows at 100 % (found pixel for pixel in
the screenshot: their text at its drawn size; the maps' overview is drawn to fit a 1400-pixel window) and fails
when an overview is wider than the page (the browser would scale it and its legend text). Needs Chromium (Debian: apt-get install chromium); not part of
the required tests, which use it only where it is installed.
"""

import argparse
import base64
import io
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import _bootstrap  # noqa: F401
import numpy as np

from pointseg.constants import CLASS_PALETTE

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def find_chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def screenshot(report: Path, out: Path, width: int, height: int) -> None:
    browser = find_chromium()
    if browser is None:
        raise FileNotFoundError("no chromium on PATH (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={out.resolve()}",
               report.resolve().as_uri()]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or not out.is_file():
        raise RuntimeError(f"chromium failed ({result.returncode}): {result.stderr[-1000:]}")


def packed(pixels: np.ndarray) -> np.ndarray:
    """(H, W) int64: RGB (H, W, 3) 0..255 packed into one number per pixel."""
    pixels = pixels.astype(np.int64)
    return (pixels[:, :, 0] << 16) | (pixels[:, :, 1] << 8) | pixels[:, :, 2]


def shown_one_to_one(image: np.ndarray, shot: np.ndarray, run: int = 48) -> bool | None:
    """Whether `image` (h, w) packed appears pixel for pixel in the screenshot `shot` (H, W) packed: a run of `run` pixels
    of its most varied row must appear as such. None when the image has no such row (too narrow or uniform)."""
    if image.shape[1] < run:
        return None
    varied = [len(np.unique(row)) for row in image]
    r = int(np.argmax(varied))
    if varied[r] < 4:
        return None
    row = image[r]
    start = int(np.argmax([len(np.unique(row[c : c + run])) for c in range(0, len(row) - run + 1, run)])) * run
    segment = row[start : start + run]
    counts = [int((shot == v).sum()) for v in segment]  # anchor on the segment's rarest colour in the screenshot
    k = int(np.argmin(counts))
    for y, x in np.argwhere(shot == segment[k]):  # a loop over the screenshot pixels of that colour
        if x >= k and np.array_equal(shot[y, x - k : x - k + run], segment):
            return True
    return False


def check(report: Path, shot: Path, width: int, height: int) -> dict:
    """Screenshot `report` into `shot`; returns the numbers the checks rest on (raises on a failed check)."""
    import matplotlib.image

    page = report.read_text(encoding="utf-8")
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
    bad = [s[:60] for s in sources if not s.startswith("data:image/png;base64,")]
    if bad:
        raise AssertionError(f"{report}: images not embedded: {bad}")
    for s in sources:
        if not base64.b64decode(s.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n"):
            raise AssertionError(f"{report}: an embedded image is not a PNG")
    screenshot(report, shot, width, height)
    pixels = (matplotlib.image.imread(shot)[:, :, :3] * 255).round().astype(np.int64)
    packed_shot = packed(pixels)
    palette = (CLASS_PALETTE[:, 0].astype(np.int64) << 16) | (CLASS_PALETTE[:, 1].astype(np.int64) << 8) | CLASS_PALETTE[:, 2]
    class_pixels = int(np.isin(packed_shot, palette).sum())
    non_white = float((pixels.min(axis=2) < 250).mean())
    if class_pixels < 1000:
        raise AssertionError(f"{shot}: only {class_pixels} pixels in class colours: the pictures did not show")
    one_to_one, scaled = [], []
    alts = re.findall(r'<img[^>]*\salt="([^"]*)"[^>]*\ssrc="data:image/png;base64,([^"]*)"', page)
    widths = {}
    for alt, data in alts:  # a loop over the page's images
        image = (matplotlib.image.imread(io.BytesIO(base64.b64decode(data)))[:, :, :3] * 255).round()
        widths[alt] = image.shape[1]
        shown = shown_one_to_one(packed(image), packed_shot)
        if shown is True:
            one_to_one.append(f"{alt} ({image.shape[1]} px)")
        elif image.shape[1] > width - 50:
            scaled.append(f"{alt} ({image.shape[1]} px)")
    content = width - 2 * 24 - 2  # the body's margins and the image border
    too_wide = [f"{a} ({w} px)" for a, w in widths.items() if "predicted | ground truth | errors" in a and w > content]
    if too_wide:
        raise AssertionError(f"{report}: overviews wider than the {content} px the page has at {width} px: {', '.join(too_wide)}; "
                             "the browser scales them and their legend text with them")
    return {"images": len(sources), "screenshot": str(shot), "size": f"{pixels.shape[1]}x{pixels.shape[0]}",
            "class_colour_pixels": class_pixels, "non_white_share": round(non_white, 3),
            "shown_at_100%": "; ".join(one_to_one) or "none", "wider_than_the_window": "; ".join(scaled) or "none"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="screenshot PNG (default: REPORT's folder/report_screenshot.png)")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=3000)
    args = ap.parse_args()
    try:
        result = check(args.report, args.out or args.report.parent / "report_screenshot.png", args.width, args.height)
    except (FileNotFoundError, RuntimeError, AssertionError) as err:
        sys.exit(f"check_report.py: {err}")
    print(", ".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
