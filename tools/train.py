"""Train the sparse U-Net: python tools/train.py --config X.yaml --data PREPARED --work-dir DIR [--resume | --restart] [KEY=VALUE ...].

Dotted overrides change any config value: train.lr=1e-3 model.channels=[32,64,96,128,160,192,224].
--config takes a path or a shipped config's name (recommended, cpu_demo, unet_aspp_wdice, ...).

Several GPUs or nodes: torchrun --nproc_per_node 8 tools/train.py ... (NCCL; gloo on CPU).
"""

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.config import flag_settings, load_config


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--config", required=True, help="a YAML file or a shipped config's name")
    ap.add_argument("--data", required=True, help="directory written by tools/prepare_stpls3d.py")
    ap.add_argument("--work-dir", required=True, help="checkpoints (last.pt, best.pt) and metrics.jsonl")
    ap.add_argument("--resume", action="store_true", help="continue from work-dir/last.pt, exactly where it stopped")
    ap.add_argument("--restart", action="store_true", help="move a run already in work-dir aside (to WORK.previous-K) and start over")
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--epochs", type=int, default=None, help="the same as train.epochs=N")
    ap.add_argument("overrides", nargs="*", help="dotted config overrides, e.g. train.lr=1e-3 loss.class_weights=sqrt")
    args = cli.parse(ap)
    cfg = load_config(args.config, args.overrides, flag_settings("train", epochs=args.epochs))

    from pointseg.distributed import cleanup
    from pointseg.train.loop import train

    try:
        train(cfg, args.data, args.work_dir, args.resume, args.device, restart=args.restart)
    finally:
        cleanup()


if __name__ == "__main__":
    cli.run(main)
