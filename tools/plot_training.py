"""Training curves of a run: python tools/plot_training.py WORK_DIR [WORK_DIR ...].

Reads WORK_DIR/metrics.jsonl (tools/train.py appends one line per epoch) and writes
WORK_DIR/training_curves.png: every loss term, the learning rate, validation OA and mIoU, voxels/s.
tools/train.py writes the same picture when it finishes; this redraws it at any time, also mid-run.
"""

import argparse
import sys

import _bootstrap  # noqa: F401

from pointseg.viz.plots import write_training_curves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work_dirs", nargs="+", help="training work directories (holding metrics.jsonl)")
    args = ap.parse_args()
    try:
        for work_dir in args.work_dirs:
            print(write_training_curves(work_dir))
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        sys.exit(f"plot_training.py: {err}")


if __name__ == "__main__":
    main()
