"""Score saved predictions: python tools/evaluate.py --pred DIR_OF_*_pred.ply|las|laz --gt DIR_OF_SCENES [--class-map asprs]."""


import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.config import load_config
from pointseg.engine.labeling import evaluate_predictions


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--pred", required=True)
    ap.add_argument("--gt", required=True)
    ap.add_argument("--class-map", default="asprs", help="LAS/LAZ ground truth: codes -> classes (a configs/class_maps name or YAML path)")
    ap.add_argument("--pictures", action="store_true", help="also maps of each scene, confusion matrices, IoU chart and PRED/report.html")
    ap.add_argument("--config", default=None, help="a YAML config whose viz: section sets how the pictures are drawn")
    args = ap.parse_args()
    print(evaluate_predictions(args.pred, args.gt, args.class_map, pictures=args.pictures, viz=load_config(args.config).viz))
    if args.pictures:
        print(f"report: {args.pred}/report.html")


if __name__ == "__main__":
    cli.run(main)
