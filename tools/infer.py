"""Label whole scenes: python tools/infer.py --ckpt CKPT --input SCENE_OR_DIR --out DIR [--device cuda|cpu] [--stride 25].

A folder of adjacent tiles labelled as one cloud: --coverage [--buffer METRES]. Resume an interrupted run:
--skip-existing. Several GPUs or nodes: torchrun --nproc_per_node 8 tools/infer.py ... (the scenes or
tiles are shared among the ranks, largest first; rank 0 writes the metrics of the whole set).
"""

import argparse

import _bootstrap  # noqa: F401

from pointseg.engine.distributed import cleanup, setup_distributed
from pointseg.engine.labeling import label_scenes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--input", required=True, help="a .txt/.ply scene or a directory of them")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--stride", type=float, default=None, help="patch stride in metres (default: the config's infer.stride, 25)")
    ap.add_argument("--batch-size", type=int, default=None, help="patches per forward pass")
    ap.add_argument("--colorize", action="store_true", help="colour points by predicted class instead of their rgb")
    ap.add_argument("--coverage", action="store_true", help="the input folder holds adjacent tiles of one cloud: label them without seams")
    ap.add_argument("--buffer", type=float, default=None,
                    help="metres of neighbouring tiles' points around each tile (implies --coverage; default: infer.coverage_buffer, one patch)")
    ap.add_argument("--skip-existing", action="store_true", help="skip scenes whose complete output from the same checkpoint and settings exists")
    args = ap.parse_args()
    info = setup_distributed(args.device)
    try:
        summary = label_scenes(args.ckpt, args.input, args.out, info.device, args.stride, args.batch_size, args.colorize,
                               coverage=args.coverage or args.buffer is not None, buffer=args.buffer, skip_existing=args.skip_existing,
                               rank=info.rank, world=info.world_size)
    finally:
        cleanup()
    if info.is_main:
        skipped = f" ({summary['skipped']} already done, skipped)" if summary["skipped"] else ""
        print(f"labelled {summary['scenes']} scene(s) into {args.out}{skipped}")
        if summary["table"]:
            print(summary["table"])


if __name__ == "__main__":
    main()
