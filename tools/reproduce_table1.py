"""Table I in one command: python tools/reproduce_table1.py [--src DIR] [--root runs/table1] [--epochs N | --minutes M] [KEY=VALUE ...].

Trains the paper's three models (unet_wce, unet_aspp_wce, unet_aspp_wdice: 0.02 m voxels, W_c = max/n_c,
Adam 1e-4, batch 32) and configs/recommended.yaml within one budget per model, labels the test scenes
(5, 10, 15, 20, 25) and prints one row per model (test OA, mIoU, per-class IoU) beside the paper's numbers.
Without --src it first writes realistic synthetic STPLS3D-format scenes (--scenes, --size) under ROOT/raw.
A finished run is skipped and a cut one resumed, so the same command picks up where it stopped; what other overrides,
another --src or edited scenes decide is done again (pointseg.study says why in a warning). Dotted
overrides apply to every model (e.g. train.batch_size=8 for a smaller GPU). The table is ROOT/table.md.
"""

from pathlib import Path

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.config import flag_settings, load_config
from pointseg.errors import ConfigError

# The paper's Table I on STPLS3D Synthetic_v3 (OA, mIoU in percent)
MODELS = {
    "unet_wce": ("unet_wce", (92.19, 46.23)),
    "unet_aspp_wce": ("unet_aspp_wce", (92.81, 46.79)),
    "unet_aspp_wdice": ("unet_aspp_wdice", (96.53, 63.59)),
    "recommended": ("recommended", None),
}


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--src", default=None, help="a folder of N_points_GTv3.txt scenes (default: synthetic scenes under ROOT/raw)")
    ap.add_argument("--root", default="runs/table1")
    ap.add_argument("--scenes", default="1-25", help="synthetic scene numbers to write when --src is not given")
    ap.add_argument("--size", type=float, default=250.0, help="side of the synthetic scenes in metres")
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, default=None, help="epochs per model (train.epochs; default: the configs' 300)")
    budget.add_argument("--minutes", type=float, default=None, help="training minutes per model (train.time_budget_min)")
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--workers", type=int, default=1, help="processes for writing and preparing scenes")
    ap.add_argument("overrides", nargs="*", help="dotted config overrides for every model, e.g. train.batch_size=8")
    args = cli.parse(ap)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ConfigError(f"--models: unknown {unknown}; choose from {', '.join(MODELS)}")
    budget = flag_settings("train", epochs=args.epochs, time_budget_min=args.minutes)
    configs = {name: load_config(MODELS[name][0], args.overrides, budget) for name in models}  # all checked before any work

    from pointseg.study import markdown_table, run_model, write_table
    from pointseg.synthetic.files import ensure_scenes, parse_scene_numbers

    root = Path(args.root)
    src = Path(args.src) if args.src else root / "raw"
    if args.src is None:
        ensure_scenes(src, parse_scene_numbers(args.scenes), size=args.size, workers=args.workers)
    results = []
    for name in models:
        cfg = configs[name]
        print(f"{name}: training ({cfg.train.epochs} epochs" + (f", {cfg.train.time_budget_min:g} min)" if cfg.train.time_budget_min else ")"), flush=True)
        command = " ".join(["python tools/reproduce_table1.py", *(["--src", str(args.src)] if args.src else []),
                            *(["--epochs", str(args.epochs)] if args.epochs else []), *(["--minutes", str(args.minutes)] if args.minutes else []),
                            "--models", name, *args.overrides])
        results.append(run_model(name, cfg, src, root, args.device, args.workers, command=command))
        print(f"{name}: test OA {100 * results[-1].test['oa']:.2f}, mIoU {100 * results[-1].test['miou']:.2f}", flush=True)
    table = markdown_table(results, {n: MODELS[n][1] for n in models if MODELS[n][1]})
    write_table(root / "table.md", table)
    print(table)


if __name__ == "__main__":
    cli.run(main)
