"""Label whole scenes: python tools/infer.py --ckpt CKPT --input SCENE_OR_DIR --out DIR [--device cuda|cpu] [--stride 25] [--tta 4] [--strict] [infer.KEY=VALUE ...].

A bad scene among many is skipped with one line (the others are labelled and scored; exit status 1); --strict stops at it."""

import sys

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.engine.distributed import pick_device
from pointseg.engine.labeling import label_scenes
from pointseg.errors import InputError


def main() -> int:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--input", required=True, help="a .txt/.ply scene or a directory of them")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--stride", type=float, default=None, help="patch stride in metres (default: the config's infer.stride, 25)")
    ap.add_argument("--batch-size", type=int, default=None, help="patches per forward pass")
    ap.add_argument("--colorize", action="store_true", help="colour points by predicted class instead of their rgb")
    ap.add_argument("--tta", type=int, default=None, help="test-time augmentation: views averaged (rotations about z, mirrored); "
                    "default the config's infer.tta (1: none)")
    ap.add_argument("--strict", action="store_true", help="stop at the first bad scene (default: skip it with one line, label the others, exit 1)")
    ap.add_argument("overrides", nargs="*", help="dotted infer.* settings on top of the checkpoint's config, e.g. infer.edge_weight=0.1")
    args = ap.parse_args()
    if args.stride is not None and not args.stride > 0:
        raise InputError(f"--stride {args.stride:g}: must be a positive number of metres, at most the patch size")
    if args.batch_size is not None and args.batch_size < 1:
        raise InputError(f"--batch-size {args.batch_size}: must be at least 1")
    overrides = list(args.overrides) + ([f"infer.tta={args.tta}"] if args.tta is not None else [])
    summary = label_scenes(args.ckpt, args.input, args.out, pick_device(args.device), args.stride, args.batch_size, args.colorize,
                           strict=args.strict, overrides=overrides)
    print(f"labelled {summary['scenes']} scene(s) into {args.out}")
    if summary["table"]:
        print(summary["table"])
    if summary["skipped"]:
        print(f"skipped {len(summary['skipped'])} bad scene(s):", file=sys.stderr)
        for message in summary["skipped"].values():
            print(f"  {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    cli.run(main)
