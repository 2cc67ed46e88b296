"""Seams and the buffer's cost: python tools/benchmark_coverage.py [--size 300] [--tiles 2] [--config configs/cpu_demo.yaml] [--ckpt CKPT].

Writes a synthetic scene of --size metres, cuts it into --tiles x --tiles tiles at edges off the patch
lattice, and labels it three ways: uncut; tiled with a buffer of --buffer metres (default one patch); tiled
without buffer. Reports the time of each (reading included; the index pass apart), the patches run, how
many points' labels differ from the uncut run's, and how far from a seam the differing points lie.
Without --ckpt the model has fixed random weights and random BatchNorm statistics
(pointseg.models.random_weights), whose labels vary over the scene and depend on context.
"""

import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.config import apply_overrides, flag_settings, load_config


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--size", type=float, default=300.0)
    ap.add_argument("--tiles", type=int, default=2, help="tiles per side")
    ap.add_argument("--config", default="configs/cpu_demo.yaml", help="model config when no --ckpt is given")
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--buffer", type=float, default=None, help="metres (default: one patch)")
    ap.add_argument("--stride", type=float, default=None)
    args = cli.parse(ap)

    import numpy as np
    import torch

    from pointseg.data.tiling import tile_scene
    from pointseg.io import read_scene
    from pointseg.models.random_weights import random_context_model
    from pointseg.predict.coverage import coverage_buffer, coverage_origin, index_tiles, tile_with_buffer
    from pointseg.predict.predictor import load_predictor
    from pointseg.predict.stitch import patches_holding, predict_scene
    from pointseg.synthetic.files import DEFAULT_ORIGIN, write_synthetic_scenes, write_tiles

    device = torch.device("cpu")
    if args.ckpt:
        predict, cfg = load_predictor(args.ckpt, device)
    else:
        cfg = load_config(args.config)
        model = random_context_model(cfg)

        @torch.no_grad()
        def predict(batch):
            return torch.softmax(model(batch), dim=1)

    cfg = apply_overrides(cfg, settings=flag_settings("infer", stride=args.stride, coverage_buffer=args.buffer))
    stride, buffer = cfg.infer.stride, coverage_buffer(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        whole_path = write_synthetic_scenes(root, [1], size=args.size)[0]
        t = time.perf_counter()
        whole = read_scene(whole_path)
        reference = predict_scene(whole, predict, cfg).labels
        uncut_s = time.perf_counter() - t
        n_uncut = tile_scene((whole.xyz - whole.origin).astype(np.float32), cfg.data.voxel_size, cfg.data.patch_size, stride, 0, "keep").n_patches
        (root / "tiles").mkdir()
        members, edges = write_tiles(whole, args.tiles, root / "tiles", args.size)
        files = sorted((root / "tiles").glob("*.txt"))
        seam_distance = np.min(np.abs(np.concatenate([whole.xyz[:, :1] - DEFAULT_ORIGIN[0], whole.xyz[:, 1:2] - DEFAULT_ORIGIN[1]], axis=1)[:, :, None]
                                      - edges[None, None, :]), axis=(1, 2))
        print(f"scene {args.size:g} m, {len(whole):,} points, cut into {args.tiles}x{args.tiles} tiles; patches {cfg.data.patch_size:g} m at "
              f"{stride:g} m stride, voxel {cfg.data.voxel_size:g} m; model {'from ' + args.ckpt if args.ckpt else 'random (' + args.config + ')'}")
        print(f"uncut: {uncut_s:.1f} s (read + label), {n_uncut} patches")
        for b in (buffer, 0.0):
            t = time.perf_counter()
            tiles = index_tiles(files, root / f"out_{b:g}", b)
            index_s = time.perf_counter() - t
            origin = coverage_origin(tiles)
            labels = np.full(len(whole), -1)
            n_patches = 0
            t = time.perf_counter()
            for i, f in enumerate(files):
                own, both, targets = tile_with_buffer(tiles, i, b, origin)
                labels[members[f.stem]] = predict_scene(both, predict, cfg, targets=targets)[0]
                local = (both.xyz - both.origin).astype(np.float32)
                n_patches += len(patches_holding(tile_scene(local, cfg.data.voxel_size, cfg.data.patch_size, stride, 0, "keep"), targets))
            tiled_s = time.perf_counter() - t
            changed = labels != reference
            near = seam_distance[changed]
            where = (f"; of these {np.mean(near < stride):.1%} within {stride:g} m of a seam, the farthest {near.max():.1f} m"
                     if changed.any() else "")
            print(f"tiled, buffer {b:g} m: index pass {index_s:.1f} s; labelling {tiled_s:.1f} s (read + gather buffer + label, "
                  f"{tiled_s / uncut_s:.2f}x uncut), {n_patches} patches; labels equal to uncut: {1 - changed.mean():.4%} "
                  f"({int(changed.sum()):,} points differ{where})")


if __name__ == "__main__":
    cli.run(main)
