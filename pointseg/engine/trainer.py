"""The training loop: DDP over torchrun ranks, AMP, validation, checkpoints, metrics log, resume."""

import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, Sampler, SequentialSampler
from tqdm import tqdm

from pointseg.config import Config, config_to_dict
from pointseg.constants import NUM_CLASSES
from pointseg.data.dataset import PatchDataset
from pointseg.data.features import Batch, collate
from pointseg.engine.checkpoint import check_compatible, load_checkpoint, load_model_state, save_checkpoint
from pointseg.engine.distributed import DistInfo, all_reduce_sum, barrier, setup_distributed
from pointseg.losses import build_loss
from pointseg.metrics import scores
from pointseg.models import build_model
from pointseg.models.diagnostics import aspp_neighbour_report
from pointseg.models.spconv_ops import place_model

log = logging.getLogger("pointseg.train")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_class_weights(cfg: Config, manifest: dict[str, Any]) -> torch.Tensor | None:
    """loss.class_weights: 'manifest' (W_c = max n / n_c of the training split), 'none', or 15 numbers."""
    cw = cfg.loss.class_weights
    if cw == "manifest":
        return torch.tensor(manifest["class_weights"], dtype=torch.float32)
    if cw in (None, "none"):
        return None
    if isinstance(cw, list) and len(cw) == NUM_CLASSES:
        return torch.tensor(cw, dtype=torch.float32)
    raise ValueError(f"loss.class_weights: expected 'manifest', 'none' or {NUM_CLASSES} numbers, got {cw!r}")


class ShardSampler(Sampler[int]):
    """Rank r of w takes indices r, r + w, ...: every sample exactly once over all ranks (no padding,
    unlike DistributedSampler, so validation counts no point twice)."""

    def __init__(self, n: int, rank: int, world: int):
        self.indices = list(range(rank, n, world))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def make_loader(ds: PatchDataset, batch: int, cfg: Config, dist_info: DistInfo, train: bool) -> DataLoader:
    """Training: shuffled (per rank when distributed); evaluation: each patch once over all ranks."""
    if train and dist_info.distributed:
        sampler = DistributedSampler(ds, dist_info.world_size, dist_info.rank, shuffle=True, seed=cfg.train.seed)
    elif train:
        sampler = RandomSampler(ds, generator=torch.Generator().manual_seed(cfg.train.seed))
    elif dist_info.distributed:
        sampler = ShardSampler(len(ds), dist_info.rank, dist_info.world_size)
    else:
        sampler = SequentialSampler(ds)
    workers = cfg.train.num_workers
    return DataLoader(
        ds, batch_size=batch, sampler=sampler, collate_fn=collate, num_workers=workers,
        pin_memory=dist_info.device.type == "cuda", drop_last=train and len(ds) >= batch,
        # persistent: the dataset's epoch (augmentation draws) reaches the workers through shared memory
        persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
    )


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
def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device) -> np.ndarray:
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


class MetricsLog:
    """One JSON line per epoch in work_dir/metrics.jsonl; TensorBoard too when it is installed."""

    def __init__(self, work_dir: Path, enabled: bool):
        self.enabled, self.path, self.tb = enabled, work_dir / "metrics.jsonl", None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(work_dir / "tensorboard"))
            except Exception:  # tensorboard is optional
                self.tb = None

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self.tb.add_scalar(k, v, record["epoch"])
            self.tb.flush()

    def validation(self, epoch: int, conf: np.ndarray) -> None:
        """TensorBoard (when installed): per-class validation IoU and the confusion matrix as an image."""
        if self.enabled and self.tb is not None:
            from pointseg.viz.tensorboard import log_validation

            log_validation(self.tb, epoch, conf)


