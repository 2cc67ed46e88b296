"""Write synthetic scenes: python tools/make_synthetic.py --out DIR [--scenes 1-5] [--size 500] [--sensor photogrammetry|lidar].

photogrammetry (default): STPLS3D text files N_points_GTv3.txt. lidar: airborne LiDAR scans of the same cities
as LAS 1.4 / LAZ files N_lidar.laz (ASPRS codes; read them with --class-map synthetic_lidar).
"""

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.errors import InputError

COLOURS = {"photogrammetry": ("material", "class"), "lidar": ("none", "ortho")}


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--out", required=True, help="directory for the scene files")
    ap.add_argument("--scenes", default="1-25", help="scene numbers, e.g. '1-25' or '1,2,5'")
    ap.add_argument("--size", type=float, default=500.0, help="scene side in metres")
    ap.add_argument("--sensor", choices=sorted(COLOURS), default="photogrammetry",
                    help="photogrammetry: STPLS3D text scenes (default); lidar: airborne laser scans as LAZ")
    ap.add_argument("--density", type=float, default=None,
                    help="points per square metre (photogrammetry, default 9); pulses per m^2 of one flight strip (lidar, default 10)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--colour", choices=[c for cs in COLOURS.values() for c in cs], default=None,
                    help="photogrammetry: material (default; colours from materials shared by classes) or class (each class "
                         "its own colour: easy scenes for tests of mechanics); lidar: none (default) or ortho (each point the "
                         "colour of the top-most surface at its xy, as from an orthophoto)")
    lidar = ap.add_argument_group("lidar")
    lidar.add_argument("--altitude", type=float, default=1000.0, help="flying height above the ground, m")
    lidar.add_argument("--scan-angle", type=float, default=20.0, help="scan half angle either side of nadir, degrees")
    lidar.add_argument("--overlap", type=float, default=0.3, help="share of a strip's swath the next strip covers too")
    lidar.add_argument("--units", choices=["m", "ftUS"], default="m",
                       help="m: WGS 84 / UTM 31N metres (default); ftUS: the same scene in US survey feet (EPSG:8764, heights too)")
    ap.add_argument("--workers", type=int, default=1, help="scenes written in parallel")
    args = cli.parse(ap)

    from pointseg.synthetic.files import parse_scene_numbers, refuse_existing, write_synthetic_scenes

    scenes = parse_scene_numbers(args.scenes)
    colour = args.colour or COLOURS[args.sensor][0]
    if colour not in COLOURS[args.sensor]:
        raise InputError(f"--colour {colour}: not for --sensor {args.sensor} (choose {' or '.join(COLOURS[args.sensor])})")
    if args.sensor == "photogrammetry":
        if args.units != "m":
            raise InputError("--units ftUS: only for --sensor lidar (STPLS3D scenes are in metres)")
        refuse_existing(args.out, scenes)  # before any worker writes
        write = write_synthetic_scenes
        options = (args.size, args.density or 9.0, args.seed, colour)
    else:
        from pointseg.synthetic.las_scene import lidar_path, write_lidar_scenes
        from pointseg.synthetic.lidar import Flight

        flight = Flight(density=args.density or 10.0, altitude=args.altitude, half_angle=args.scan_angle, overlap=args.overlap)
        try:
            flight.check()
        except ValueError as err:
            raise InputError(f"lidar flight: {err}") from None
        refuse_existing(args.out, scenes, lidar_path)
        write = write_lidar_scenes
        options = (args.size, flight, args.seed, None if colour == "none" else colour, args.units)
    if args.workers > 1:
        import os
        from concurrent.futures import ProcessPoolExecutor

        from pointseg.processes import exit_with_parent

        with ProcessPoolExecutor(args.workers, initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:  # none outlives a killed parent
            jobs = [pool.submit(write, args.out, [n], *options) for n in scenes]
            paths = [p for j in jobs for p in j.result()]
    else:
        paths = write(args.out, scenes, *options)
    for path in paths:
        print(path)


if __name__ == "__main__":
    cli.run(main)
