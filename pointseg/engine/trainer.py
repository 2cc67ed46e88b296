"""The training loop: DDP over torchrun ranks, AMP, validation, checkpoints, metrics log, resume."""

import json
import logging
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Sampler, SequentialSampler
from tqdm import tqdm

from pointseg.config import Config, ConfigError, config_to_dict
from pointseg.constants import NUM_CLASSES
from pointseg.data.dataset import PatchDataset
from pointseg.data.features import Batch, collate
from pointseg.engine.checkpoint import check_compatible, load_checkpoint, load_model_state, save_checkpoint
from pointseg.engine.distributed import DistInfo, all_reduce_sum, barrier, setup_distributed
from pointseg.engine.schedules import lr_multiplier
from pointseg.errors import InputError, InputNotFoundError, OutputExistsError
from pointseg.io.atomic import atomic_write_text, clean_stale_temp_files
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
    """loss.class_weights: 'manifest' (W_c = max n / n_c of the training split, the paper), 'sqrt' (its square
    root), 'none', or 15 numbers; then clipped at loss.class_weight_cap when that is > 0."""
    cw = cfg.loss.class_weights
    if cw in (None, "none"):
        return None
    if cw == "manifest":
        w = torch.tensor(manifest["class_weights"], dtype=torch.float32)
    elif cw == "sqrt":
        w = torch.tensor(manifest["class_weights"], dtype=torch.float32).sqrt()
    elif isinstance(cw, list) and len(cw) == NUM_CLASSES:
        w = torch.tensor(cw, dtype=torch.float32)
    else:
        raise ConfigError(f"loss.class_weights: expected 'manifest', 'sqrt', 'none' or {NUM_CLASSES} numbers, got {cw!r}")
    if cfg.loss.class_weight_cap > 0:
        w = w.clamp(max=cfg.loss.class_weight_cap)
    return w


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
    """Training: shuffled (per rank when distributed); evaluation: each patch once over all ranks.

    The training order is a function of (train.seed, epoch) alone, on one process or many (the sampler's
    set_epoch): a resumed run draws the same patch order as an uncut one. The loader has its own
    generator, so starting its iterator draws nothing from torch's global RNG."""
    if train:
        sampler = DistributedSampler(ds, dist_info.world_size, dist_info.rank, shuffle=True, seed=cfg.train.seed)
    elif dist_info.distributed:
        sampler = ShardSampler(len(ds), dist_info.rank, dist_info.world_size)
    else:
        sampler = SequentialSampler(ds)
    workers = cfg.train.num_workers
    return DataLoader(
        ds, batch_size=batch, sampler=sampler, collate_fn=collate, num_workers=workers, generator=torch.Generator().manual_seed(cfg.train.seed),
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


RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl", "config.json", "tensorboard")


def run_files(work_dir: Path) -> list[str]:
    """The files of a started or finished run in work_dir."""
    return [n for n in RUN_FILES if (work_dir / n).exists()]


def describe_run(work_dir: Path) -> str:
    """'a finished run (epoch 8 of 8)', 'a started run (epoch 3 of 8)' or 'a started run (no checkpoint yet)'."""
    last = work_dir / "last.pt"
    if not last.is_file():
        return "a started run (no checkpoint yet)"
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


def check_work_dir(work_dir: Path, resume: bool, restart: bool, dist_info: DistInfo) -> None:
    """Never mix two runs in one work dir: a fresh start needs an empty one, or --restart, which moves
    the old run aside (renamed, never deleted); --resume needs last.pt."""
    if resume and restart:
        raise InputError("--resume and --restart: choose one (continue the run in the work dir, or move it aside and start over)")
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
        barrier()  # every rank has looked before rank 0 moves anything
        if dist_info.is_main:
            aside = aside_path(work_dir)
            os.replace(work_dir, aside)
            log.warning("%s: moved the previous run aside to %s", work_dir, aside)
        barrier()


def rng_states() -> dict[str, Any]:
    """This process's global RNG states (python, numpy, torch, CUDA)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_states(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def gather_rng_states() -> list[dict[str, Any]]:
    """Every rank's RNG states, in rank order (one entry without a process group)."""
    state = rng_states()
    if dist.is_available() and dist.is_initialized():
        out: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(out, state)
        return out
    return [state]


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


def train(cfg: Config, data_dir: str | Path, work_dir: str | Path, resume: bool = False, device: str = "auto", progress: bool = True,
          restart: bool = False) -> dict[str, Any]:
    """Train per `cfg` on a prepared directory; checkpoints and metrics go to work_dir. Returns the last record.

    A work dir holding a run is refused unless `resume` (continue it exactly: model, optimizer, scheduler,
    scaler, RNG states and the epoch's patch order) or `restart` (move it aside first)."""
    dist_info = setup_distributed(device)
    work_dir = Path(work_dir)
    check_work_dir(work_dir, resume, restart, dist_info)
    work_dir.mkdir(parents=True, exist_ok=True)
    if dist_info.is_main:
        clean_stale_temp_files(work_dir)
    seed_everything(cfg.train.seed + dist_info.rank)
    if cfg.train.batch_size % dist_info.world_size:
        raise ConfigError(f"train.batch_size {cfg.train.batch_size} does not split over {dist_info.world_size} ranks")
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
        raise ConfigError(f"train.optimizer '{cfg.train.optimizer}': expected adam or adamw")
    optimizer = opt_cls(core.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    steps_per_epoch = len(train_loader) if cfg.train.max_steps_per_epoch <= 0 else min(len(train_loader), cfg.train.max_steps_per_epoch)
    total_steps = max(1, steps_per_epoch * cfg.train.epochs)
    lr_factor = lr_multiplier(cfg.train.scheduler, cfg.train.warmup_fraction)
    scaler = torch.amp.GradScaler("cuda", enabled=dist_info.device.type == "cuda" and cfg.train.amp == "fp16")

    start_epoch, step, best_miou, trained_s = 0, 0, -1.0, 0.0
    last_path, best_path = work_dir / "last.pt", work_dir / "best.pt"
    if resume:
        ckpt = load_checkpoint(last_path)
        check_compatible(ckpt, cfg, last_path)
        load_model_state(core, ckpt, last_path)
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        start_epoch, step, best_miou = ckpt["epoch"] + 1, ckpt["step"], ckpt.get("best_miou", -1.0)
        trained_s = ckpt.get("trained_seconds", 0.0)
        spent = cfg.train.time_budget_min > 0 and trained_s >= cfg.train.time_budget_min * 60
        if start_epoch >= cfg.train.epochs or spent:
            if dist_info.is_main:
                if spent:
                    log.warning("%s: the run spent its time budget (%.1f of %g min); nothing to do (raise train.time_budget_min to train further)",
                                last_path, trained_s / 60, cfg.train.time_budget_min)
                else:
                    log.warning("%s: the run finished epoch %d of %d; nothing to do (raise --epochs to train further)", last_path, start_epoch, cfg.train.epochs)
            return ckpt.get("record", {})
        states = ckpt.get("rng")
        if states is not None and len(states) == dist_info.world_size:
            set_rng_states(states[dist_info.rank])
        elif dist_info.is_main:
            log.warning("%s: saved by %s rank(s), resumed on %d: global RNG states reseeded (the patch order stays exact)",
                        last_path, "unknown" if states is None else len(states), dist_info.world_size)
        if dist_info.is_main:
            trim_metrics_log(work_dir / "metrics.jsonl", start_epoch)
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
    budget_s = cfg.train.time_budget_min * 60 if cfg.train.time_budget_min > 0 else math.inf

    def done_fraction(elapsed_s: float) -> float:
        """Share of training done: of the steps, or of the time budget when one is set (rank 0's clock)."""
        if math.isinf(budget_s):
            return step / total_steps
        clock = torch.tensor([elapsed_s if dist_info.is_main else 0.0], dtype=torch.float64, device=dist_info.device)
        return max(step / total_steps, float(all_reduce_sum(clock)) / budget_s)  # the same lr on every rank

    for epoch in range(start_epoch, cfg.train.epochs):
        if done_fraction(trained_s) >= 1.0:  # a time budget spent before the planned epochs
            break
        train_ds.set_epoch(epoch)
        train_loader.sampler.set_epoch(epoch)  # the patch order of this epoch: a function of (seed, epoch)
        model.train()
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", disable=not (progress and dist_info.is_main), leave=False)
        loss_sum, n_steps, voxels, t0 = torch.zeros((), device=dist_info.device), 0, 0, time.perf_counter()
        part_sums: dict[str, torch.Tensor] = {}
        for i, batch in enumerate(train_loader):
            done = done_fraction(trained_s + time.perf_counter() - t0)
            if i >= steps_per_epoch or (done >= 1.0 and step > 0):  # a budget allows at least one step
                break
            for group in optimizer.param_groups:
                group["lr"] = cfg.train.lr * lr_factor(done)
            batch: Batch = batch.to(dist_info.device)
            loss = train_step(model, criterion, optimizer, scaler, batch, cfg, dist_info.device)
            step += 1
            n_steps += 1
            loss_sum = loss_sum + loss  # a device tensor: no host sync per step
            for name, value in criterion.parts.items():
                part_sums[name] = part_sums.get(name, 0) + value
            voxels += batch.n_voxels
            if not bar.disable and (n_steps % 10 == 1 or n_steps == steps_per_epoch):
                rate = voxels * dist_info.world_size / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(loss=f"{float(loss_sum) / n_steps:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}", vox_s=f"{rate:.3g}")
            bar.update()
        bar.close()
        seconds = time.perf_counter() - t0
        trained_s += seconds
        record = {"epoch": epoch + 1, "step": step, "loss": float(loss_sum) / max(n_steps, 1), "lr": optimizer.param_groups[0]["lr"],
                  "seconds": seconds, "voxels_per_s": voxels * dist_info.world_size / max(seconds, 1e-9)}
        record.update({f"loss_{name}": float(total) / max(n_steps, 1) for name, total in part_sums.items()})
        out_of_time = done_fraction(trained_s) >= 1.0 and epoch + 1 < cfg.train.epochs
        record["trained_seconds"] = trained_s
        if (epoch + 1) % cfg.train.val_every == 0 or epoch + 1 == cfg.train.epochs or out_of_time:
            conf = evaluate(model, val_loader, dist_info.device)
            s = scores(conf)
            record.update(val_oa=s.oa, val_miou=s.miou)
            metrics_log.validation(epoch + 1, conf)
        rng = gather_rng_states()  # a collective: every rank takes part
        if dist_info.is_main:
            metrics_log.write(record)
            log.info("epoch %d: %s", epoch + 1, ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items() if k != "epoch"))
            improved = "val_miou" in record and not math.isnan(record["val_miou"]) and record["val_miou"] > best_miou
            if improved:
                best_miou = record["val_miou"]
            state = {"model": core.state_dict(), "optimizer": optimizer.state_dict(),
                     "scaler": scaler.state_dict(), "epoch": epoch, "step": step, "best_miou": best_miou, "record": record, "rng": rng,
                     "trained_seconds": trained_s, "finished": epoch + 1 == cfg.train.epochs or out_of_time}
            if improved:  # best before last: killed in between, the resumed run redoes this epoch identically
                save_checkpoint(best_path, state, cfg)
            save_checkpoint(last_path, state, cfg)
        barrier()
    if dist_info.is_main and (work_dir / "metrics.jsonl").is_file():
        from pointseg.viz.plots import write_training_curves

        log.info("training curves: %s", write_training_curves(work_dir))
    return record
