"""The training loop: DDP over torchrun ranks, AMP, the learning-rate schedule by progress, validation, exact resume.

Logging, checkpoints and pictures are hooks (pointseg.train.hooks); the run folder's rules are in
pointseg.train.run_dir.
"""

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from pointseg.config import Config
from pointseg.constants import NUM_CLASSES
from pointseg.data.dataset import PatchDataset
from pointseg.data.manifest import identity_difference, prepared_identity
from pointseg.data.features import Batch
from pointseg.distributed import DistInfo, all_reduce_sum, barrier, gather_or_raise, setup_distributed
from pointseg.errors import ConfigError, InputError
from pointseg.io import ownership
from pointseg.io.atomic import clean_stale_temp_files
from pointseg.io.run_lock import RUN_LOCK_NAME, RunLock, check_not_a_file, lock_folder
from pointseg.losses import build_loss
from pointseg.losses.class_weights import loss_class_weights
from pointseg.metrics import scores
from pointseg.models import build_model
from pointseg.models.checkpoint import check_compatible, load_checkpoint, load_model_state
from pointseg.models.spconv_ops import place_model
from pointseg.train.hooks import AsppReport, Checkpointer, Hook, MetricsLog, ProgressBar, TrainingCurves
from pointseg.train.loader import make_loader
from pointseg.train.rng import seed_everything, set_rng_states
from pointseg.train.run_dir import METRICS_LOG, RUN_FILES, check_work_dir, move_aside, trim_metrics_log
from pointseg.train.schedules import lr_multiplier

log = logging.getLogger("pointseg.train")


def autocast(cfg: Config, device: torch.device):
    """fp16/bf16 autocast on CUDA for training; CPU (and amp: none) runs fp32."""
    enabled = device.type == "cuda" and cfg.train.amp in ("fp16", "bf16")
    dtype = torch.bfloat16 if cfg.train.amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=enabled)


def train_step(model: torch.nn.Module, criterion: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               batch: Batch, cfg: Config, device: torch.device) -> torch.Tensor:
    """One optimizer step on a batch already on `device` (forward under autocast, loss in fp32); the detached loss."""
    with autocast(cfg, device):
        logits = model(batch)
    loss = criterion(logits.float(), batch.labels)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if cfg.train.grad_clip > 0:
        scaler.unscale_(optimizer)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader, device: torch.device) -> np.ndarray:
    """Confusion matrix (C, C) over every valid point of the loader's patches, summed over ranks. fp32."""
    model.eval()
    conf = torch.zeros(NUM_CLASSES * NUM_CLASSES, dtype=torch.int64, device=device)
    for batch in loader:
        batch = batch.to(device)
        pred = model(batch).argmax(1)
        keep = batch.labels >= 0
        conf += torch.bincount(batch.labels[keep] * NUM_CLASSES + pred[keep], minlength=NUM_CLASSES * NUM_CLASSES)
    all_reduce_sum(conf)
    model.train()
    return conf.view(NUM_CLASSES, NUM_CLASSES).cpu().numpy()


def make_optimizer(cfg: Config, model: torch.nn.Module) -> torch.optim.Optimizer:
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.train.optimizer]
    return cls(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)


@dataclass
class EpochStats:
    """Running sums of the epoch in progress (device tensors: no host sync per step)."""

    started: float = field(default_factory=time.perf_counter)
    steps: int = 0
    voxels: int = 0
    loss_sum: Any = 0.0
    parts: dict[str, Any] = field(default_factory=dict)


def check_same_data(saved: dict[str, Any] | None, data: dict[str, Any], path: Path, warn: bool = True) -> None:
    """Refuse to resume a run on another prepared set than the one it was trained on (a copy of it is fine).
    saved: the checkpoint's "data" (pointseg.data.manifest.prepared_identity), None in older checkpoints."""
    if saved is None:
        if warn:
            log.warning("%s: the checkpoint does not say which prepared data it was trained on (an older pointseg); "
                        "resuming on %s", path, data["path"])
        return
    if saved.get("manifest_sha256") != data["manifest_sha256"]:
        raise InputError(f"{path}: the run was trained on other prepared data ({saved.get('path')}) than --data {data['path']}: "
                         f"{identity_difference(saved, data)}; resume with the run's own --data, or --restart to train on this one")


