"""Tile, voxelize and split STPLS3D scenes: python tools/prepare_stpls3d.py --src DIR --out DIR [--config X.yaml]."""

import json

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.config import load_config
from pointseg.data.prepare import prepare_dataset


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--src", default="data/stpls3d/Synthetic_v3_InstanceSegmentation", help="folder of N_points_GTv3.txt scenes")
    ap.add_argument("--out", required=True, help="prepared output directory")
    ap.add_argument("--config", default=None, help="YAML config (its data: section); default: the paper's settings")
    ap.add_argument("--workers", type=int, default=1, help="scenes prepared in parallel")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    args = ap.parse_args()
    cfg = load_config(args.config)
    summary = prepare_dataset(args.src, args.out, cfg.data, args.workers, args.overwrite)
    print(f"prepared {summary['scenes']} scenes, {summary['points']:,} points in {summary['seconds']:.1f} s; patches per split: {json.dumps(summary['patches'])}")
    print("class weights:", ", ".join(f"{w:.2f}" for w in summary["class_weights"]))


if __name__ == "__main__":
    cli.run(main)
