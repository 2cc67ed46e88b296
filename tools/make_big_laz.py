"""A large synthetic LAZ for measurements: python tools/make_big_laz.py --out big.laz --tiles 8 [--size 500] [--distinct 4].

Writes --tiles x --tiles synthetic city scenes of --size metres side by side into one LAZ (LAS 1.4, point format 7:
colour, ASPRS classification through the shipped class map), streaming: only --distinct scenes are ever made (and
cached as .npz beside the output); each tile is one of them, rotated by a multiple of 90 degrees and mirrored so that
neighbours differ, and goes to the file as it is placed. 500 m scenes at 9 points per m^2 hold about 2.6 M points:
--tiles 2, 4, 8 give about 10, 41 and 166 M points.
"""

import time
from pathlib import Path

import _bootstrap  # noqa: F401

from pointseg import cli


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--out", required=True, help="the .laz (or .las) to write")
    ap.add_argument("--tiles", type=int, required=True, help="scenes per side")
    ap.add_argument("--size", type=float, default=500.0, help="side of one scene in metres")
    ap.add_argument("--density", type=float, default=9.0, help="points per m^2 seen from above")
    ap.add_argument("--distinct", type=int, default=4, help="different scenes made (the rest are turned and mirrored copies)")
    ap.add_argument("--seed", type=int, default=0)
    args = cli.parse(ap)

    import laspy
    import numpy as np

    from pointseg.io import load_class_map
    from pointseg.io.atomic import atomic_path
    from pointseg.synthetic.city import make_scene
    from pointseg.synthetic.files import DEFAULT_ORIGIN

    out = Path(args.out)
    codes = load_class_map("asprs")
    origin = np.asarray(DEFAULT_ORIGIN)
    cache = out.parent / ".make_big_laz_scenes"  # shared by every file made in this folder
    cache.mkdir(parents=True, exist_ok=True)

    def scene(k: int) -> dict:
        path = cache / f"scene_{args.seed}_{k}_{args.size:g}_{args.density:g}.npz"
        if not path.is_file():
            s = make_scene(args.seed * 1000 + k, args.size, args.density, (0.0, 0.0, 0.0))
            code = codes.to_codes(np.maximum(s.labels, 0)).astype(np.uint8)
            code[s.labels < 0] = 1  # ignored points: 'unclassified'
            np.savez(path, xyz=s.xyz, rgb=s.rgb, code=code)
        with np.load(path) as f:
            return {k: f[k] for k in f.files}

    header = laspy.LasHeader(version="1.4", point_format=7)
    header.offsets, header.scales = np.floor(origin), np.full(3, 0.001)
    start, total = time.perf_counter(), 0
    scenes = [scene(k) for k in range(args.distinct)]
    with atomic_path(out) as tmp, open(tmp, "wb") as f, laspy.LasWriter(f, header, do_compress=out.suffix.lower() == ".laz", closefd=False) as writer:
        for a in range(args.tiles):  # a loop over tiles
            for b in range(args.tiles):
                k = a * args.tiles + b
                s = scenes[k % args.distinct]
                xy = s["xyz"][:, :2] - args.size / 2
                turns, mirror = (k // args.distinct) % 4, (k // (4 * args.distinct)) % 2
                if mirror:
                    xy = xy * [-1, 1]
                xy = np.rot90(np.eye(2), turns) @ xy.T  # whole quarter turns: the scene's square stays where it is
                points = laspy.ScaleAwarePointRecord.zeros(len(xy.T), header=header)
                points.x = xy[0] + args.size / 2 + origin[0] + a * args.size
                points.y = xy[1] + args.size / 2 + origin[1] + b * args.size
                points.z = s["xyz"][:, 2] + origin[2]
                points.red, points.green, points.blue = (s["rgb"][:, i].astype(np.uint16) * 257 for i in range(3))
                points.classification = s["code"]
                writer.write_points(points)
                total += len(points)
                print(f"tile {k + 1}/{args.tiles ** 2}: {total:,} points, {time.perf_counter() - start:.0f} s", flush=True)
    print(f"{out}: {total:,} points, {out.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    cli.run(main)
