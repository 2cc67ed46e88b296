"""Text-scene reading speed by pandas engine: python tools/benchmark_read.py [--scene FILE] [--repeats 5].

Times, interleaved, pandas.read_csv of an STPLS3D scene with the C engine and with the pyarrow engine
(multi-threaded: pyarrow's pool has as many threads as the process may use cores), and read_stpls3d_txt
(parse + validation) with each; checks that both engines give bit-identical float64 coordinates and the
same colours, labels and instances. Without --scene it writes a 500 m synthetic scene (about 2.3 M points)
to runs/bench/ first.
"""

import argparse
import statistics
import time
from pathlib import Path

import _bootstrap  # noqa: F401
import numpy as np
import pandas as pd
import pyarrow

import pointseg.io.stpls3d as stpls3d
from pointseg.data.synthetic_files import write_synthetic_scenes

ENGINES = ("c", "pyarrow")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scene", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    scene = Path(args.scene) if args.scene else Path("runs/bench/1_points_GTv3.txt")
    if not scene.exists():
        write_synthetic_scenes(scene.parent, [1])
    parse = {e: [] for e in ENGINES}
    read = {e: [] for e in ENGINES}
    scenes = {}
    for _ in range(args.repeats):
        for engine in ENGINES:
            t = time.perf_counter()
            frame = pd.read_csv(scene, header=None, engine=engine)
            parse[engine].append(time.perf_counter() - t)
            del frame
            stpls3d.CSV_ENGINE = engine
            t = time.perf_counter()
            scenes[engine] = stpls3d.read_stpls3d_txt(scene)
            read[engine].append(time.perf_counter() - t)
    a, b = scenes["c"], scenes["pyarrow"]
    same = (np.array_equal(a.xyz.view(np.int64), b.xyz.view(np.int64)) and np.array_equal(a.rgb, b.rgb)
            and np.array_equal(a.labels, b.labels) and np.array_equal(a.instance, b.instance))
    print(f"scene {scene}: {len(a):,} points, {scene.stat().st_size / 2**20:.0f} MiB; pyarrow {pyarrow.__version__} "
          f"with {pyarrow.cpu_count()} threads; results of the two engines bit-identical: {same}")
    for engine in ENGINES:
        print(f"{engine:>8}: read_csv median {statistics.median(parse[engine]):.3f} s (min {min(parse[engine]):.3f}); "
              f"read_stpls3d_txt median {statistics.median(read[engine]):.3f} s (min {min(read[engine]):.3f})")
    c, p = statistics.median(read["c"]), statistics.median(read["pyarrow"])
    print(f"read_stpls3d_txt pyarrow / c: {p / c:.2f} (medians), {min(read['pyarrow']) / min(read['c']):.2f} (minima)")


if __name__ == "__main__":
    main()
