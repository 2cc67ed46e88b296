"""Look at a labelled cloud in an Open3D window: python tools/view.py FILE [--gt GT] [--point-size 2].

FILE: a prediction file (<scene>_pred.ply/.las/.laz) or a labelled scene; --gt adds the ground truth and the errors
(a labelled LAS/LAZ copy, or a PLY of a LAS/LAZ input, carries its input's classification: that is the ground truth
without --gt, through --class-map, by default the one it was labelled with).
Keys: C predicted classes, G ground truth, E errors, F confidence, H entropy, R rgb,
+ / - point size, Q or Esc quit. The legend of the current colouring is printed in this terminal.
--screenshot PNG [--colour MODE]: draw one colouring, save the window as a PNG and quit (also under xvfb-run).
Without a display (e.g. over ssh) it says so and points to tools/render.py, which draws PNG pictures.
"""

import os
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.errors import EnvironmentProblem, InputError

KEYS = {"C": "pred", "G": "truth", "E": "errors", "F": "confidence", "H": "entropy", "R": "rgb"}


def no_display_message(file: str, gt: str | None) -> str:
    render = f"python tools/render.py {file}" + (f" --gt {gt}" if gt else "")
    return f"view.py: no display here (DISPLAY and WAYLAND_DISPLAY are unset), so no window can open; draw PNG pictures instead: {render}"


def has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True  # macOS and Windows always have a window system
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("file")
    ap.add_argument("--gt", default=None, help="the ground-truth scene of the same points")
    ap.add_argument("--point-size", type=float, default=2.0)
    ap.add_argument("--errors", choices=["truth", "red"], default="truth", help="colour of wrong points")
    ap.add_argument("--class-map", default=None, help="LAS/LAZ codes -> classes for the ground truth a file carries "
                                                      "(default: the one it was labelled with, from <scene>_pred.json; else asprs)")
    ap.add_argument("--colour", choices=list(KEYS.values()), default=None, help="the colouring to start with (default: pred)")
    ap.add_argument("--screenshot", default=None, help="save the window as this PNG and quit")
    args = cli.parse(ap)
    if not has_display():
        raise EnvironmentProblem(no_display_message(args.file, args.gt))

    import numpy as np
    import open3d as o3d

    from pointseg.viz.cloud import read_labelled
    from pointseg.viz.colours import BACKGROUND, available, colouring, legend_text

    cloud = read_labelled(Path(args.file), args.gt, args.class_map)
    have = available(cloud)
    points = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud.xyz - cloud.xyz.min(axis=0)))
    cache: dict[str, np.ndarray] = {}

    def show(mode: str):
        def callback(vis) -> bool:
            if mode not in have:
                print(f"no {mode} in {args.file}" + ("" if mode not in ("truth", "errors") else
                                                     " (it carries no classification of its input: pass --gt GROUND_TRUTH)"))
                return False
            if mode not in cache:
                colours, legend = colouring(cloud, mode, args.errors)
                cache[mode] = colours.astype(np.float64) / 255
                cache[mode + ":legend"] = legend_text(legend)
            points.colors = o3d.utility.Vector3dVector(cache[mode])
            print(cache[mode + ":legend"])
            vis.update_geometry(points)
            return True
        return callback

    def point_size(step: float):
        def callback(vis) -> bool:
            opt = vis.get_render_option()
            opt.point_size = float(max(1.0, min(20.0, opt.point_size + step)))
            print(f"point size {opt.point_size:g}")
            return True
        return callback

    vis = o3d.visualization.VisualizerWithKeyCallback()
    if not vis.create_window(window_name=f"pointseg: {cloud.name}", width=1400, height=900):
        raise EnvironmentProblem(no_display_message(args.file, args.gt))
    first = args.colour or ("pred" if "pred" in have else have[0])
    if first not in have:
        raise InputError(f"{args.file}: cannot colour by '{first}' (available: {', '.join(have)})")
    show(first)(vis)
    vis.add_geometry(points)
    vis.get_render_option().point_size = args.point_size
    vis.get_render_option().background_color = np.array(BACKGROUND) / 255  # the maps' background; heat colours keep >= 3:1 on it
    if args.screenshot:
        vis.poll_events()
        vis.update_renderer()
        vis.capture_screen_image(args.screenshot, do_render=True)
        vis.destroy_window()
        print(f"saved {args.screenshot}")
        return
    for key, mode in KEYS.items():
        vis.register_key_callback(ord(key), show(mode))
    for code in (ord("="), ord("+"), 334):  # '=' / '+' and keypad '+'
        vis.register_key_callback(code, point_size(1.0))
    for code in (ord("-"), 333):  # '-' and keypad '-'
        vis.register_key_callback(code, point_size(-1.0))
    print("keys: " + ", ".join(f"{k} {m}" for k, m in KEYS.items() if m in have) + ", +/- point size, Q quit")
    vis.run()
    vis.destroy_window()


if __name__ == "__main__":
    cli.run(main)
