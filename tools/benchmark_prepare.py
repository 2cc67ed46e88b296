"""Prepare speed against the parsing floor: python tools/benchmark_prepare.py [--scene FILE] [--repeats 5].

Times pandas.read_csv of an STPLS3D scene with the engine the reader uses (the floor) and prepare_scene on the same file (read,
validate, tile, voxelize, write), interleaved, and reports the ratio of medians and of minima (on a
shared machine the minimum is the steadier estimate of the cost itself). Without --scene
it writes a 500 m synthetic scene (about 2.3 M points) to runs/bench/ first.
"""

import statistics
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.config import load_config


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("--scene", default=None)
    ap.add_argument("--config", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    args = cli.parse(ap)

    import pandas as pd

    from pointseg.data.prepare import SceneJob, prepare_scene
    from pointseg.io.stpls3d import CSV_ENGINE
    from pointseg.synthetic.files import ensure_scenes

    scene = Path(args.scene) if args.scene else ensure_scenes("runs/bench", [1])[0]
    cfg = load_config(args.config).data
    read_s, prep_s, read_cpu, prep_cpu = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            t, c = time.perf_counter(), time.process_time()
            frame = pd.read_csv(scene, header=None, engine=CSV_ENGINE)
            read_s.append(time.perf_counter() - t)
            read_cpu.append(time.process_time() - c)
            del frame
            t, c = time.perf_counter(), time.process_time()
            entry = prepare_scene(SceneJob(scene, Path(tmp) / f"s{i}", cfg, False))
            prep_s.append(time.perf_counter() - t)
            prep_cpu.append(time.process_time() - c)
    r, p = statistics.median(read_s), statistics.median(prep_s)
    r_min, p_min = min(read_s), min(prep_s)
    print(f"scene {scene}: {entry['points']:,} points, {len(entry['patches'])} patches of {cfg.patch_size} m at {cfg.train_stride} m stride, voxel {cfg.voxel_size} m")
    print(f"pandas.read_csv, engine {CSV_ENGINE} (floor): median {r:.3f} s  {[round(v, 3) for v in read_s]}")
    print(f"prepare_scene:           median {p:.3f} s  {[round(v, 3) for v in prep_s]}")
    print(f"ratio prepare / read_csv: {p / r:.2f} (medians), {p_min / r_min:.2f} (minima: {p_min:.3f} / {r_min:.3f} s); "
          f"in CPU time (all threads; steadier on a busy machine): {statistics.median(prep_cpu) / statistics.median(read_cpu):.2f} "
          f"({statistics.median(prep_cpu):.3f} / {statistics.median(read_cpu):.3f} s)")


if __name__ == "__main__":
    cli.run(main)