def train(cfg: Config, data_dir: str | Path, work_dir: str | Path, resume: bool = False, device: str = "auto", progress: bool = True) -> dict[str, Any]:
    """Train per `cfg` on a prepared directory; checkpoints and metrics go to work_dir. Returns the last record."""
    dist_info = setup_distributed(device)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.train.seed + dist_info.rank)
    if cfg.train.batch_size % dist_info.world_size:
        raise ValueError(f"train.batch_size {cfg.train.batch_size} does not split over {dist_info.world_size} ranks")
    per_rank = cfg.train.batch_size // dist_info.world_size

    train_ds = PatchDataset(data_dir, "train", cfg, train=True, seed=cfg.train.seed)
    val_ds = PatchDataset(data_dir, "val", cfg, train=False)
    train_loader = make_loader(train_ds, per_rank, cfg, dist_info, train=True)
    val_loader = make_loader(val_ds, per_rank, cfg, dist_info, train=False)
    criterion = build_loss(cfg.loss, resolve_class_weights(cfg, train_ds.manifest))

    model = build_model(cfg)
    if dist_info.distributed and dist_info.device.type == "cuda" and cfg.train.sync_bn:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = place_model(model, dist_info.device)
    core = model
    if dist_info.distributed:
        model = DistributedDataParallel(model)  # inputs are moved by us; one device per process
    opt_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}.get(cfg.train.optimizer)
    if opt_cls is None:
        raise ValueError(f"train.optimizer '{cfg.train.optimizer}': expected adam or adamw")
    optimizer = opt_cls(core.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    steps_per_epoch = len(train_loader) if cfg.train.max_steps_per_epoch <= 0 else min(len(train_loader), cfg.train.max_steps_per_epoch)
    total_steps = max(1, steps_per_epoch * cfg.train.epochs)
    if cfg.train.scheduler == "cosine":
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)))
    elif cfg.train.scheduler == "none":
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    else:
        raise ValueError(f"train.scheduler '{cfg.train.scheduler}': expected none or cosine")
    scaler = torch.amp.GradScaler("cuda", enabled=dist_info.device.type == "cuda" and cfg.train.amp == "fp16")

    start_epoch, step, best_miou = 0, 0, -1.0
    last_path, best_path = work_dir / "last.pt", work_dir / "best.pt"
    if resume:
        ckpt = load_checkpoint(last_path)
        check_compatible(ckpt, cfg, last_path)
        load_model_state(core, ckpt, last_path)
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        start_epoch, step, best_miou = ckpt["epoch"] + 1, ckpt["step"], ckpt.get("best_miou", -1.0)
        if dist_info.is_main:
            log.info("resumed from %s: epoch %d, step %d", last_path, start_epoch, step)

    metrics_log = MetricsLog(work_dir, dist_info.is_main)
    if dist_info.is_main:
        (work_dir / "config.json").write_text(json.dumps(config_to_dict(cfg), indent=1))
        if cfg.model.aspp:
            sample = val_ds[0]
            report = aspp_neighbour_report(sample.voxel_coords, len(cfg.model.channels) - 1, cfg.model.aspp_dilations)
            log.info("ASPP bridge: mean active neighbours (of 26) per bridge voxel by dilation: %s",
                     ", ".join(f"d={d}: {v:.2f}" for d, v in report.items()))

    record: dict[str, Any] = {}
    for epoch in range(start_epoch, cfg.train.epochs):
        train_ds.set_epoch(epoch)
        if isinstance(train_loader.sampler, DistributedSampler):
            train_loader.sampler.set_epoch(epoch)
        model.train()
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", disable=not (progress and dist_info.is_main), leave=False)
        loss_sum, n_steps, voxels, t0 = torch.zeros((), device=dist_info.device), 0, 0, time.perf_counter()
        part_sums: dict[str, torch.Tensor] = {}
        for i, batch in enumerate(train_loader):
            if i >= steps_per_epoch:
                break
            batch: Batch = batch.to(dist_info.device)
            loss = train_step(model, criterion, optimizer, scaler, batch, cfg, dist_info.device)
            scheduler.step()
            step += 1
            n_steps += 1
            loss_sum = loss_sum + loss  # a device tensor: no host sync per step
            for name, value in criterion.parts.items():
                part_sums[name] = part_sums.get(name, 0) + value
            voxels += batch.n_voxels
            if not bar.disable and (n_steps % 10 == 1 or n_steps == steps_per_epoch):
                rate = voxels * dist_info.world_size / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(loss=f"{float(loss_sum) / n_steps:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}", vox_s=f"{rate:.3g}")
            bar.update()
        bar.close()
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch + 1, "step": step, "loss": float(loss_sum) / max(n_steps, 1), "lr": scheduler.get_last_lr()[0],
                  "seconds": seconds, "voxels_per_s": voxels * dist_info.world_size / max(seconds, 1e-9)}
        record.update({f"loss_{name}": float(total) / max(n_steps, 1) for name, total in part_sums.items()})
        if (epoch + 1) % cfg.train.val_every == 0 or epoch + 1 == cfg.train.epochs:
            conf = evaluate(model, val_loader, dist_info.device)
            s = scores(conf)
            record.update(val_oa=s.oa, val_miou=s.miou)
            metrics_log.validation(epoch + 1, conf)
        if dist_info.is_main:
            metrics_log.write(record)
            log.info("epoch %d: %s", epoch + 1, ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items() if k != "epoch"))
            improved = "val_miou" in record and not math.isnan(record["val_miou"]) and record["val_miou"] > best_miou
            if improved:
                best_miou = record["val_miou"]
            state = {"model": core.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "scaler": scaler.state_dict(), "epoch": epoch, "step": step, "best_miou": best_miou, "record": record}
            save_checkpoint(last_path, state, cfg)
            if improved:
                save_checkpoint(best_path, state, cfg)
        barrier()
    if dist_info.is_main and (work_dir / "metrics.jsonl").is_file():
        from pointseg.viz.plots import write_training_curves

        log.info("training curves: %s", write_training_curves(work_dir))
    return record
