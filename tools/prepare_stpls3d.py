"""Tile, voxelize and split labelled scenes: python tools/prepare_stpls3d.py --src DIR --out DIR [--config X.yaml] [KEY=VALUE ...].

Scenes: STPLS3D text (N_points_GTv3.txt), PLY, LAS/LAZ (classification through a class map), e.g.
    python tools/prepare_stpls3d.py --src tiles/ --out prepared/ --pattern "*.laz" --class-map asprs --test-scenes tile_03,tile_07
Every flag is a data.* setting (--pattern is data.scene_glob), checked before any scene is read.
"""

import json

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.config import flag_settings, load_config


def parse_test_scenes(text: str) -> list[int | str]:
    """'5,10,tile_a' -> [5, 10, 'tile_a']: STPLS3D numbers and scene names (file names without suffix)."""
    return [int(t) if t.strip().isdigit() else t.strip() for t in text.split(",") if t.strip()]


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--src", default="data/stpls3d/Synthetic_v3_InstanceSegmentation", help="folder of scene files")
    ap.add_argument("--out", required=True, help="prepared output directory")
    ap.add_argument("--config", default=None, help="a YAML file or a shipped config's name (its data: section); default: the paper's settings")
    ap.add_argument("--pattern", default=None, help="scene files to take, e.g. '*.laz' or '*.la[sz]' (data.scene_glob)")
    ap.add_argument("--class-map", default=None, help="LAS/LAZ codes -> classes: a shipped map's name or YAML path (data.class_map)")
    ap.add_argument("--test-scenes", default=None, help="test split: STPLS3D numbers and/or scene names, e.g. '5,10' or 'tile_a,tile_b' (data.test_scenes)")
    ap.add_argument("--units", choices=["auto", "m", "ft", "ftUS"], default=None,
                    help="coordinate units of scenes without a CRS (data.units; default auto: metres); a LAS/LAZ CRS decides its own")
    ap.add_argument("--workers", type=int, default=1, help="scenes prepared in parallel")
    ap.add_argument("--max-memory", type=float, default=None,
                    help="GiB a scene may take in memory; larger files are prepared tile by tile from disk (data.max_memory; 0: a sixth of this machine's)")
    ap.add_argument("--overwrite", action="store_true", help="replace an output directory prepare wrote before")
    ap.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. data.voxel_size=0.1 data.test_scenes=[5]")
    args = cli.parse(ap)
    tests = parse_test_scenes(args.test_scenes) if args.test_scenes is not None else None
    cfg = load_config(args.config, args.overrides, flag_settings("data", scene_glob=args.pattern, class_map=args.class_map, test_scenes=tests,
                                                                     units=args.units, max_memory=args.max_memory))

    from pointseg.data.prepare import prepare_dataset

    summary = prepare_dataset(args.src, args.out, cfg.data, args.workers, args.overwrite)
    print(f"prepared {summary['scenes']} scenes, {summary['points']:,} points in {summary['seconds']:.1f} s; patches per split: {json.dumps(summary['patches'])}")
    print("class weights:", ", ".join(f"{w:.2f}" for w in summary["class_weights"]))


if __name__ == "__main__":
    cli.run(main)
