"""Score saved predictions: python tools/evaluate.py --pred DIR_OF_*_pred.ply|las|laz --gt DIR_OF_SCENES [--class-map asprs] [--pictures]."""

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.config import load_config


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--pred", required=True)
    ap.add_argument("--gt", required=True)
    ap.add_argument("--class-map", default="asprs", help="LAS/LAZ ground truth: codes -> classes (a shipped map's name or a YAML path)")
    ap.add_argument("--pictures", action="store_true", help="also maps of each scene, confusion matrices, IoU chart and PRED/report.html")
    ap.add_argument("--config", default=None, help="a YAML config whose viz: section sets how the pictures are drawn")
    ap.add_argument("overrides", nargs="*", help="dotted viz.* settings, e.g. viz.resolution=0.5")
    args = cli.parse(ap)
    viz = load_config(args.config, args.overrides).viz

    from pointseg.predict.evaluate import evaluate_predictions

    print(evaluate_predictions(args.pred, args.gt, args.class_map, pictures=args.pictures, viz=viz))
    if args.pictures:
        print(f"report: {args.pred}/report.html")


if __name__ == "__main__":
    cli.run(main)
