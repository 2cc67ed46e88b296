"""Write synthetic STPLS3D-format scenes: python tools/make_synthetic.py --out DIR [--scenes 1-5] [--size 500]."""


import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.data.synthetic_files import write_synthetic_scenes


def parse_scenes(text: str) -> list[int]:
    """'1-5,10' -> [1, 2, 3, 4, 5, 10]."""
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--out", required=True, help="directory for N_points_GTv3.txt files")
    ap.add_argument("--scenes", default="1-25", help="scene numbers, e.g. '1-25' or '1,2,5'")
    ap.add_argument("--size", type=float, default=500.0, help="scene side in metres")
    ap.add_argument("--density", type=float, default=9.0, help="points per square metre")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for path in write_synthetic_scenes(args.out, parse_scenes(args.scenes), args.size, args.density, args.seed):
        print(path)


if __name__ == "__main__":
    cli.run(main)
