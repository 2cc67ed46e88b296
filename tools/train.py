"""Train the sparse U-Net: python tools/train.py --config X.yaml --data PREPARED --work-dir DIR [--resume | --restart] [KEY=VALUE ...].

Dotted overrides change any config value: train.lr=1e-3 model.channels=[32,64,96,128,160,192,224].

Several GPUs or nodes: torchrun --nproc_per_node 8 tools/train.py ... (NCCL; gloo on CPU).
"""


import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.config import load_config
from pointseg.engine.distributed import cleanup
from pointseg.engine.trainer import train


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--config", required=True)
    ap.add_argument("--data", required=True, help="directory written by tools/prepare_stpls3d.py")
    ap.add_argument("--work-dir", required=True, help="checkpoints (last.pt, best.pt) and metrics.jsonl")
    ap.add_argument("--resume", action="store_true", help="continue from work-dir/last.pt, exactly where it stopped")
    ap.add_argument("--restart", action="store_true", help="move a run already in work-dir aside (to WORK.previous-K) and start over")
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--epochs", type=int, default=None, help="the same as train.epochs=N")
    ap.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. train.lr=1e-3 loss.class_weights=sqrt")
    args = ap.parse_args()
    overrides = list(args.overrides) + ([f"train.epochs={args.epochs}"] if args.epochs is not None else [])
    cfg = load_config(args.config, overrides)
    try:
        train(cfg, args.data, args.work_dir, args.resume, args.device, restart=args.restart)
    finally:
        cleanup()


if __name__ == "__main__":
    cli.run(main)
