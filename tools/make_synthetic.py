"""Write synthetic STPLS3D-format scenes: python tools/make_synthetic.py --out DIR [--scenes 1-5] [--size 500] [--workers 4]."""

import _bootstrap  # noqa: F401

from pointseg import cli


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--out", required=True, help="directory for N_points_GTv3.txt files")
    ap.add_argument("--scenes", default="1-25", help="scene numbers, e.g. '1-25' or '1,2,5'")
    ap.add_argument("--size", type=float, default=500.0, help="scene side in metres")
    ap.add_argument("--density", type=float, default=9.0, help="points per square metre")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--colour", choices=["material", "class"], default="material",
                    help="material: colours from materials shared by classes, as in real photogrammetry (default); "
                         "class: each class its own colour (easy scenes, for tests of mechanics)")
    ap.add_argument("--workers", type=int, default=1, help="scenes written in parallel")
    args = cli.parse(ap)

    from pointseg.synthetic.files import parse_scene_numbers, refuse_existing, write_synthetic_scenes

    scenes = parse_scene_numbers(args.scenes)
    refuse_existing(args.out, scenes)  # before any worker writes
    if args.workers > 1:
        import os
        from concurrent.futures import ProcessPoolExecutor

        from pointseg.processes import exit_with_parent

        with ProcessPoolExecutor(args.workers, initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:  # none outlives a killed parent
            jobs = [pool.submit(write_synthetic_scenes, args.out, [n], args.size, args.density, args.seed, args.colour) for n in scenes]
            paths = [p for j in jobs for p in j.result()]
    else:
        paths = write_synthetic_scenes(args.out, scenes, args.size, args.density, args.seed, args.colour)
    for path in paths:
        print(path)


if __name__ == "__main__":
    cli.run(main)
