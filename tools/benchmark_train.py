"""Training throughput: python tools/benchmark_train.py [--config X.yaml] [--data PREPARED] [--steps 25].

Measures, with the training code itself (PatchDataset, make_loader, train_step):
  1. the data pipeline alone: batches per second the loader workers deliver;
  2. the train step alone: a few batches kept on the device, stepped over and over (the GPU's rate);
  3. the two together, as train.py runs them: voxels/s per step and the share of time spent waiting
     for data (a starved GPU shows here).
Without --data it writes synthetic STPLS3D-format scenes and prepares them under runs/bench/.
"""

import time
from pathlib import Path

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.config import flag_settings, load_config

REFERENCE_VOXELS_PER_S = {"fp16": 5.4e6, "none": 2.0e6}  # ../shared/gpu/README.md, one H100, batch 32


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def synthetic_data(root: Path, n_scenes: int, size: float, cfg) -> Path:
    """`n_scenes` synthetic training scenes (numbers outside data.test_scenes, written in parallel), prepared
    with the config's data section."""
    from pointseg.data.prepare import prepare_dataset
    from pointseg.synthetic.files import ensure_scenes

    scenes = [n for n in range(1, 100) if n not in cfg.data.test_scenes][:n_scenes]
    src, out = root / f"train_src_{size:g}", root / f"train_data_{size:g}_{n_scenes}_{cfg.data.voxel_size:g}"
    if (out / "manifest.json").is_file():
        return out
    ensure_scenes(src, scenes, size=size, workers=len(scenes))
    prepare_dataset(src, out, cfg.data, workers=len(scenes), overwrite=True)
    return out


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--config", default="configs/unet_aspp_wdice.yaml")
    ap.add_argument("--data", default=None, help="a prepared directory (default: synthetic scenes under runs/bench)")
    ap.add_argument("--scenes", type=int, default=5, help="synthetic training scenes to make when --data is not given")
    ap.add_argument("--size", type=float, default=500.0, help="their side in metres")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=None, help="default: train.batch_size")
    ap.add_argument("--workers", type=int, default=None, help="default: train.num_workers")
    ap.add_argument("--amp", choices=["fp16", "bf16", "none"], default=None, help="default: train.amp")
    ap.add_argument("--warmup", type=int, default=12, help="steps before timing: spconv tunes its kernels on new shapes")
    ap.add_argument("--steps", type=int, default=25)
    args = cli.parse(ap)
    cfg = load_config(args.config, settings=flag_settings("train", batch_size=args.batch_size, num_workers=args.workers, amp=args.amp))

    import numpy as np
    import torch

    from pointseg.data.dataset import PatchDataset
    from pointseg.distributed import DistInfo, pick_device
    from pointseg.losses import build_loss
    from pointseg.losses.class_weights import loss_class_weights
    from pointseg.models import build_model
    from pointseg.models.spconv_ops import place_model
    from pointseg.train.loader import make_loader
    from pointseg.train.loop import train_step

    device = pick_device(args.device)
    data = Path(args.data) if args.data else synthetic_data(Path("runs/bench"), args.scenes, args.size, cfg)
    ds = PatchDataset(data, "train", cfg, train=True, seed=cfg.train.seed)
    loader = make_loader(ds, cfg.train.batch_size, cfg, DistInfo(0, 1, 0, device), train=True)
    model = place_model(build_model(cfg), device).train()
    criterion = build_loss(cfg.loss, loss_class_weights(cfg.loss, ds.manifest["class_weights"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and cfg.train.amp == "fp16")
    print(f"{data}: {len(ds)} training patches, batch {cfg.train.batch_size}, {cfg.train.num_workers} loader workers, "
          f"amp {cfg.train.amp}, device {device}, model channels {cfg.model.channels}, aspp {cfg.model.aspp}")

    def batches():
        epoch = 0
        while True:
            ds.set_epoch(epoch)
            yield from loader
            epoch += 1

    # 1. the loader alone (after its first batch, which pays for the workers' start)
    stream = batches()
    next(stream)
    t, n_vox, n_load = time.perf_counter(), 0, max(args.steps, 3 * cfg.train.num_workers)
    for _ in range(n_load):
        n_vox += next(stream).n_voxels
    load_s = time.perf_counter() - t
    print(f"loader alone: {n_load / load_s:.2f} batches/s = {n_vox / load_s / 1e6:.2f} M voxels/s "
          f"({n_vox / n_load / 1e6:.3f} M voxels per batch)")

    # 2. the train step alone, on batches kept on the device
    kept = [next(stream).to(device) for _ in range(4)]
    for i in range(args.warmup):
        train_step(model, criterion, optimizer, scaler, kept[i % len(kept)], cfg, device)
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, n_vox = [], 0
    for i in range(args.steps):
        b = kept[i % len(kept)]
        t = time.perf_counter()
        train_step(model, criterion, optimizer, scaler, b, cfg, device)
        sync(device)
        times.append(time.perf_counter() - t)
        n_vox += b.n_voxels
    step_rate = n_vox / sum(times)
    mem = f", peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB" if device.type == "cuda" else ""
    print(f"train step alone: median {np.median(times) * 1e3:.0f} ms/step, {step_rate / 1e6:.2f} M voxels/s{mem}")
    del kept

    # 3. both, as train.py runs them: a new pass over the loader, so nothing prefetched during 2. is used
    stream = batches()
    for _ in range(args.warmup):
        train_step(model, criterion, optimizer, scaler, next(stream).to(device), cfg, device)
    sync(device)
    wait, n_vox, t0 = 0.0, 0, time.perf_counter()
    for _ in range(args.steps):
        t = time.perf_counter()
        batch = next(stream).to(device)
        wait += time.perf_counter() - t
        train_step(model, criterion, optimizer, scaler, batch, cfg, device)
        n_vox += batch.n_voxels
    sync(device)
    total = time.perf_counter() - t0
    rate = n_vox / total
    print(f"train with data pipeline: {total / args.steps * 1e3:.0f} ms/step, {rate / 1e6:.2f} M voxels/s, "
          f"waiting for data {100 * wait / total:.0f}% of the time")
    ref = REFERENCE_VOXELS_PER_S.get(cfg.train.amp)
    if ref and device.type == "cuda" and cfg.train.batch_size == 32:
        print(f"vs the H100 reference ({ref / 1e6:.1f} M voxels/s, {cfg.train.amp}): {rate / ref:.2f}x with the pipeline, {step_rate / ref:.2f}x step alone")


if __name__ == "__main__":
    cli.run(main)
