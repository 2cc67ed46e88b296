"""Whole-scene inference speed and memory: python tools/benchmark_infer.py [--ckpt CKPT | --config X.yaml] [--scene FILE].

Reports, for one scene: the time to read it, the model's forward passes over all its patches alone
(the floor: each batch is built untimed, then its forward pass is timed), end to end (read, tile, voxelize, forward,
stitch), and peak host memory of the end-to-end pass (whole process, and above what the process held
before reading the scene). With --config and no --ckpt the model has random weights (speed only).
"""

import resource
import time
from pathlib import Path

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.config import apply_overrides, flag_settings, load_config


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def rss_mib(kind: str = "VmRSS") -> float:
    """Resident memory of this process: VmRSS (all), RssAnon (heap, arrays) or RssFile (mapped library files)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(kind + ":")) / 1024


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--config", default=None)
    ap.add_argument("--scene", default=None)
    ap.add_argument("--size", type=float, default=500.0, help="side of the synthetic scene made when --scene is not given")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=None, help="patches per forward (default: infer.batch_size on GPU, infer.cpu_batch_size on CPU)")
    args = cli.parse(ap)

    import torch

    from pointseg.data.features import scene_attributes
    from pointseg.data.tiling import tile_scene
    from pointseg.distributed import pick_device
    from pointseg.io import Scene, read_scene
    from pointseg.models import build_model
    from pointseg.models.spconv_ops import place_model
    from pointseg.predict.batches import PatchBatcher
    from pointseg.predict.predictor import default_batch_size, load_predictor
    from pointseg.predict.stitch import predict_scene
    from pointseg.synthetic.city import make_scene
    from pointseg.synthetic.files import ensure_scenes

    device = pick_device(args.device)
    rss = {"python, torch and spconv imported": rss_mib()}
    if device.type == "cuda":
        torch.zeros(1, device=device)
        rss["CUDA context"] = rss_mib()
    scene_path = Path(args.scene) if args.scene else Path(f"runs/bench/infer_{int(args.size)}/5_points_GTv3.txt")
    if not args.scene:
        ensure_scenes(scene_path.parent, [5], size=args.size)
    if args.ckpt:
        predict, cfg = load_predictor(args.ckpt, device)
    else:
        cfg = load_config(args.config)
        model = place_model(build_model(cfg), device).eval()

        @torch.no_grad()
        def predict(batch):
            return torch.softmax(model(batch.to(device)).float(), dim=1)

    rss["model on the device"] = rss_mib()
    cfg = apply_overrides(cfg, settings=flag_settings("infer", **{"batch_size" if device.type == "cuda" else "cpu_batch_size": args.batch_size}))
    bs = default_batch_size(cfg, device)
    if device.type == "cuda":  # spconv tunes its kernels on new shapes: warm up on a small synthetic scene
        s = make_scene(1, 100.0)
        predict_scene(Scene("warm-up", s.xyz, s.rgb, None), predict, cfg, device=device)
        del s
        rss["after a warm-up scene"] = rss_mib()

    base, base_file, base_anon = rss_mib(), rss_mib("RssFile"), rss_mib("RssAnon")
    sync(device)
    t = time.perf_counter()
    scene = read_scene(scene_path)
    read_s = time.perf_counter() - t
    predict_scene(scene, predict, cfg, device=device)
    sync(device)
    e2e_s = time.perf_counter() - t
    peak = peak_mib()

    local = (scene.xyz - scene.origin).astype("float32")
    tiled = tile_scene(local, cfg.data.voxel_size, cfg.data.patch_size, cfg.infer.stride, 0, "keep")
    batcher = PatchBatcher(tiled, local, scene_attributes(scene, cfg.features, local), cfg, device)
    forward_s = 0.0
    for first in range(0, tiled.n_patches, bs):
        batch, _ = batcher.batch(list(range(first, min(first + bs, tiled.n_patches))))
        sync(device)
        t = time.perf_counter()
        predict(batch)
        sync(device)
        forward_s += time.perf_counter() - t
    n = len(scene)
    print("host memory before reading the scene: " + "; ".join(f"{k} {v:.0f} MiB" for k, v in rss.items())
          + f" (of which {base_file:.0f} MiB mapped files: libraries; {base_anon:.0f} MiB anonymous)")
    print(f"scene {scene_path}: {n:,} points, {tiled.n_patches} patches (stride {cfg.infer.stride} m), device {device}, {bs} patches per forward")
    print(f"read {read_s:.2f} s; forward over all patches {forward_s:.2f} s; end to end (read + predict) {e2e_s:.2f} s")
    print(f"end to end / (read + forward) = {e2e_s / (read_s + forward_s):.2f}")
    print(f"peak host memory {peak:.0f} MiB = {peak * 2**20 / n:.0f} bytes per input point (whole process); "
          f"{(peak - base) * 2**20 / n:.0f} bytes per point above the {base:.0f} MiB held before reading the scene")
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB allocated, {torch.cuda.max_memory_reserved(device) / 2**30:.2f} GiB reserved")


if __name__ == "__main__":
    cli.run(main)
