"""Score saved predictions: python tools/evaluate.py --pred DIR_OF_*_pred.ply|las|laz --gt DIR_OF_SCENES [--class-map asprs]."""


import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.engine.labeling import evaluate_predictions


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--pred", required=True)
    ap.add_argument("--gt", required=True)
    ap.add_argument("--class-map", default="asprs", help="LAS/LAZ ground truth: codes -> classes (a configs/class_maps name or YAML path)")
    args = ap.parse_args()
    print(evaluate_predictions(args.pred, args.gt, args.class_map))


if __name__ == "__main__":
    cli.run(main)
