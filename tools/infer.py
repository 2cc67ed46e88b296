"""Label whole scenes: python tools/infer.py (--model lidar|photogrammetry | --ckpt CKPT) --input SCENE_OR_DIR --out DIR [--device cuda|cpu] [--stride 25] [--tta 4] [infer.KEY=VALUE ...].

--model picks a model shipped with pointseg: lidar (airborne LiDAR without colour: intensity, return numbers, height
above ground) or photogrammetry (xyz + rgb); --ckpt a checkpoint of your own (tools/train.py).

Scenes: STPLS3D .txt, .ply, .las, .laz. Output <scene>_pred.<format>: by default the input's format (LAS -> LAS,
LAZ -> LAZ, txt/PLY -> PLY); a LAS/LAZ output is a copy of the input with pred_class, confidence and entropy added
(descriptions on each); --crs EPSG:32633 (or WKT) gives outputs of inputs without a CRS (text, PLY) one.
A folder of adjacent tiles labelled as one cloud: --coverage [--buffer METRES]. Resume an interrupted run:
--skip-existing. Several GPUs or nodes: torchrun --nproc_per_node 8 tools/infer.py ... (the scenes or tiles
are shared among the ranks, largest first; rank 0 writes the metrics of the whole set).
A file larger than --max-memory is labelled tile by tile from disk, with the labels of the in-memory run.
A bad scene among many is skipped with one line (the others are labelled and scored; exit status 1); --strict stops at it.
Every flag is an infer.* setting of the checkpoint's config (e.g. --stride 25 is infer.stride=25), checked before any scene is read.
"""

import sys
from typing import get_args

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.config import OutputFormat, WriteClass, flag_settings


SHOWN = 5  # labelled files named one by one; more are counted


def written_lines(summary: dict, out: str) -> list[str]:
    """The last lines of a run: what it wrote where (labelled files and records, metrics with their units, report)."""
    skipped = f" ({summary['skipped']} already done, skipped)" if summary["skipped"] else ""
    outputs = summary["outputs"]
    lines = [f"labelled {summary['scenes']} scene(s) into {out}{skipped}:"]
    lines += [f"  {p} (record: {p.name.rsplit('.', 1)[0]}.json)" for p in outputs[:SHOWN]]
    if len(outputs) > SHOWN:
        lines.append(f"  ... and {len(outputs) - SHOWN} more (<scene>_pred.* with <scene>_pred.json)")
    if summary["metrics"]:
        json_path, csv_path = summary["metrics"]
        lines.append(f"metrics: {json_path} (fractions 0..1), {csv_path} (percent); the table above is in percent")
    else:
        lines.append("metrics: none (no input has ground truth)")
    if summary["report"] is not None:
        lines.append(f"report: {summary['report']} (pictures in {summary['report'].parent / 'pictures'})")
    return lines


def main() -> int:
    ap = cli.argument_parser(__doc__)
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", choices=["lidar", "photogrammetry"], help="a model shipped with pointseg (docs/models.md)")
    which.add_argument("--ckpt", help="a checkpoint of your own")
    ap.add_argument("--input", required=True, help="a .txt/.ply/.las/.laz scene or a directory of them")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--stride", type=float, default=None, help="patch stride in metres (infer.stride; default 25)")
    ap.add_argument("--batch-size", type=int, default=None, help="patches per forward pass (infer.batch_size on a GPU, infer.cpu_batch_size on the CPU)")
    ap.add_argument("--colorize", action="store_true", default=None, help="PLY output: colour points by predicted class instead of their rgb")
    ap.add_argument("--format", choices=get_args(OutputFormat), default=None,
                    help="output format (infer.output_format; default 'auto': the input's own; txt -> ply)")
    ap.add_argument("--write-class", choices=get_args(WriteClass), default=None,
                    help="LAS/LAZ: the prediction as an extra dimension 'pred_class' (default), or also into 'classification' as "
                         "class-map codes (the input's codes kept in 'original_class')")
    ap.add_argument("--crs", default=None, help="EPSG code (EPSG:32633, EPSG:32633+5773) or WKT for outputs of inputs without a CRS "
                                                "(infer.crs); refused for an input that carries another one")
    ap.add_argument("--probabilities", action="store_true", default=None,
                    help="also write each class's probability (LAS: prob_<class>, PLY: scalar_prob_<class>)")
    ap.add_argument("--class-map", default=None, help="LAS/LAZ codes <-> classes: a shipped map's name or a YAML path (default: the checkpoint's data.class_map)")
    ap.add_argument("--coverage", action="store_true", default=None, help="the input folder holds adjacent tiles of one cloud: label them without seams")
    ap.add_argument("--buffer", type=float, default=None,
                    help="metres of neighbouring tiles' points around each tile (implies --coverage; infer.coverage_buffer, -1: one patch)")
    ap.add_argument("--skip-existing", action="store_true", help="skip scenes whose complete output from the same checkpoint, settings and unchanged input exists "
                         "(other settings stop the run; a changed input is labelled again)")
    ap.add_argument("--units", choices=["auto", "m", "ft", "ftUS"], default=None,
                    help="coordinate units of inputs without a CRS (infer.units; default auto: metres); a LAS/LAZ CRS decides its own")
    ap.add_argument("--max-memory", type=float, default=None,
                    help="GiB a scene may take in memory; larger files are labelled tile by tile from disk (infer.max_memory; 0: a sixth of this machine's)")
    ap.add_argument("--tta", type=int, default=None, help="test-time augmentation: views averaged (rotations about z, mirrored); infer.tta, 1: none")
    ap.add_argument("--pictures", action="store_true", help="also maps of each scene, confusion matrices, IoU chart and OUT/report.html")
    ap.add_argument("--strict", action="store_true", help="stop at the first bad scene (default: skip it with one line, label the others, exit 1)")
    ap.add_argument("overrides", nargs="*", help="dotted infer.* settings on top of the checkpoint's config, e.g. infer.edge_weight=0.1")
    args = cli.parse(ap)

    from pointseg.distributed import cleanup, setup_distributed
    from pointseg.models.shipped import shipped_checkpoint
    from pointseg.predict.label import label_scenes

    ckpt = shipped_checkpoint(args.model) if args.model else args.ckpt

    info = setup_distributed(args.device)
    settings = flag_settings(
        "infer", stride=args.stride, colorize=args.colorize, output_format=args.format, write_class=args.write_class,
        probabilities=args.probabilities, class_map=args.class_map, coverage=True if args.buffer is not None else args.coverage,
        coverage_buffer=args.buffer, tta=args.tta, units=args.units, crs=args.crs, max_memory=args.max_memory,
        **{"batch_size" if info.device.type == "cuda" else "cpu_batch_size": args.batch_size})
    try:
        summary = label_scenes(ckpt, args.input, args.out, info.device, args.overrides, settings, skip_existing=args.skip_existing,
                               strict=args.strict, pictures=args.pictures, rank=info.rank, world=info.world_size)
    finally:
        cleanup()
    if not info.is_main:
        return 0
    if summary["table"]:
        print(summary["table"])
    for line in written_lines(summary, args.out):
        print(line)
    if summary["failed"]:
        print(f"skipped {len(summary['failed'])} bad scene(s):", file=sys.stderr)
        for message in summary["failed"].values():
            print(f"  {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    cli.run(main)
