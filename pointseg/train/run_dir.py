"""A training run's folder: what a run leaves there, the rules for starting, resuming or restarting one, and
reading its metrics.jsonl (one JSON line per epoch).

    WORK/config.json     the config of the run (written when it starts)
    WORK/last.pt         the latest checkpoint; WORK/best.pt the best by validation mIoU
    WORK/metrics.jsonl   one record per epoch (loss, lr, seconds, voxels/s, validation OA / mIoU)
    WORK/tensorboard/    when TensorBoard is installed
"""

import json
import logging
import os
from pathlib import Path
from typing import Any

from pointseg.errors import InputError, InputNotFoundError, OutputExistsError
from pointseg.io.atomic import atomic_write_text

log = logging.getLogger("pointseg.train")

RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl", "config.json", "tensorboard")
METRICS_LOG = "metrics.jsonl"


def run_files(work_dir: Path) -> list[str]:
    """The files of a started or finished run in work_dir."""
    return [n for n in RUN_FILES if (work_dir / n).exists()]


def describe_run(work_dir: Path) -> str:
    """'a finished run (epoch 8 of 8)', 'a started run (epoch 3 of 8)' or 'a started run (no checkpoint yet)'."""
    last = work_dir / "last.pt"
    if not last.is_file():
        return "a started run (no checkpoint yet)"
    import torch

    try:
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
        done, total = ckpt["epoch"] + 1, ckpt["config"]["train"]["epochs"]
    except Exception:  # unreadable: say what is there, not why
        return "a run (last.pt unreadable)"
    return f"a {'finished' if done >= total else 'started'} run (epoch {done} of {total})"


def aside_path(work_dir: Path) -> Path:
    """work_dir's sibling `NAME.previous-K` with the smallest free K."""
    k = 1
    while (work_dir.parent / f"{work_dir.name}.previous-{k}").exists():
        k += 1
    return work_dir.parent / f"{work_dir.name}.previous-{k}"


def check_work_dir(work_dir: Path, resume: bool, restart: bool) -> Path | None:
    """Never mix two runs in one work dir: a fresh start needs one without a run, or `restart`, which asks to move
    the old run aside (renamed, never deleted; the caller moves it and gets the target back); `resume` needs last.pt."""
    if resume and restart:
        raise InputError("--resume and --restart: choose one (continue the run in the work dir, or move it aside and start over)")
    if work_dir.exists() and not work_dir.is_dir():
        raise OutputExistsError(f"{work_dir}: exists and is not a directory; choose another --work-dir")
    found = run_files(work_dir)
    if resume and not (work_dir / "last.pt").is_file():
        hint = "; pass --restart instead to move it aside and start over" if found else "; run without --resume to start"
        raise InputNotFoundError(f"{work_dir / 'last.pt'}: nothing to resume (no checkpoint){hint}")
    if not resume and found:
        if not restart:
            raise OutputExistsError(
                f"{work_dir}: holds {describe_run(work_dir)} ({', '.join(found)}); pass --resume to continue it, "
                f"or --restart to move it aside to {aside_path(work_dir).name} and start over"
            )
        return aside_path(work_dir)
    return None


def move_aside(work_dir: Path, aside: Path) -> None:
    os.replace(work_dir, aside)
    log.warning("%s: moved the previous run aside to %s", work_dir, aside)


def read_metrics_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl, one per epoch; a resumed run's repeated epochs keep their last record."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{path}: no training log ({METRICS_LOG} is written by tools/train.py)")
    by_epoch: dict[int, dict[str, Any]] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(f"{path}: line {n} is not JSON (a truncated write?); remove that line") from None
        by_epoch[int(record["epoch"])] = record
    if not by_epoch:
        raise InputError(f"{path}: empty training log: no epoch finished yet")
    return [by_epoch[e] for e in sorted(by_epoch)]


def training_totals(work_dir: Path) -> tuple[int, float, int]:
    """(epochs, training seconds, voxels seen) over a run's metrics.jsonl."""
    records = read_metrics_log(work_dir / METRICS_LOG)
    seconds = sum(r["seconds"] for r in records)
    return len(records), seconds, int(sum(r["voxels_per_s"] * r["seconds"] for r in records))


def trim_metrics_log(path: Path, epochs_done: int) -> None:
    """Keep the records of the first `epochs_done` epochs: a run killed after writing an epoch's line but
    before its checkpoint (or mid-line) would otherwise log that epoch twice once resumed."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines()
    kept = []
    for line in lines:
        try:
            if json.loads(line)["epoch"] <= epochs_done:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    if kept != lines:
        atomic_write_text(path, "".join(f"{line}\n" for line in kept))
        log.warning("%s: dropped %d record(s) past the checkpoint's epoch %d", path, len(lines) - len(kept), epochs_done)
