"""Label whole scenes: python tools/infer.py --ckpt CKPT --input SCENE_OR_DIR --out DIR [--device cuda|cpu] [--stride 25]."""

import argparse

import _bootstrap  # noqa: F401

from pointseg.engine.distributed import pick_device
from pointseg.engine.labeling import label_scenes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--input", required=True, help="a .txt/.ply scene or a directory of them")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--stride", type=float, default=None, help="patch stride in metres (default: the config's infer.stride, 25)")
    ap.add_argument("--batch-size", type=int, default=None, help="patches per forward pass")
    ap.add_argument("--colorize", action="store_true", help="colour points by predicted class instead of their rgb")
    ap.add_argument("--pictures", action="store_true", help="also maps of each scene, confusion matrices, IoU chart and OUT/report.html")
    args = ap.parse_args()
    summary = label_scenes(args.ckpt, args.input, args.out, pick_device(args.device), args.stride, args.batch_size, args.colorize,
                           pictures=args.pictures)
    print(f"labelled {summary['scenes']} scene(s) into {args.out}" + (f"; report: {args.out}/report.html" if args.pictures else ""))
    if summary["table"]:
        print(summary["table"])


if __name__ == "__main__":
    main()
