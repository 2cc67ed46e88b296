"""Score saved predictions: python tools/evaluate.py --pred DIR_OF_*_pred.ply --gt DIR_OF_SCENES."""


import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.engine.labeling import evaluate_predictions


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--pred", required=True)
    ap.add_argument("--gt", required=True)
    args = ap.parse_args()
    print(evaluate_predictions(args.pred, args.gt))


if __name__ == "__main__":
    cli.run(main)
