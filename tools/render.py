"""Pictures of labelled scenes: python tools/render.py FILE [FILE ...] [--gt GT] [--out DIR] [--resolution 0.25].

FILE is anything tools/infer.py writes (<scene>_pred.ply: predicted classes and confidence) or a scene
with a label field (then the labels are drawn as ground truth). With --gt (the labelled scene the
prediction was made from; a directory is matched by scene name), or for a labelled LAS/LAZ copy (or a PLY of a
LAS/LAZ input) that carries its input's classification, it also draws the ground truth, the errors (correct
points grey, wrong ones in their true class's colour or red) and an overview of the three.
Top-down maps (the highest point per pixel wins), titled, with coordinates at the edges, a scale bar, a north
arrow and a legend, plus an oblique view:
--oblique zbuffer (numpy, always works), open3d (Open3D's offscreen renderer: needs Vulkan, on a
machine without a GPU Mesa's software driver, `apt-get install libvulkan1 mesa-vulkan-drivers`;
where it cannot start, the tool says so and draws the zbuffer view), or none.
Training curves of a run: python tools/plot_training.py WORK_DIR.
"""

from pathlib import Path

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.config import flag_settings, load_config
from pointseg.errors import InputError, InputNotFoundError

MODES = ("pred", "truth", "errors", "confidence", "entropy", "rgb")
SCENE_SUFFIXES = (".txt", ".ply", ".las", ".laz")


def truth_for(file: Path, gt: Path | None) -> Path | None:
    """--gt as given (a file), or the scene of the same name in the --gt directory."""
    from pointseg.io.predictions import source_name

    if gt is None or gt.is_file():
        return gt
    if not gt.is_dir():
        raise InputNotFoundError(f"{gt}: no such file or directory (--gt)")
    name = source_name(file)
    found = [gt / f"{name}{s}" for s in SCENE_SUFFIXES if (gt / f"{name}{s}").is_file()]
    if not found:
        raise InputNotFoundError(f"{gt}: no ground truth '{name}.txt/.ply/.las/.laz' for {file.name}")
    return found[0]


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("files", nargs="+", type=Path, help="prediction files (<scene>_pred.ply) or labelled scenes")
    ap.add_argument("--gt", type=Path, default=None, help="the ground-truth scene, or a directory of them (matched by name)")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: FILE's folder/pictures)")
    ap.add_argument("--config", default=None, help="a YAML config whose viz: section sets the defaults below")
    ap.add_argument("--resolution", type=float, default=None, help="metres per pixel (viz.resolution, 0.25)")
    ap.add_argument("--max-pixels", type=int, default=None, help="longest side of a map; bigger scenes get coarser pixels (viz.max_pixels)")
    ap.add_argument("--views", default=None, help=f"comma-separated, of {','.join(MODES)} (default: all the file supports)")
    ap.add_argument("--errors", choices=["truth", "red"], default=None, help="colour of wrong points (viz.errors)")
    ap.add_argument("--oblique", choices=["zbuffer", "open3d", "none"], default=None, help="the oblique view (viz.oblique)")
    ap.add_argument("--class-map", default=None, help="LAS/LAZ codes -> classes for the ground truth a labelled file carries "
                                                      "(default: the one it was labelled with, from <scene>_pred.json; else asprs)")
    args = cli.parse(ap)
    settings = flag_settings("viz", resolution=args.resolution, max_pixels=args.max_pixels, errors=args.errors, oblique=args.oblique)
    viz = load_config(args.config, settings=settings).viz
    views = [v.strip() for v in args.views.split(",")] if args.views else None
    if views and not set(views) <= set(MODES):
        raise InputError(f"--views {args.views}: choose from {', '.join(MODES)}")
    if args.gt is not None and args.gt.is_file() and len(args.files) > 1:
        raise InputError("--gt is one file but several FILEs were given; pass a directory of ground-truth scenes")

    from pointseg.io.ownership import check_replaceable
    from pointseg.io.predictions import source_name
    from pointseg.viz.cloud import read_labelled
    from pointseg.viz.names import SCENE_VIEWS, scene_picture
    from pointseg.viz.pictures import scene_pictures

    check_replaceable(*(scene_picture(args.out or file.parent / "pictures", source_name(file), v) for file in args.files for v in SCENE_VIEWS),
                      hint="nothing was drawn; move them away or choose another --out")  # before any file is read
    for file in args.files:
        cloud = read_labelled(file, truth_for(file, args.gt), args.class_map)
        out = args.out or file.parent / "pictures"
        for what, path in scene_pictures(cloud, out, viz, views).items():
            print(f"{what:>10}: {path}")


if __name__ == "__main__":
    cli.run(main)