class Trainer:
    """Model, optimizer, schedule, loaders and progress of one run; `fit()` trains the remaining epochs."""

    def __init__(self, cfg: Config, data_dir: Path, dist: DistInfo, hooks: list[Hook]):
        self.cfg, self.dist, self.hooks = cfg, dist, hooks
        seed_everything(cfg.train.seed + dist.rank)
        if cfg.train.batch_size % dist.world_size:
            raise ConfigError(f"train.batch_size {cfg.train.batch_size} does not split over {dist.world_size} ranks")
        per_rank = cfg.train.batch_size // dist.world_size
        self.data = prepared_identity(data_dir)  # kept in checkpoints: --resume refuses another prepared set
        self.train_ds = PatchDataset(data_dir, "train", cfg, train=True, seed=cfg.train.seed)
        self.val_ds = PatchDataset(data_dir, "val", cfg, train=False)
        self.train_loader = make_loader(self.train_ds, per_rank, cfg, dist, train=True)
        self.val_loader = make_loader(self.val_ds, per_rank, cfg, dist, train=False)
        self.criterion = build_loss(cfg.loss, loss_class_weights(cfg.loss, self.train_ds.manifest["class_weights"]))
        model = build_model(cfg)
        if dist.distributed and dist.device.type == "cuda" and cfg.train.sync_bn:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.core = place_model(model, dist.device)
        self.model = DistributedDataParallel(self.core) if dist.distributed else self.core  # inputs are moved by us
        self.optimizer = make_optimizer(cfg, self.core)
        steps = len(self.train_loader)
        self.steps_per_epoch = steps if cfg.train.max_steps_per_epoch <= 0 else min(steps, cfg.train.max_steps_per_epoch)
        self.total_steps = max(1, self.steps_per_epoch * cfg.train.epochs)
        self.lr_factor = lr_multiplier(cfg.train.scheduler, cfg.train.warmup_fraction)
        self.scaler = torch.amp.GradScaler("cuda", enabled=dist.device.type == "cuda" and cfg.train.amp == "fp16")
        self.budget_s = cfg.train.time_budget_min * 60 if cfg.train.time_budget_min > 0 else math.inf
        self.epoch, self.step, self.best_miou, self.trained_s = 0, 0, -1.0, 0.0
        self.record: dict[str, Any] = {}
        self.epoch_stats = EpochStats()
        self._out_of_time = False  # the time budget ended training before the planned epochs

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint holds besides the config, the record and the RNG states."""
        return {"model": self.core.state_dict(), "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                "epoch": self.epoch, "step": self.step, "best_miou": self.best_miou, "trained_seconds": self.trained_s,
                "finished": self.finished, "data": self.data}

    def resume(self, path: Path) -> bool:
        """Restore model, optimizer, scaler, progress and RNG states from a checkpoint; False when it has nothing left to do."""
        ckpt = load_checkpoint(path)
        check_compatible(ckpt, self.cfg, path)
        check_same_data(ckpt.get("data"), self.data, path, self.dist.is_main)
        load_model_state(self.core, ckpt, path)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.step, self.best_miou = ckpt["epoch"] + 1, ckpt["step"], ckpt.get("best_miou", -1.0)
        self.trained_s, self.record = ckpt.get("trained_seconds", 0.0), ckpt.get("record", {})
        spent = self.trained_s >= self.budget_s
        if self.epoch >= self.cfg.train.epochs or spent:
            if self.dist.is_main:
                if spent:
                    log.warning("%s: the run spent its time budget (%.1f of %g min); nothing to do (raise train.time_budget_min to train further)",
                                path, self.trained_s / 60, self.cfg.train.time_budget_min)
                else:
                    log.warning("%s: the run finished epoch %d of %d; nothing to do (raise --epochs to train further)", path, self.epoch, self.cfg.train.epochs)
            return False
        states = ckpt.get("rng")
        if states is not None and len(states) == self.dist.world_size:
            set_rng_states(states[self.dist.rank])
        elif self.dist.is_main:
            log.warning("%s: saved by %s rank(s), resumed on %d: global RNG states reseeded (the patch order stays exact)",
                        path, "unknown" if states is None else len(states), self.dist.world_size)
        if self.dist.is_main:
            trim_metrics_log(path.parent / METRICS_LOG, self.epoch)
            log.info("resumed from %s: epoch %d, step %d", path, self.epoch, self.step)
        return True

    def done_fraction(self, elapsed_s: float) -> float:
        """Share of training done: of the steps, or of the time budget when one is set (rank 0's clock)."""
        if math.isinf(self.budget_s):
            return self.step / self.total_steps
        clock = torch.tensor([elapsed_s if self.dist.is_main else 0.0], dtype=torch.float64, device=self.dist.device)
        return max(self.step / self.total_steps, float(all_reduce_sum(clock)) / self.budget_s)  # the same lr on every rank

    @property
    def finished(self) -> bool:
        return self.epoch + 1 == self.cfg.train.epochs or self._out_of_time

    def _call(self, name: str, *args: Any) -> None:
        for hook in self.hooks:
            getattr(hook, name)(self, *args)

    def train_epoch(self) -> None:
        self.train_ds.set_epoch(self.epoch)
        self.train_loader.sampler.set_epoch(self.epoch)  # the patch order of this epoch: a function of (seed, epoch)
        self.model.train()
        e = self.epoch_stats = EpochStats(loss_sum=torch.zeros((), device=self.dist.device))
        for i, batch in enumerate(self.train_loader):
            done = self.done_fraction(self.trained_s + time.perf_counter() - e.started)
            if i >= self.steps_per_epoch or (done >= 1.0 and self.step > 0):  # a budget allows at least one step
                break
            for group in self.optimizer.param_groups:
                group["lr"] = self.cfg.train.lr * self.lr_factor(done)
            batch = batch.to(self.dist.device)
            loss = train_step(self.model, self.criterion, self.optimizer, self.scaler, batch, self.cfg, self.dist.device)
            self.step += 1
            e.steps += 1
            e.loss_sum = e.loss_sum + loss
            for name, value in self.criterion.parts.items():
                e.parts[name] = e.parts.get(name, 0) + value
            e.voxels += batch.n_voxels
            self._call("after_step")

    def fit(self) -> dict[str, Any]:
        """Train from self.epoch to the last epoch (or the end of the time budget); returns the last record."""
        self._call("before_train")
        for self.epoch in range(self.epoch, self.cfg.train.epochs):
            if self.done_fraction(self.trained_s) >= 1.0:  # a time budget spent before the planned epochs
                break
            self._call("before_epoch")
            self.train_epoch()
            e = self.epoch_stats
            seconds = time.perf_counter() - e.started
            self.trained_s += seconds
            record = {"epoch": self.epoch + 1, "step": self.step, "loss": float(e.loss_sum) / max(e.steps, 1), "lr": self.lr,
                      "seconds": seconds, "voxels_per_s": e.voxels * self.dist.world_size / max(seconds, 1e-9)}
            record.update({f"loss_{name}": float(total) / max(e.steps, 1) for name, total in e.parts.items()})
            self._out_of_time = self.done_fraction(self.trained_s) >= 1.0 and self.epoch + 1 < self.cfg.train.epochs
            record["trained_seconds"] = self.trained_s
            confusion = None
            if (self.epoch + 1) % self.cfg.train.val_every == 0 or self.epoch + 1 == self.cfg.train.epochs or self._out_of_time:
                confusion = evaluate(self.model, self.val_loader, self.dist.device)
                s = scores(confusion)
                record.update(val_oa=s.oa, val_miou=s.miou)
            self.record = record
            self._call("after_epoch", record, confusion)
            barrier()
        self._call("after_train")
        return self.record


def train(cfg: Config, data_dir: str | Path, work_dir: str | Path, resume: bool = False, device: str = "auto", progress: bool = True,
          restart: bool = False) -> dict[str, Any]:
    """Train per `cfg` on a prepared directory; checkpoints and metrics go to work_dir. Returns the last record.

    A work dir holding a run is refused unless `resume` (continue it exactly: model, optimizer, scheduler,
    scaler, RNG states and the epoch's patch order) or `restart` (move it aside first)."""
    dist = setup_distributed(device)
    work_dir = Path(work_dir)
    check_not_a_file(work_dir, "--work-dir")
    made = not work_dir.exists()
    lock, error = None, None
    if dist.is_main:  # one run at a time in a work dir (pointseg.io.run_lock)
        try:
            lock = lock_folder(work_dir, "--work-dir")
        except Exception as err:
            error = err
    gather_or_raise(None, error, dist.rank)
    try:
        return _train(cfg, data_dir, work_dir, resume, dist, progress, restart, lock)
    finally:
        if lock is not None:
            lock.release()
            if made and not any(work_dir.iterdir()):  # refused before anything was written: leave no empty folder
                work_dir.rmdir()


def _train(cfg: Config, data_dir: str | Path, work_dir: Path, resume: bool, dist: DistInfo, progress: bool, restart: bool,
           lock: RunLock | None) -> dict[str, Any]:
    aside = check_work_dir(work_dir, resume, restart)
    if aside is not None:
        barrier()  # every rank has looked before rank 0 moves anything
        if dist.is_main:
            move_aside(work_dir, aside)  # the lock moves with the run: hold one in the new work dir instead
            work_dir.mkdir(parents=True, exist_ok=True)
            lock.moved(aside / RUN_LOCK_NAME, work_dir / RUN_LOCK_NAME)
        barrier()
    work_dir.mkdir(parents=True, exist_ok=True)
    if dist.is_main:
        clean_stale_temp_files(work_dir)
    if resume:  # before anything is loaded: the run's own prepared data, or a copy of it
        check_same_data(load_checkpoint(work_dir / "last.pt").get("data"), prepared_identity(data_dir), work_dir / "last.pt", False)
    hooks = [ProgressBar(progress), MetricsLog(work_dir), Checkpointer(work_dir), AsppReport(), TrainingCurves(work_dir)]
    trainer = Trainer(cfg, Path(data_dir), dist, hooks)
    if resume and dist.is_main:  # the user named this run to continue: its files are pointseg's to update
        ownership.adopt(*(work_dir / n for n in RUN_FILES))
    if resume and not trainer.resume(work_dir / "last.pt"):
        return trainer.record
    return trainer.fit()
