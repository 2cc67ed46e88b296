"""Tile, voxelize and split labelled scenes: python tools/prepare_stpls3d.py --src DIR --out DIR [--config X.yaml].

Scenes: STPLS3D text (N_points_GTv3.txt), PLY, LAS/LAZ (classification through a class map), e.g.
    python tools/prepare_stpls3d.py --src tiles/ --out prepared/ --pattern "*.laz" --class-map asprs --test-scenes tile_03,tile_07
"""

import json

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.config import load_config
from pointseg.data.prepare import prepare_dataset


def parse_test_scenes(text: str) -> list[int | str]:
    """'5,10,tile_a' -> [5, 10, 'tile_a']: STPLS3D numbers and scene names (file names without suffix)."""
    return [int(t) if t.strip().isdigit() else t.strip() for t in text.split(",") if t.strip()]


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--src", default="data/stpls3d/Synthetic_v3_InstanceSegmentation", help="folder of scene files")
    ap.add_argument("--out", required=True, help="prepared output directory")
    ap.add_argument("--config", default=None, help="YAML config (its data: section); default: the paper's settings")
    ap.add_argument("--pattern", default=None, help="scene files to take, e.g. '*.laz' or '*.la[sz]' (default: data.scene_glob)")
    ap.add_argument("--class-map", default=None, help="LAS/LAZ codes -> classes: a configs/class_maps name or YAML path (default: data.class_map)")
    ap.add_argument("--test-scenes", default=None, help="test split: STPLS3D numbers and/or scene names, e.g. '5,10' or 'tile_a,tile_b' (default: data.test_scenes)")
    ap.add_argument("--workers", type=int, default=1, help="scenes prepared in parallel")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    ap.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. data.voxel_size=0.1 data.test_scenes=[5]")
    args = ap.parse_args()
    cfg = load_config(args.config, args.overrides)
    if args.pattern is not None:
        cfg.data.scene_glob = args.pattern
    if args.class_map is not None:
        cfg.data.class_map = args.class_map
    if args.test_scenes is not None:
        cfg.data.test_scenes = parse_test_scenes(args.test_scenes)
    summary = prepare_dataset(args.src, args.out, cfg.data, args.workers, args.overwrite)
    print(f"prepared {summary['scenes']} scenes, {summary['points']:,} points in {summary['seconds']:.1f} s; patches per split: {json.dumps(summary['patches'])}")
    print("class weights:", ", ".join(f"{w:.2f}" for w in summary["class_weights"]))


if __name__ == "__main__":
    cli.run(main)
