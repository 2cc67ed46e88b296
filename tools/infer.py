"""Label whole scenes: python tools/infer.py --ckpt CKPT --input SCENE_OR_DIR --out DIR [--device cuda|cpu] [--stride 25]."""


import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.engine.distributed import pick_device
from pointseg.engine.labeling import label_scenes


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--input", required=True, help="a .txt/.ply scene or a directory of them")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--stride", type=float, default=None, help="patch stride in metres (default: the config's infer.stride, 25)")
    ap.add_argument("--batch-size", type=int, default=None, help="patches per forward pass")
    ap.add_argument("--colorize", action="store_true", help="colour points by predicted class instead of their rgb")
    args = ap.parse_args()
    summary = label_scenes(args.ckpt, args.input, args.out, pick_device(args.device), args.stride, args.batch_size, args.colorize)
    print(f"labelled {summary['scenes']} scene(s) into {args.out}")
    if summary["table"]:
        print(summary["table"])


if __name__ == "__main__":
    cli.run(main)
