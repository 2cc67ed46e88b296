"""What happens around the training loop, kept out of it (Pointcept's hooks): the progress bar, the metrics log
(metrics.jsonl, TensorBoard), checkpoints (best.pt, last.pt), the ASPP diagnostic and the training curves.

Every hook is called on every rank (some steps are collectives); each writes on rank 0 only.
"""

import json
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from pointseg.config import config_to_dict
from pointseg.io import ownership
from pointseg.io.atomic import atomic_write_text
from pointseg.models.checkpoint import save_checkpoint
from pointseg.train.rng import gather_rng_states
from pointseg.train.run_dir import METRICS_LOG

if TYPE_CHECKING:
    from pointseg.train.loop import Trainer

log = logging.getLogger("pointseg.train")


class Hook:
    """Called by Trainer.fit at these points; the defaults do nothing."""

    def before_train(self, t: "Trainer") -> None:
        pass

    def before_epoch(self, t: "Trainer") -> None:
        pass

    def after_step(self, t: "Trainer") -> None:
        pass

    def after_epoch(self, t: "Trainer", record: dict[str, Any], confusion: np.ndarray | None) -> None:
        pass

    def after_train(self, t: "Trainer") -> None:
        pass


class ProgressBar(Hook):
    """A tqdm bar per epoch on rank 0: loss, lr and voxels/s, refreshed every 10 steps."""

    def __init__(self, enabled: bool):
        self.enabled, self.bar = enabled, None

    def before_epoch(self, t: "Trainer") -> None:
        self.bar = tqdm(total=t.steps_per_epoch, desc=f"epoch {t.epoch + 1}/{t.cfg.train.epochs}", disable=not (self.enabled and t.dist.is_main), leave=False)

    def after_step(self, t: "Trainer") -> None:
        e = t.epoch_stats
        if not self.bar.disable and (e.steps % 10 == 1 or e.steps == t.steps_per_epoch):
            rate = e.voxels * t.dist.world_size / max(time.perf_counter() - e.started, 1e-9)
            self.bar.set_postfix(loss=f"{float(e.loss_sum) / e.steps:.4f}", lr=f"{t.lr:.2e}", vox_s=f"{rate:.3g}")
        self.bar.update()

    def after_epoch(self, t: "Trainer", record: dict[str, Any], confusion: np.ndarray | None) -> None:
        self.bar.close()


class MetricsLog(Hook):
    """config.json at the start; one JSON line per epoch in metrics.jsonl and a log line; TensorBoard scalars, and
    per-class validation IoU and the confusion matrix as images, when TensorBoard is installed."""

    def __init__(self, work_dir: Path):
        self.work_dir, self.tb = work_dir, None

    def before_train(self, t: "Trainer") -> None:
        if not t.dist.is_main:
            return
        atomic_write_text(self.work_dir / "config.json", json.dumps(config_to_dict(t.cfg), indent=1))
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.work_dir / "tensorboard"))
        except Exception:  # tensorboard is optional
            self.tb = None

    def after_epoch(self, t: "Trainer", record: dict[str, Any], confusion: np.ndarray | None) -> None:
        if not t.dist.is_main:
            return
        with open(self.work_dir / METRICS_LOG, "a") as f:
            f.write(json.dumps(record) + "\n")
        ownership.record(self.work_dir / METRICS_LOG)
        log.info("epoch %d: %s", record["epoch"], ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items() if k != "epoch"))
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self.tb.add_scalar(k, v, record["epoch"])
            if confusion is not None:
                from pointseg.viz.tensorboard import log_validation

                log_validation(self.tb, record["epoch"], confusion)
            self.tb.flush()
            ownership.record(*(p for p in (self.work_dir / "tensorboard").rglob("*") if p.is_file()))


class Checkpointer(Hook):
    """best.pt when validation mIoU improved, then last.pt, each epoch (atomic; best before last: killed in
    between, the resumed run redoes this epoch identically), with every rank's RNG states."""

    def __init__(self, work_dir: Path):
        self.last, self.best = work_dir / "last.pt", work_dir / "best.pt"

    def after_epoch(self, t: "Trainer", record: dict[str, Any], confusion: np.ndarray | None) -> None:
        rng = gather_rng_states()  # a collective: every rank takes part
        if not t.dist.is_main:
            return
        improved = "val_miou" in record and not math.isnan(record["val_miou"]) and record["val_miou"] > t.best_miou
        if improved:
            t.best_miou = record["val_miou"]
        state = {**t.state_dict(), "record": record, "rng": rng}
        if improved:
            save_checkpoint(self.best, state, t.cfg)
        save_checkpoint(self.last, state, t.cfg)


class AsppReport(Hook):
    """Logs how many active neighbours a bridge voxel sees at each ASPP dilation, on the first validation patch."""

    def before_train(self, t: "Trainer") -> None:
        if not (t.dist.is_main and t.cfg.model.aspp):
            return
        from pointseg.models.diagnostics import aspp_neighbour_report

        report = aspp_neighbour_report(t.val_ds[0].voxel_coords, len(t.cfg.model.channels) - 1, t.cfg.model.aspp_dilations)
        log.info("ASPP bridge: mean active neighbours (of 26) per bridge voxel by dilation: %s", ", ".join(f"d={d}: {v:.2f}" for d, v in report.items()))


class TrainingCurves(Hook):
    """work_dir/training_curves.png from metrics.jsonl when training ends."""

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir

    def after_train(self, t: "Trainer") -> None:
        if t.dist.is_main and (self.work_dir / METRICS_LOG).is_file():
            from pointseg.viz.plots import write_training_curves

            log.info("training curves: %s", write_training_curves(self.work_dir))
