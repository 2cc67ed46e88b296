"""Training curves of a run: python tools/plot_training.py WORK_DIR [WORK_DIR ...].

Reads WORK_DIR/metrics.jsonl (tools/train.py appends one line per epoch) and writes
WORK_DIR/training_curves.png: every loss term, the learning rate, validation OA and mIoU, voxels/s.
tools/train.py writes the same picture when it finishes; this redraws it at any time, also mid-run.
"""

import _bootstrap  # noqa: F401

from pointseg import cli


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("work_dirs", nargs="+", help="training work directories (holding metrics.jsonl)")
    args = cli.parse(ap)

    from pointseg.viz.plots import write_training_curves

    for work_dir in args.work_dirs:
        print(write_training_curves(work_dir))


if __name__ == "__main__":
    cli.run(main)
