"""Whole-scene inference speed and memory: python tools/benchmark_infer.py [--ckpt CKPT | --config X.yaml] [--scene FILE].

Reports, for one scene: the time to read it, the model's forward pass over all its patches alone
(the floor), end-to-end predict (tiling, voxelizing, forward, stitching), and the process's peak host
memory per input point. With --config and no --ckpt the model has random weights (speed only).
"""

import argparse
import resource
import time
from pathlib import Path

import _bootstrap  # noqa: F401
import torch

from pointseg.config import load_config
from pointseg.data.features import collate
from pointseg.data.synthetic_files import write_synthetic_scenes
from pointseg.data.tiling import tile_scene
from pointseg.engine.distributed import pick_device
from pointseg.engine.inference import load_predictor, patch_samples, predict_scene
from pointseg.io import read_scene
from pointseg.models import build_model
from pointseg.models.spconv_ops import place_model


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--config", default=None)
    ap.add_argument("--scene", default=None)
    ap.add_argument("--size", type=float, default=500.0, help="side of the synthetic scene made when --scene is not given")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=None)
    args = ap.parse_args()
    device = pick_device(args.device)
    scene_path = Path(args.scene) if args.scene else Path(f"runs/bench/infer_{int(args.size)}/5_points_GTv3.txt")
    if not scene_path.exists():
        write_synthetic_scenes(scene_path.parent, [5], size=args.size)
    if args.ckpt:
        predict, cfg = load_predictor(args.ckpt, device)
    else:
        cfg = load_config(args.config)
        model = place_model(build_model(cfg), device).eval()

        @torch.no_grad()
        def predict(batch):
            return torch.softmax(model(batch.to(device)).float(), dim=1)

    t = time.perf_counter()
    scene = read_scene(scene_path)
    read_s = time.perf_counter() - t
    predict_scene(scene, predict, cfg, batch_size=args.batch_size)  # warm-up (spconv tunes kernels on a GPU)

    local = (scene.xyz - scene.origin).astype("float32")
    tiled = tile_scene(local, cfg.data.voxel_size, cfg.data.patch_size, cfg.infer.stride, 0, "keep")
    bs = args.batch_size or cfg.infer.batch_size
    samples = [s for s, _ in patch_samples(tiled, local, scene.rgb, cfg)]
    batches = [collate(samples[i : i + bs]) for i in range(0, len(samples), bs)]
    sync(device)
    t = time.perf_counter()
    for b in batches:
        predict(b)
    sync(device)
    forward_s = time.perf_counter() - t
    del batches, samples

    t = time.perf_counter()
    predict_scene(read_scene(scene_path), predict, cfg, batch_size=args.batch_size)
    sync(device)
    e2e_s = time.perf_counter() - t + read_s
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    n = len(scene)
    print(f"scene {scene_path}: {n:,} points, {tiled.n_patches} patches (stride {cfg.infer.stride} m), device {device}")
    print(f"read {read_s:.2f} s; forward over all patches {forward_s:.2f} s; end to end (read + predict) {e2e_s:.2f} s")
    print(f"end to end / (read + forward) = {e2e_s / (read_s + forward_s):.2f}")
    print(f"peak host memory {peak / 2**20:.0f} MiB = {peak / n:.0f} bytes per input point (whole process, torch included)")


if __name__ == "__main__":
    main()
